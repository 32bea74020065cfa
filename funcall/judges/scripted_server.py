"""A real OpenAI-compatible chat-completions server on loopback whose replies are scripted.

Tests (and anyone trying the data pipeline without a GPU) point `judge=openai` at it: it speaks
`POST /v1/chat/completions` and `GET /v1/models` over real HTTP (stdlib `ThreadingHTTPServer`,
one thread per request, so slow replies overlap as they would on vLLM), and each reply is decided
by a script: a function of the request (its messages and how often the same request was seen
before) returning a `Reply`: content, HTTP status, a delay, or raw garbage bytes. The server
records every request it received and every one it answered, and the peak number in flight.

    python -m funcall.judges.scripted_server --port 8011   # a judge that passes everything

`pass_all` is that default script: `<judge>True</judge>` to every check, `<score>1.0</score>` to a
scoring request, and a `<think>` span plus the given calls to a request for reasoning.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    content: str | None = ""  # the assistant message text
    status: int = 200
    delay_s: float = 0.0  # sleep before answering (a slow server; the client may time out)
    raw_body: bytes | None = None  # send these bytes instead of a JSON completion (garbage)
    reasoning_content: str | None = None  # as vLLM's reasoning parser returns a model's thinking
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    body: dict
    seen: int  # how many earlier requests had the same messages and parameters

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages") or []

    @property
    def system(self) -> str:
        return "\n".join(m.get("content") or "" for m in self.messages if m.get("role") == "system")

    @property
    def user(self) -> str:
        return "\n".join(m.get("content") or "" for m in self.messages if m.get("role") == "user")

    @property
    def text(self) -> str:
        return "\n".join(m.get("content") or "" for m in self.messages)

    @property
    def key(self) -> str:
        return body_key(self.body)


def body_key(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


Script = Callable[[Request], Reply]


def pass_all(request: Request) -> Reply:
    """Every check passes; a reasoning request gets a short reasoning and the given calls."""
    text = request.text
    if "<score>" in text:
        return Reply("The calls match the reference. <score>1.0</score>")
    if "<judge>" in text:
        return Reply("Looks right. <judge>True</judge>")
    return Reply("<think>The request names the tool and gives every required argument; "
                 "each value is copied from the request.</think>\n\nDone.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once (the default backlog of 5 drops connections)


class ChatServer:
    """`with ChatServer(script) as server:` serves on `server.url` (`http://127.0.0.1:PORT/v1`)."""

    def __init__(self, script: Script = pass_all, host: str = "127.0.0.1", port: int = 0,
                 model: str = "scripted-judge"):
        self.script = script
        self.model = model
        self.requests: list[dict] = []  # every request body received, in arrival order
        self.answered: list[dict] = []  # bodies answered with HTTP 200 and a full reply
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_headers: list[str | None] = []
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ChatServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def count(self, predicate: Callable[[Request], bool] = lambda r: True, answered: bool = False) -> int:
        bodies = self.answered if answered else self.requests
        return sum(bool(predicate(Request(b, 0))) for b in list(bodies))

    # -- HTTP --------------------------------------------------------------------------------
    def _record(self, body: dict) -> Request:
        with self._lock:
            key = body_key(body)
            seen = self._seen.get(key, 0)
            self._seen[key] = seen + 1
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return Request(body, seen)

    def _completion(self, body: dict, reply: Reply) -> bytes:
        message = {"role": "assistant", "content": reply.content}
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        prompt_tokens = sum(len((m.get("content") or "").split()) for m in body.get("messages") or [])
        completion_tokens = len((reply.content or "").split())
        return json.dumps({
            "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }).encode()

    def _handler(self) -> type[_ChatHandler]:
        """The request-handler class `ThreadingHTTPServer` instantiates per request, bound to this server."""
        return type("Handler", (_ChatHandler,), {"chat_server": self})


class _ChatHandler(BaseHTTPRequestHandler):
    """HTTP for one `ChatServer` (``chat_server``, set by `ChatServer._handler` on a subclass):
    ``GET .../models`` lists its model; ``POST .../chat/completions`` is recorded, answered as the
    script says, and counted in flight until the reply is sent; any other path is a 404."""

    protocol_version = "HTTP/1.1"
    chat_server: ChatServer

    def log_message(self, *args) -> None:  # quiet
        return None

    def _send(self, status: int, payload: bytes, headers: dict | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [
                {"id": self.chat_server.model, "object": "model", "owned_by": "funcall"}]}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        body = self._chat_body()
        if body is None:
            return
        server = self.chat_server
        request = server._record(body)
        with server._lock:
            server.auth_headers.append(self.headers.get("Authorization"))
        try:
            self._answer(body, server.script(request))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out) before the reply
        finally:
            with server._lock:
                server.in_flight -= 1

    def _chat_body(self) -> dict | None:
        """The JSON body of a chat-completions request; None once a 404 (another path) or a 400
        (not JSON) is sent. The body is read in full either way, so the connection stays usable."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            self._send(400, b'{"error": {"message": "body is not JSON"}}')
            return None

    def _answer(self, body: dict, reply: Reply) -> None:
        """Send ``reply`` after its delay: its raw bytes, an OpenAI-style error, or a completion
        (only the last counts as answered)."""
        server = self.chat_server
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.raw_body is not None:
            self._send(reply.status, reply.raw_body, reply.headers, "application/json")
        elif reply.status != 200:
            error = {"error": {"message": reply.content or f"scripted HTTP {reply.status}",
                               "type": "scripted", "code": reply.status}}
            self._send(reply.status, json.dumps(error).encode(), reply.headers)
        else:
            self._send(200, server._completion(body, reply), reply.headers)
            with server._lock:
                server.answered.append(body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback chat-completions server that passes every check.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args(argv)
    server = ChatServer(pass_all, args.host, args.port)
    print(f"serving {server.url} (model {server.model!r}); Ctrl-C stops", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()


if __name__ == "__main__":
    main()
