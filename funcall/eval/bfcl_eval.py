"""BFCL v4 single-turn evaluation: prompts -> greedy answers -> decode -> BFCL checker -> scores.

`BFCLEval` is the ``eval=bfcl`` task of ``python -m funcall.evaluate`` and knows nothing of Hydra,
DeepSpeed or W&B: it takes any engine with ``generate(prompts_token_ids, max_new_tokens=...,
greedy=True) -> completion_token_ids`` (`funcall.rollout.hf.HFEngine`, or a test double).

How it differs from the obvious loop:
* Each rank generates its share in batches sorted by prompt length (little padding), one engine
  call per batch so rank 0 can show a progress bar, every rank making the same calls, which
  ZeRO-3 needs (`funcall.eval.task.generate_in_step`).
* A prompt longer than the model's context (minus the answer budget; or ``max_prompt_tokens``)
  is not generated and not graded: its row is ``not_run`` (``error_type``
  ``not_run:prompt_too_long``, valid False) and it counts as wrong everywhere. BFCL would score
  the empty answer of an overflow, which is right in the irrelevance categories (no call is the
  right answer there): a model with too short a context would score 100% on irrelevance without
  answering anything. The count is reported per category (`funcall.eval.bfcl_report`).
* The answer is decoded by answer format (``decode: format``): ``python`` is BFCL's prompting
  output, ``think_answer``/``funreason`` drop the reasoning first, ``hermes``/``openai`` read
  JSON tool calls; the same functions compute the training reward (funcall.rewards.ast_match),
  so a trained format is scored the way it was rewarded. ``decode: raw`` hands the whole text to
  BFCL's prompting decoder, as BFCL itself would.
* Grading never raises on model output: a checker error marks that entry wrong.
* Each row says whether its answer parsed in the answer format (``parse``: ``calls``, ``no_call``
  or ``unparseable``, `funcall.calls.parse_stats`; None when not run), whatever ``decode`` is, so
  a score made of answers that never parsed shows as ``unparseable`` in the scores.
Scoring is `funcall.bfcl.scores.summarize` (the papers' Non-Live AST / Live / Overall);
files and the printed table are in `funcall.eval.bfcl_report`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES, Verdict, check
from funcall.bfcl.decode import decode_completion, decode_text
from funcall.calls.formats import FORMATS, parse_completion
from funcall.calls.parse_stats import outcome
from funcall.data.bfcl_source import load_bfcl_examples
from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.data.template_roles import check_template
from funcall.dist import shard
from funcall.eval.bfcl_prompt import language_notes
from funcall.eval.bfcl_report import NOT_RUN, jsonable, write_report
from funcall.eval.task import Report, generate_in_step
from funcall.utils.errors import ConfigError, DataError

DECODE_MODES = ("format", "raw")


class BFCLEval:
    name = "bfcl"

    def __init__(self, data_dir: str | None = None, categories: list[str] | tuple[str, ...] = SINGLE_TURN_CATEGORIES,
                 limit: int | None = None, batch_size: int = 16, max_new_tokens: int = 512,
                 max_prompt_tokens: int | None = None, prompt: PromptStyle | None = None, decode: str = "format",
                 language_notes: bool = True, table_rows: int = 200):
        self.data_dir = data_dir
        self.categories = list(dict.fromkeys(categories or []))  # keep the order, drop repeats
        self.limit = limit
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.max_prompt_tokens = max_prompt_tokens
        self.style = prompt or PromptStyle(answer_format="python", tool_style="json")
        self.decode = decode
        self.language_notes = language_notes
        self.table_rows = table_rows
        self.examples: list[Example] = []

    # -- config and data ------------------------------------------------------------------------
    def validate(self) -> None:
        if self.data_dir in (None, ""):
            raise ConfigError("eval.data_dir is not set and no installed bfcl_eval package holds the data: pass "
                              "eval.data_dir=DIR (the folder with BFCL_v4_*.json and possible_answer/)")
        if not Path(self.data_dir).is_dir():
            raise ConfigError(f"eval.data_dir={self.data_dir}: no such directory")
        unknown = [c for c in self.categories if c not in SINGLE_TURN_CATEGORIES]
        if unknown or not self.categories:
            what = f"unknown category {unknown[0]!r}" if unknown else "no category given"
            raise ConfigError(f"eval.categories: {what}; choose from {', '.join(SINGLE_TURN_CATEGORIES)}")
        if self.limit is not None and int(self.limit) < 1:
            raise ConfigError(f"eval.limit must be a positive number of entries per category or null, got {self.limit}")
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ConfigError("eval.batch_size and eval.max_new_tokens must be at least 1")
        if self.max_prompt_tokens is not None and int(self.max_prompt_tokens) < 1:
            raise ConfigError(f"eval.max_prompt_tokens must be positive or null, got {self.max_prompt_tokens}")
        if self.decode not in DECODE_MODES:
            raise ConfigError(f"eval.decode must be one of {', '.join(DECODE_MODES)}, got {self.decode!r}")
        if self.style.answer_format not in FORMATS:
            raise ConfigError(f"eval.prompt.answer_format must be one of {', '.join(FORMATS)}, "
                              f"got {self.style.answer_format!r}")

    def load(self) -> int:
        self.validate()
        try:
            self.examples = load_bfcl_examples(self.data_dir, self.categories,
                                               None if self.limit is None else int(self.limit))
        except (KeyError, TypeError, IndexError) as exc:
            raise DataError(f"eval.data_dir={self.data_dir}: an entry lacks a field BFCL files have ({exc!r})") from None
        return len(self.examples)

    # -- prompts, generation, grading -----------------------------------------------------------
    def encode(self, tokenizer, example: Example) -> list[int]:
        if self.language_notes:
            example = dataclasses.replace(example, tools=language_notes(example.tools, example.category))
        return self.style.prompt_ids(tokenizer, example)

    def prompt_limit(self, context_length: int | None) -> int | None:
        if self.max_prompt_tokens is not None:
            return int(self.max_prompt_tokens)
        return context_length - self.max_new_tokens if context_length else None

    def run(self, engine, tokenizer, dist, context_length: int | None = None, progress=None) -> list[dict]:
        check_template(tokenizer, self.style, multi_turn=False, option="eval.prompt")  # a refused role: one line, not a Jinja traceback
        indices = shard(len(self.examples), dist.rank, dist.world_size)
        prompts = [self.encode(tokenizer, self.examples[i]) for i in indices]
        limit = self.prompt_limit(context_length)
        fits = [k for k, p in enumerate(prompts) if limit is None or len(p) <= limit]
        outputs: list[list[int] | None] = [None for _ in prompts]  # None: not run (over the limit)
        completions = generate_in_step(engine, [prompts[k] for k in fits], batch_size=self.batch_size,
                                       max_new_tokens=self.max_new_tokens, progress=progress)
        for k, ids in zip(fits, completions):
            outputs[k] = ids
        if progress is not None:
            progress.update(len(prompts) - len(fits))
        rows = []
        for k, index in enumerate(indices):
            ids = outputs[k]
            if ids is None:
                row = self.not_run(self.examples[index], len(prompts[k]), limit)
            else:
                row = self.grade(self.examples[index], tokenizer.decode(ids, skip_special_tokens=True) if ids else "")
            row.update(index=index, prompt_tokens=len(prompts[k]), completion_tokens=len(ids or []),
                       prompt_too_long=ids is None, hit_max_new_tokens=len(ids or []) >= self.max_new_tokens)
            rows.append(row)
        return rows

    @staticmethod
    def not_run(example: Example, prompt_tokens: int, limit: int) -> dict[str, Any]:
        """The row of an entry whose prompt was over the limit: never generated nor graded, wrong."""
        return {"id": example.id, "category": example.category, "valid": False, "error_type": NOT_RUN,
                "error": [f"the prompt has {prompt_tokens} tokens, over the prompt limit of {limit}"],
                "completion": "", "decoded": None, "format_ok": False, "parse_error": None, "parse": None, "not_run": True}

    def grade(self, example: Example, text: str) -> dict[str, Any]:
        """Decode one completion as the config says and check it; never raises on model output."""
        category = example.category
        parsed = parse_completion(text, self.style.answer_format)
        try:
            decoded = decode_text(text, category) if self.decode == "raw" else decode_completion(
                parsed, self.style.answer_format, category)
            verdict = check(category, example.tools, example.ground_truth(), decoded)
        except Exception as exc:  # noqa: BLE001 - one odd entry must not end a long evaluation
            decoded, verdict = None, Verdict(False, "checker_exception", [f"{type(exc).__name__}: {exc}"])
        return {"id": example.id, "category": category, "valid": bool(verdict.valid),
                "error_type": verdict.error_type, "error": jsonable(verdict.error), "completion": text,
                "decoded": jsonable(decoded), "format_ok": bool(parsed.format_ok), "parse_error": parsed.error,
                "parse": outcome(parsed), "not_run": False}

    # -- scores and files -----------------------------------------------------------------------
    def report(self, rows: list[dict], run_dir: Path, meta: dict[str, Any]) -> Report:
        meta = {"answer_format": self.style.answer_format, "decode": self.decode, "limit": self.limit,
                "max_new_tokens": self.max_new_tokens, "data_dir": str(self.data_dir), **meta}
        return write_report(rows, self.categories, Path(run_dir), meta, self.table_rows)
