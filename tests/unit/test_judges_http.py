"""The OpenAI-compatible judge against a real HTTP server on loopback with scripted replies:
retries, timeouts, garbage, fatal errors, concurrency, the key, the cache and `ask`."""
from __future__ import annotations

import asyncio
import time

import pytest

from funcall.judges.ask import ask
from funcall.judges.base import ChatRequest, JudgeError, JudgeUnavailable
from funcall.judges.cache import CachedJudge, ReplyCache
from funcall.judges.openai_judge import OpenAIJudge
from funcall.judges.replies import parse_verdict
from funcall.judges.scripted_server import ChatServer, Reply


def judge_for(server: ChatServer, **options) -> OpenAIJudge:
    settings = dict(api_key_env=None, timeout_s=2.0, max_retries=2, backoff_s=0.01, backoff_max_s=0.05)
    return OpenAIJudge(server.url, "judge-model", **{**settings, **options})


def question(text: str, **params) -> ChatRequest:
    return ChatRequest.of([{"role": "system", "content": "Check."}, {"role": "user", "content": text}], **params)


def complete(judge, request):
    async def go():
        try:
            return await judge.complete(request)
        finally:
            await judge.aclose()
    return asyncio.run(go())


def test_a_good_reply_with_usage_and_the_request_as_sent():
    with ChatServer(lambda r: Reply("fine <judge>True</judge>")) as server:
        judge = judge_for(server)
        reply = complete(judge, question("q1", max_tokens=77, temperature=0.3, seed=5))
    assert reply.text == "fine <judge>True</judge>" and reply.completion_tokens == 2 and reply.prompt_tokens == 2
    body = server.requests[0]
    assert body["model"] == "judge-model" and body["max_tokens"] == 77 and body["temperature"] == 0.3 and body["seed"] == 5
    assert body["messages"][1] == {"role": "user", "content": "q1"}
    assert judge.stats.sent == judge.stats.answered == 1 and judge.stats.http_retries == 0


def test_http_500s_are_retried_with_backoff_then_answered():
    script = lambda r: Reply(status=500) if r.seen < 2 else Reply("<judge>True</judge>")  # noqa: E731
    with ChatServer(script) as server:
        judge = judge_for(server)
        reply = complete(judge, question("q"))
    assert reply.text == "<judge>True</judge>" and len(server.requests) == 3
    assert judge.stats.http_retries == 2 and judge.stats.retried == {"http_500": 2} and judge.stats.failures == 0


def test_a_slow_reply_times_out_and_the_retry_is_answered():
    script = lambda r: Reply("late", delay_s=5.0) if r.seen == 0 else Reply("<judge>False</judge>")  # noqa: E731
    with ChatServer(script) as server:
        judge = judge_for(server, timeout_s=0.5, max_retries=4)
        t0 = time.time()
        reply = complete(judge, question("q"))
    assert reply.text == "<judge>False</judge>" and time.time() - t0 < 4.0  # not held for the slow reply
    assert judge.stats.retried["timeout"] >= 1 and judge.stats.failures == 0


@pytest.mark.parametrize("reply,kind", [
    (Reply(status=503), "http_503"),
    (Reply(raw_body=b"<html>gateway error</html>"), "bad_response"),
    (Reply(raw_body=b'{"object": "chat.completion", "choices": []}'), "bad_response"),
])
def test_persistent_failures_fail_the_request_not_the_caller(reply, kind):
    with ChatServer(lambda r: reply) as server:
        judge = judge_for(server, max_retries=1)
        with pytest.raises(JudgeError) as err:
            complete(judge, question("q"))
    assert err.value.kind == kind and len(server.requests) == 2
    assert judge.stats.failures == 1 and judge.stats.errors == {kind: 1}


def test_a_bad_request_is_not_retried():
    with ChatServer(lambda r: Reply("prompt is longer than the context", status=400)) as server:
        judge = judge_for(server)
        with pytest.raises(JudgeError, match="longer than the context") as err:
            complete(judge, question("q"))
    assert err.value.kind == "http_400" and len(server.requests) == 1


@pytest.mark.parametrize("status,needle", [(401, "refused"), (403, "refused"), (404, "judge.model")])
def test_a_refused_key_or_unknown_model_stops_everything(status, needle):
    with ChatServer(lambda r: Reply(status=status)) as server, pytest.raises(JudgeUnavailable, match=needle):
        complete(judge_for(server), question("q"))
    assert len(server.requests) == 1


def test_consecutive_failures_mean_the_server_is_down():
    async def go(judge):
        outcomes = []
        for i in range(5):
            try:
                await judge.complete(question(f"q{i}"))
                outcomes.append("ok")
            except JudgeError:
                outcomes.append("error")
            except JudgeUnavailable as exc:
                outcomes.append(f"stop: {exc}")
                break
        return outcomes

    with ChatServer(lambda r: Reply(status=502)) as server:
        outcomes = asyncio.run(go(judge_for(server, max_retries=0, max_consecutive_failures=3)))
    assert outcomes[:2] == ["error", "error"] and outcomes[2].startswith("stop") and "3 requests in a row" in outcomes[2]


