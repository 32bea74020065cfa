"""Environments in a child process, so that no call can hold the caller up for long.

A call dispatched to a legitimate method can still run away inside C code (``power(base=2**62,
exponent=2**62)``, ``square_root(number=2, precision=10**9)``), where no signal reaches it.
`EnvPool` therefore hosts the episodes' `BFCLEnvironment` objects in one child process
(``python -m funcall.envs.worker``: a fresh interpreter that imports no torch, with an address
space limit) and sends it one request per call. A request that takes longer than ``timeout_s``
kills the child; a new one is started, every open episode is rebuilt by replaying its calls (the
environments are deterministic), and the call that hung gets the result ``"Error during
execution: timed out after N s"``. The child speaks length-prefixed pickles over its stdin and
stdout; it is our own code, and model output only ever travels through it as strings.

`RemoteEnvironment` is the parent-side handle of one episode: a `funcall.envs.base.Environment`.
"""
from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
from typing import Any

from funcall.envs.bfcl_env import ERROR

_HEADER = struct.Struct("!Q")


def _write(stream, message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:  # a raw pipe may take part of it
        data = data[stream.write(data):]
    stream.flush()


def _read_exact(stream, n: int) -> bytes:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("the environment process closed its pipe")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read(stream) -> Any:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    return pickle.loads(_read_exact(stream, size))


class EnvPool:
    def __init__(self, timeout_s: float = 10.0, memory_mb: int = 4096, env: dict[str, str] | None = None):
        self.timeout_s = float(timeout_s)
        self.env = dict(env or {})  # extra environment variables of the child (the memory_vector model)
        self.memory_mb = int(memory_mb)
        self.process: subprocess.Popen | None = None
        self.episodes: dict[int, tuple[dict, list[str]]] = {}  # id -> (entry, calls answered so far)
        self.next_id = 0
        self.restarts = 0

    # -- the child -------------------------------------------------------------------------------
    def _start(self) -> None:
        env = {**os.environ, **self.env, "FUNCALL_ENV_MEMORY_MB": str(self.memory_mb), "PYTHONDONTWRITEBYTECODE": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "funcall.envs.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env, bufsize=0)

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _send(self, request: tuple, timeout_s: float | None) -> tuple[bool, Any]:
        """(answered, reply); on a timeout or a dead child, the child is gone afterwards."""
        if self.process is None:
            self._start()
        try:
            _write(self.process.stdin, request)
            ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
            if not ready:
                self._kill()
                return False, f"timed out after {timeout_s:g} s"
            status, reply = _read(self.process.stdout)
        except (EOFError, BrokenPipeError, OSError) as exc:
            self._kill()
            return False, f"the environment process died ({exc})"
        if status == "raise":
            raise RuntimeError(f"environment process: {reply}")
        return True, reply

    def _request(self, request: tuple) -> Any:
        answered, reply = self._send(request, self.timeout_s)
        if answered:
            return reply
        self.restarts += 1
        self._replay()
        return reply

    def _replay(self) -> None:
        for episode, (entry, calls) in self.episodes.items():
            self._must(("reset", episode, entry))
            for call in calls:
                self._must(("execute", episode, call))

    def _must(self, request: tuple) -> Any:
        answered, reply = self._send(request, 10 * self.timeout_s)
        if not answered:
            raise RuntimeError(f"environment process: replaying {request[0]} failed: {reply}")
        return reply

    # -- episodes --------------------------------------------------------------------------------
    def open(self) -> RemoteEnvironment:
        self.next_id += 1
        return RemoteEnvironment(self, self.next_id)

    def close(self) -> None:
        self.episodes.clear()
        if self.process is not None:
            try:
                _write(self.process.stdin, ("quit", 0, None))
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RemoteEnvironment:
    """One episode in an `EnvPool`'s child process; `funcall.envs.base.Environment`."""

    def __init__(self, pool: EnvPool, episode: int):
        self.pool, self.episode = pool, episode

    def reset(self, entry: dict) -> list[dict]:
        self.pool.episodes[self.episode] = (entry, [])
        return self.pool._must(("reset", self.episode, entry))

    def tools(self, turn: int) -> list[dict]:
        return self.pool._must(("tools", self.episode, turn))

    def execute(self, calls: list[str]) -> list[str]:
        results = []
        for call in calls:
            reply = self.pool._request(("execute", self.episode, call))
            if isinstance(reply, tuple) and reply and reply[0] == "result":
                self.pool.episodes[self.episode][1].append(call)
                results.append(reply[1])
            else:  # the call hung or killed the process: an error result, not part of the replayed history
                results.append(f"{ERROR}{reply}")
        return results

    def state(self) -> dict[str, dict[str, Any]]:
        return self.pool._must(("state", self.episode, None))

    def close(self) -> None:
        if self.pool.episodes.pop(self.episode, None) is not None and self.pool.process is not None:
            self.pool._must(("close", self.episode, None))


def _serve() -> None:
    """The child's loop: requests on stdin, replies on stdout."""
    import resource

    from funcall.envs.bfcl_env import BFCLEnvironment
    from funcall.envs.memory_env import MemoryEnvironment, is_memory_entry

    limit = int(os.environ.get("FUNCALL_ENV_MEMORY_MB", "4096")) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print inside an environment must not corrupt the channel
    envs: dict[int, BFCLEnvironment] = {}
    while True:
        try:
            op, episode, payload = _read(stdin)
        except EOFError:
            return
        try:
            if op == "quit":
                return
            if op == "reset":
                envs[episode] = MemoryEnvironment() if is_memory_entry(payload) else BFCLEnvironment()
                reply = envs[episode].reset(payload)
            elif op == "execute":
                reply = ("result", envs[episode].run(payload))
            elif op == "tools":
                reply = envs[episode].tools(payload)
            elif op == "state":
                reply = envs[episode].state()
            elif op == "close":
                reply = envs.pop(episode, None) is not None
            else:
                raise ValueError(f"unknown request {op!r}")
            _write(stdout, ("ok", reply))
        except MemoryError:
            _write(stdout, ("ok", ("error", "out of memory")))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            _write(stdout, ("raise", f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    _serve()
