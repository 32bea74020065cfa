"""The LLM stage's decisions with a test double of the `Judge` Protocol (no HTTP): which checks are
asked, regeneration and what it resets, and the pipeline's handling of a stage that raises."""
from __future__ import annotations

import asyncio

import pytest

from funcall.data.schema import Example
from funcall.judges.base import ChatRequest, Completion, Judge, JudgeStats, JudgeUnavailable
from funcall.judges.prompts import TITLES
from funcall.prepare.pipeline import Pipeline, tally
from funcall.prepare.samples import Rejection, Sample
from funcall.prepare.stages import ASTStage, LLMOptions, LLMStage

TASK_OF_TITLE = {title: task for task, title in TITLES.items()}
TOOLS = [{"name": "f", "parameters": {"type": "dict", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
          "description": ""}]


class ScriptedJudge:
    """Replies from a function of (task, user text); records the tasks asked."""

    def __init__(self, reply):
        self.reply = reply
        self.model_id = "double"
        self.stats = JudgeStats()
        self.asked: list[str] = []

    async def complete(self, request: ChatRequest) -> Completion:
        task = TASK_OF_TITLE[request.messages[0][1].splitlines()[0]]
        self.asked.append(task)
        return Completion(self.reply(task, request.messages[1][1]))

    async def aclose(self) -> None:
        return None


def sample(calls, reasoning=None, category="live_simple") -> Sample:
    example = Example("s1", TOOLS, [{"role": "user", "content": "f of 2"}], calls, reasoning, category,
                      possible_answer=[{"f": {"x": [1]}}])
    return Sample(0, "here", example, reasoning_source="input" if reasoning else None)


def run_stage(judge, s: Sample, **options):
    return asyncio.run(LLMStage(judge, LLMOptions(**options)).run(s))


def passing(task, user):
    return "<think>x is 2.</think>" if task == "teacher" else "<judge>True</judge>"


def test_the_double_is_a_judge():
    assert isinstance(ScriptedJudge(passing), Judge)


def test_a_no_call_sample_is_kept_without_asking():
    judge = ScriptedJudge(passing)
    result = run_stage(judge, sample([]))
    assert isinstance(result, Sample) and judge.asked == [] and result.notes == ["llm:no_call_kept"]


def test_a_sound_sample_asks_checks_2_4_then_teacher_then_3():
    judge = ScriptedJudge(passing)
    result = run_stage(judge, sample([{"name": "f", "arguments": {"x": 2}}]))
    assert judge.asked == ["query_tools", "calls", "teacher", "reasoning"]  # format: our rendering, not asked
    assert result.example.reasoning == "x is 2." and result.reasoning_source == "teacher"


def test_an_unreadable_answer_no_check_rewrites_is_left_for_the_ast_stage():
    judge = ScriptedJudge(passing)
    s = sample([])
    s.answer_error, s.raw_answer = "answers is not valid JSON", '[{"name": "f", "arguments": {'
    result = run_stage(judge, s)
    assert isinstance(result, Sample) and judge.asked == ["query_tools", "calls", "format"]  # no teacher for it
    assert asyncio.run(ASTStage().run(result)).reason == "unparseable_answer"


def test_checks_can_be_switched_off():
    judge = ScriptedJudge(passing)
    run_stage(judge, sample([{"name": "f", "arguments": {"x": 2}}]), checks=("calls",), generate_reasoning=False)
    assert judge.asked == ["calls"]


def test_regeneration_replaces_calls_reasoning_category_and_ground_truth():
    def reply(task, user):
        if task == "calls" and "f(x=1)" in user:
            return "<judge>False</judge><NewFC>[f(x=2), f(x=3)]</NewFC>"
        return passing(task, user)

    judge = ScriptedJudge(reply)
    result = run_stage(judge, sample([{"name": "f", "arguments": {"x": 1}}], reasoning="x is 1."))
    ex = result.example
    assert ex.calls == [{"name": "f", "arguments": {"x": 2}}, {"name": "f", "arguments": {"x": 3}}]
    assert ex.reasoning == "x is 2." and result.reasoning_source == "teacher"  # the old reasoning argued for x=1
    assert ex.category == "live_parallel" and ex.possible_answer is None and result.regenerated == 1
    assert judge.asked == ["query_tools", "calls", "calls", "teacher", "reasoning"]


@pytest.mark.parametrize("rounds,outcome", [(0, "calls_failed"), (1, "kept")])
def test_max_rounds_zero_means_no_regeneration(rounds, outcome):
    def reply(task, user):
        if task == "calls" and "f(x=1)" in user:
            return "<judge>False</judge><NewFC>[f(x=2)]</NewFC>"
        return passing(task, user)

    result = run_stage(ScriptedJudge(reply), sample([{"name": "f", "arguments": {"x": 1}}]), max_rounds=rounds)
    assert (result.reason if isinstance(result, Rejection) else "kept") == outcome


def test_pipeline_turns_a_surprise_into_an_internal_error_and_stops_on_user_errors():
    class Exploding:
        name = "boom"

        async def run(self, s):
            raise KeyError("surprise")

    class Refusing:
        name = "llm"

        async def run(self, s):
            raise JudgeUnavailable("judge refused the key")

    samples = [sample([{"name": "f", "arguments": {"x": 2}}])]
    results = asyncio.run(Pipeline([ASTStage(), Exploding()]).run(samples))
    assert isinstance(results[0], Rejection) and results[0].stage == "boom" and results[0].reason == "internal_error"
    assert tally(["ast", "boom"], [], 1, results)["boom"] == {"in": 1, "passed": 0, "rejected": {"internal_error": 1}, "notes": {}}
    with pytest.raises(JudgeUnavailable):
        asyncio.run(Pipeline([Refusing()]).run([sample([{"name": "f", "arguments": {"x": 2}}])]))
