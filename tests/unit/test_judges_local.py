"""The transformers judge with the offline tiny model: batched generation, context limits, and its
noise replies taking the unreadable path (never a crash)."""
from __future__ import annotations

import asyncio

import pytest

from funcall.judges.ask import ask
from funcall.judges.base import ChatRequest, Judge, JudgeError
from funcall.judges.local_judge import TransformersJudge
from funcall.judges.replies import parse_verdict


@pytest.fixture(scope="module")
def tiny_judge(tiny_model_dir):
    return TransformersJudge(model_path=str(tiny_model_dir), batch_size=4, device="cpu")


def request(text: str, **params) -> ChatRequest:
    return ChatRequest.of([{"role": "system", "content": "Reply <judge>True</judge>."}, {"role": "user", "content": text}],
                          **{"max_tokens": 8, **params})


def test_concurrent_requests_are_generated_in_batches(tiny_judge):
    assert isinstance(tiny_judge, Judge)
    before = tiny_judge.batches

    async def go():
        return await asyncio.gather(*[tiny_judge.complete(request(f"weather in city {i}")) for i in range(6)])

    replies = asyncio.run(go())
    assert len(replies) == 6 and all(isinstance(r.text, str) for r in replies)
    assert all(0 < r.completion_tokens <= 8 and r.prompt_tokens > 10 for r in replies)
    assert tiny_judge.batches - before == 2  # 6 requests, batch_size 4


def test_a_prompt_beyond_the_context_fails_that_request_only(tiny_judge):
    async def go():
        return await asyncio.gather(tiny_judge.complete(request("x " * 2000)), tiny_judge.complete(request("short")),
                                    return_exceptions=True)

    too_long, short = asyncio.run(go())
    assert isinstance(too_long, JudgeError) and too_long.kind == "prompt_too_long"
    assert not isinstance(short, Exception)


def test_noise_replies_are_retried_then_unreadable(tiny_judge):
    answer = asyncio.run(ask(tiny_judge, request("is this right?"), parse_verdict, attempts=2, retry_temperature=1.0))
    assert answer.error == "judge_unparseable" and "after 2 replies" in answer.detail
