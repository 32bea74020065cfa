"""The pipeline's stages: `LLMStage` (FunReason's judged checks, teacher reasoning, regeneration)
and `ASTStage` (the calls against the tool schemas). A stage takes a `Sample` and returns it
(possibly changed) or a `Rejection`; it never raises for anything a judge or a data row can do.

LLMStage, per sample, in this order:
  check 1  response identification, read from the data rather than asked: a sample whose reference
           answer is "no call" (an empty call list) is kept as is and skips the other checks;
  check 2  query and tools (judged): can the tools serve the request, can each argument value be
           derived from it? no -> rejected (`query_tools_failed`);
  check 4  functions and arguments (judged): no -> the judge's `<NewFC>` correction replaces the calls
           and the checks are asked again, up to `max_rounds` regenerations (`calls_failed` after that,
           or at once when the judge gives no readable, different correction);
  check 5  format (judged), the same way (`format_failed`). It is asked only of an answer that did not
           parse as given: a parsed answer is shown to the judge rendered by us, in the required format
           by construction, so asking would only spend a request. An answer that still does not parse
           after checks 4-5 goes on as it is (no reasoning is written for it): the AST stage rejects it;
  reasoning  a sample without reasoning, or whose calls were regenerated (its reasoning argued for the
           old calls), gets reasoning from the teacher model: the content of its `<think>` span;
  check 3  reasoning (judged): does it lead to the answer? no -> rejected (`reasoning_failed`).
The checks of the answer run before the reasoning is written and judged, which differs from
generating reasoning first: the reasoning is then written and checked for the answer that will be
trained on, and nothing is spent on reasoning for samples checks 2 and 4 drop.
A judge that cannot be read after `attempts` replies, or fails at the transport level, rejects the
sample (`judge_unparseable`, `judge_error`) with the request named in the detail; a rerun re-asks
failed requests (they are not cached) and replays the rest from the cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from funcall.data.schema import infer_category
from funcall.judges import prompts
from funcall.judges.ask import Answer, ask
from funcall.judges.base import ChatRequest, Judge
from funcall.judges.replies import parse_reasoning, parse_verdict
from funcall.prepare.ast_validate import validate_calls
from funcall.prepare.samples import Rejection, Sample


class Stage(Protocol):
    name: str

    async def run(self, sample: Sample) -> Sample | Rejection: ...


def reject(sample: Sample, stage: str, reason: str, detail: str = "") -> Rejection:
    return Rejection(sample.index, sample.id, stage, reason, detail, tuple(sample.notes))


class ASTStage:
    def __init__(self, name: str = "ast"):
        self.name = name

    async def run(self, sample: Sample) -> Sample | Rejection:
        if sample.answer_error is not None:
            return reject(sample, self.name, "unparseable_answer", sample.answer_error)
        problem = validate_calls(sample.example.calls, sample.example.tools)
        if problem is not None:
            return reject(sample, self.name, problem.reason, problem.detail)
        return sample


@dataclass
class LLMOptions:
    checks: tuple[str, ...] = prompts.CHECKS  # which judged checks run (query_tools, reasoning, calls, format)
    max_rounds: int = 2  # regenerations allowed for checks 4-5
    generate_reasoning: bool = True  # ask the teacher for missing reasoning
    attempts: int = 3  # replies asked per question before it counts as unreadable
    retry_temperature: float = 0.7  # sampling temperature of those repeated asks
    max_tokens: int = 1024  # reply budget of a check
    temperature: float = 0.0  # sampling temperature of a check's first ask
    teacher_max_tokens: int = 1024  # reply budget of the teacher
    teacher_temperature: float = 0.0  # sampling temperature of the teacher's first ask

    def __post_init__(self) -> None:
        unknown = [c for c in self.checks if c not in prompts.CHECKS]
        if unknown:
            from funcall.utils.errors import ConfigError

            raise ConfigError(f"pipeline.checks: unknown {unknown}; choose from {list(prompts.CHECKS)}")
        self.checks = tuple(self.checks)


class _Failed(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class LLMStage:
    def __init__(self, judge: Judge, options: LLMOptions | None = None, name: str = "llm"):
        self.judge = judge
        self.options = options or LLMOptions()
        self.name = name

    async def run(self, sample: Sample) -> Sample | Rejection:
        try:
            return await self._run(sample)
        except _Failed as failed:
            return reject(sample, self.name, failed.reason, failed.detail)

    async def _ask(self, what: str, messages: list[dict], parse, max_tokens: int, temperature: float):
        o = self.options
        answer: Answer = await ask(self.judge, ChatRequest.of(messages, max_tokens=max_tokens, temperature=temperature),
                                   parse, o.attempts, o.retry_temperature)
        if not answer.ok:
            raise _Failed(answer.error, f"{what}: {answer.detail}")
        return answer.value

    async def _check(self, check: str, sample: Sample, calls: list[dict] | None, raw: str | None):
        ex = sample.example
        messages = prompts.check_messages(check, ex.tools, ex.messages, calls, raw, ex.reasoning)
        return await self._ask(f"check {check}", messages, parse_verdict, self.options.max_tokens, self.options.temperature)

    async def _run(self, sample: Sample) -> Sample:
        o, ex = self.options, sample.example
        if sample.answer_error is None and not ex.calls:  # check 1: not a function call: kept as is
            sample.notes.append(f"{self.name}:no_call_kept")
            return sample
        calls = None if sample.answer_error is not None else ex.calls
        if "query_tools" in o.checks:
            verdict = await self._check("query_tools", sample, calls, sample.raw_answer)
            if not verdict.ok:
                raise _Failed("query_tools_failed", "the judge found the request not solvable with these tools")
        calls = await self._fix_calls(sample, calls)
        if calls is None:  # still unreadable and no check rewrote it: nothing to reason towards (AST rejects it)
            return sample
        if sample.regenerated:
            self._replace_calls(sample, calls)
            sample.notes.append(f"{self.name}:calls_regenerated")
        if o.generate_reasoning and (ex.reasoning is None or sample.regenerated):
            reasoning = await self._ask("teacher", prompts.teacher_messages(ex.tools, ex.messages, ex.calls),
                                        parse_reasoning, o.teacher_max_tokens, o.teacher_temperature)
            ex.reasoning, sample.reasoning_source = reasoning, "teacher"
            sample.notes.append(f"{self.name}:reasoning_generated")
        if "reasoning" in o.checks and ex.reasoning is not None:
            verdict = await self._check("reasoning", sample, ex.calls, None)
            if not verdict.ok:
                raise _Failed("reasoning_failed", "the judge found the reasoning does not lead to the answer")
        return sample

    async def _fix_calls(self, sample: Sample, calls: list[dict] | None) -> list[dict] | None:
        """Checks 4-5 with regeneration; returns the calls that passed (None: the answer as given
        did not parse and no check asked to rewrite it)."""
        o = self.options
        for round_ in range(o.max_rounds + 1):
            changed = False
            for check in ("calls", "format"):
                if check not in o.checks or (check == "format" and calls is not None):
                    continue
                verdict = await self._check(check, sample, calls, sample.raw_answer if calls is None else None)
                if verdict.ok:
                    continue
                if round_ == o.max_rounds:
                    raise _Failed(f"{check}_failed", f"check {check} still failing after {o.max_rounds} regeneration round(s)")
                if verdict.new_calls is None:
                    why = verdict.new_calls_error or "no <NewFC> correction"
                    raise _Failed(f"{check}_failed", f"check {check} failed and the judge gave no usable correction ({why})")
                if verdict.new_calls == calls:
                    raise _Failed(f"{check}_failed", f"check {check} failed and the correction repeats the answer")
                calls, changed = verdict.new_calls, True
                sample.regenerated += 1
                break
            if not changed:
                break
        return calls

    @staticmethod
    def _replace_calls(sample: Sample, calls: list[dict]) -> None:
        ex = sample.example
        ex.calls = calls
        sample.answer_error, sample.raw_answer = None, None
        if sample.reasoning_source == "input":
            sample.reasoning_source = None  # argued for the old calls: rewritten below
            ex.reasoning = None
        category = infer_category(len(calls), len(ex.tools))
        if ex.category.startswith("live_") and category != "irrelevance":
            category = "live_" + {"simple_python": "simple"}.get(category, category)
        ex.category = category
        ex.possible_answer = None  # derived from the new calls (Example.ground_truth)
