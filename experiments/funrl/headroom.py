"""How much can RL sharpen? Greedy accuracy against sampled accuracy and pass@k, by category.

    .venv/bin/python experiments/funrl/headroom.py --model warm_start=PATH [--model rl_end=PATH] \
        [--samples 8] [--temperature 1.0] [--seed 0] [--eval-size 400]

GRPO with a binary reward can only reinforce answers the policy already samples: a prompt whose
k samples are all wrong gives no gradient toward the right answer. So pass@k of the starting
policy bounds what a short RL run can add to greedy accuracy, and the kind of error in the
greedy failures says whether the fix is a decision (call or not, which function) or a skill
(copying a value). For each model (a Hugging Face folder: a run's `hf_model/`, or the warm start,
whose path is `warm_start/path` in an RL run's summary.json) this prints, per category of the
synthetic held-out set (the one `eval/ast_accuracy` uses for that seed): greedy accuracy, mean
accuracy of samples at the rollout temperature, pass@k, and the greedy failures counted by the
BFCL checker's error type. One process, the model's own tokenizer, the `think_answer` format and
compact tool listing of the RL presets; the latest output is committed as headroom.txt.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict

import torch
from transformers import AutoModelForCausalLM

from funcall.bfcl.checker import check
from funcall.bfcl.decode import decode_completion
from funcall.calls.formats import parse_completion
from funcall.data.prompts import PromptStyle
from funcall.data.synthetic import SyntheticTask
from funcall.models.load import load_tokenizer
from funcall.rewards.ast_match import structure_ok
from funcall.rewards.base import bfcl_function_docs
from funcall.rollout.hf import HFEngine

FORMAT = "think_answer"


def error_type(text: str, example) -> str | None:
    """None when the answer is right, else why not: `format`, or the checker's error type."""
    parsed = parse_completion(text, FORMAT)
    if not structure_ok(parsed, require_think=True):
        return "format"
    verdict = check(example.category, bfcl_function_docs(example.tools), example.ground_truth(),
                    decode_completion(parsed, FORMAT, example.category))
    return None if verdict.valid else verdict.error_type


def measure(path: str, examples: list, samples: int, temperature: float, max_new_tokens: int) -> dict:
    tokenizer = load_tokenizer(path)  # left padding, a pad token even where the model has none
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    engine = HFEngine(model, tokenizer)
    style = PromptStyle(answer_format=FORMAT, tool_style="compact")
    prompts = [style.prompt_ids(tokenizer, e) for e in examples]
    greedy = tokenizer.batch_decode(engine.generate(prompts, max_new_tokens=max_new_tokens, greedy=True).ids,
                                    skip_special_tokens=True)
    sampled = tokenizer.batch_decode(
        engine.generate(prompts, max_new_tokens=max_new_tokens, num_samples=samples, temperature=temperature).ids,
        skip_special_tokens=True)
    rows: dict[str, dict] = defaultdict(lambda: {"n": 0, "greedy": 0, "sampled": 0, "pass": 0, "errors": Counter()})
    for i, example in enumerate(examples):
        row = rows[example.category]
        row["n"] += 1
        err = error_type(greedy[i], example)
        row["greedy"] += err is None
        if err is not None:
            row["errors"][err] += 1
        right = [error_type(t, example) is None for t in sampled[i * samples:(i + 1) * samples]]
        row["sampled"] += sum(right) / samples
        row["pass"] += any(right)
    return dict(sorted(rows.items()))


def report(label: str, rows: dict, samples: int, temperature: float) -> str:
    lines = [f"## {label}", "",
             f"| category | n | greedy | mean of samples (T={temperature}) | pass@{samples} | greedy failures by error type |",
             "|---|---|---|---|---|---|"]
    total = Counter()
    for category, row in rows.items():
        n = row["n"]
        errors = ", ".join(f"{k} {v}" for k, v in row["errors"].most_common())
        lines.append(f"| {category} | {n} | {row['greedy'] / n:.3f} | {row['sampled'] / n:.3f} | "
                     f"{row['pass'] / n:.3f} | {errors} |")
        for key in ("n", "greedy", "sampled", "pass"):
            total[key] += row[key]
    n = total["n"]
    lines.append(f"| **all** | {n} | {total['greedy'] / n:.3f} | {total['sampled'] / n:.3f} | "
                 f"{total['pass'] / n:.3f} | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=PATH",
                        help="a model folder to measure, with a label (repeatable)")
    parser.add_argument("--samples", type=int, default=8, help="k: samples per prompt")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (the RL presets' 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="the synthetic task's seed (which held-out set)")
    parser.add_argument("--eval-size", type=int, default=400, help="held-out prompts")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="completion budget")
    args = parser.parse_args(argv)
    models = []
    for item in args.model:
        label, sep, path = item.partition("=")
        if not sep or not path:
            parser.error(f"--model {item!r}: expected LABEL=PATH")
        models.append((label, path))
    torch.manual_seed(args.seed)
    examples = SyntheticTask(seed=args.seed, eval_size=args.eval_size).held_out()
    print(f"# Headroom: greedy vs sampled vs pass@{args.samples} on {len(examples)} held-out prompts "
          f"(seed {args.seed})\n")
    for label, path in models:
        rows = measure(path, examples, args.samples, args.temperature, args.max_new_tokens)
        print(report(label, rows, args.samples, args.temperature), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