def test_the_key_comes_from_the_named_variable_and_is_never_shown(monkeypatch):
    monkeypatch.setenv("FUNCALL_TEST_JUDGE_KEY", "sk-secret-123")
    with ChatServer(lambda r: Reply(status=401)) as server:
        judge = judge_for(server, api_key_env="FUNCALL_TEST_JUDGE_KEY")
        with pytest.raises(JudgeUnavailable) as err:
            complete(judge, question("q"))
    assert server.auth_headers == ["Bearer sk-secret-123"]
    assert "sk-secret" not in str(err.value) and "sk-secret" not in repr(judge)
    assert "$FUNCALL_TEST_JUDGE_KEY" in str(err.value)


def test_concurrency_is_bounded():
    async def go(judge):
        return await asyncio.gather(*[judge.complete(question(f"q{i}")) for i in range(12)])

    with ChatServer(lambda r: Reply("<judge>True</judge>", delay_s=0.1)) as server:
        replies = asyncio.run(go(judge_for(server, concurrency=3)))
    assert len(replies) == 12 and len(server.requests) == 12
    assert server.max_in_flight == 3


def test_extra_body_from_the_config_is_sent():
    from omegaconf import OmegaConf

    extra = OmegaConf.create({"chat_template_kwargs": {"enable_thinking": False}, "stop": ["</judge>"]})
    with ChatServer(lambda r: Reply("<judge>True</judge>")) as server:
        complete(judge_for(server, extra_body=extra, token_limit_field="max_completion_tokens"), question("q", max_tokens=9))
    body = server.requests[0]
    assert body["chat_template_kwargs"] == {"enable_thinking": False} and body["stop"] == ["</judge>"]
    assert body["max_completion_tokens"] == 9 and "max_tokens" not in body


def test_reasoning_content_comes_back_as_a_think_span():
    with ChatServer(lambda r: Reply("<judge>True</judge>", reasoning_content="weighing it up")) as server:
        reply = complete(judge_for(server), question("q"))
    assert reply.text == "<think>weighing it up</think><judge>True</judge>"


def test_cache_answers_repeats_and_survives_a_new_process(tmp_path):
    async def go(judge, texts):
        try:
            return [(await judge.complete(question(t))).text for t in texts]
        finally:
            await judge.aclose()

    with ChatServer(lambda r: Reply(f"<judge>True</judge> {r.user}")) as server:
        cache = ReplyCache(tmp_path / "cache.sqlite")
        first = CachedJudge(judge_for(server), cache)
        assert asyncio.run(go(first, ["a", "b", "a"])) == ["<judge>True</judge> a", "<judge>True</judge> b", "<judge>True</judge> a"]
        assert len(server.requests) == 2 and first.stats.cache_hits == 1 and first.stats.requests == 3
        cache.close()
        second = CachedJudge(judge_for(server), ReplyCache(tmp_path / "cache.sqlite"))  # as a resumed run would
        assert asyncio.run(go(second, ["b", "a", "c"]))[2] == "<judge>True</judge> c"
        assert len(server.requests) == 3 and second.stats.cache_hits == 2
        assert second.stats.prompt_tokens == 2  # tokens are counted for requests the server answered
    other_model = ChatRequest.of([{"role": "user", "content": "a"}]).key("other")
    assert other_model != ChatRequest.of([{"role": "user", "content": "a"}]).key("judge-model")


def test_ask_retries_unreadable_replies_with_new_requests_then_gives_up(tmp_path):
    def script(r):
        if "flaky" in r.user:
            return Reply("hmm") if r.body.get("seed") is None else Reply("<judge>False</judge>")
        return Reply("no idea")

    async def go(judge):
        try:
            flaky = await ask(judge, question("flaky"), parse_verdict, attempts=3, retry_temperature=0.7)
            hopeless = await ask(judge, question("hopeless"), parse_verdict, attempts=3, retry_temperature=0.7)
            return flaky, hopeless
        finally:
            await judge.aclose()

    with ChatServer(script) as server:
        judge = CachedJudge(judge_for(server), ReplyCache(tmp_path / "c.sqlite"))
        flaky, hopeless = asyncio.run(go(judge))
    assert flaky.ok and flaky.value.ok is False
    retry = server.requests[1]
    assert retry["temperature"] == 0.7 and retry["seed"] == 1  # a different request, not the cached reply again
    assert hopeless.error == "judge_unparseable" and "after 3 replies" in hopeless.detail and "no idea" in hopeless.detail
    assert len(server.requests) == 2 + 3 and judge.stats.unparseable == 1 + 3


def test_ask_reports_a_failed_request_as_a_value():
    async def go(judge):
        try:
            return await ask(judge, question("q"), parse_verdict)
        finally:
            await judge.aclose()

    with ChatServer(lambda r: Reply(status=500)) as server:
        answer = asyncio.run(go(judge_for(server, max_retries=1)))
    assert answer.error == "judge_error" and answer.detail.startswith("http_500")
