"""Build the labelled multi-turn corpus: perturbed trajectories, each with the official checker's verdict.

    .venv/bin/python tests/tools/build_multi_turn_corpus.py [--venv DIR] [--per-entry 3] [--seed 0]

For every entry of BFCL's four multi-turn categories (the installed ``bfcl-eval`` data), the
ground truth is replayed as model output (one step per turn, and with each call a step of its
own) and perturbed ``--per-entry`` times: a call dropped, duplicated, swapped with its neighbour,
an argument value changed (type kept), a call added to a turn whose ground truth is empty, a call
to an unknown function, a conversation cut short, a turn left empty, a call moved to the next
turn, a turn split over steps with empty steps between. Each trajectory is then judged by the
release's own ``multi_turn_checker`` (after the same pre-processing as its ``eval_runner``: turn
count, empty steps dropped), run in a separate virtual environment that holds ``bfcl-eval``
(installed ``--no-deps``) and ``mpmath`` only, with a unique model name per row so that its
global instance cache never shares state between rows. Output:
``tests/data/bfcl/multi_turn_conformance.jsonl.gz``, one row per trajectory: ``id``, ``kind``,
``model_output``, ``valid``, ``error_type``.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from funcall.envs.bfcl_data import MULTI_TURN_CATEGORIES, installed_bfcl_data, load_multi_turn  # noqa: E402
from tools.labelled_corpus import write_corpus  # noqa: E402

OUT = REPO / "tests" / "data" / "bfcl" / "multi_turn_conformance.jsonl.gz"
PACKAGES = ["bfcl-eval==2026.3.23", "mpmath==1.3.0"]

LABELLER = r'''
import json, sys
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import is_empty_execute_response

data = json.load(open(sys.argv[1]))
out = []
for i, row in enumerate(data["rows"]):
    entry, truth, output = data["entries"][row["id"]], data["truths"][row["id"]], row["model_output"]
    if len(output) != len(truth):  # eval_runner: force-terminated during inference
        out.append({"valid": False, "error_type": "multi_turn:force_terminated"})
        continue
    decoded = [[step for step in turn if not is_empty_execute_response(step)] for turn in output]
    verdict = multi_turn_checker(decoded, truth, entry, entry["id"].rsplit("_", 1)[0], f"label_row_{i}")
    out.append({"valid": bool(verdict["valid"]), "error_type": verdict.get("error_type")})
json.dump(out, open(sys.argv[2], "w"))
'''


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *PACKAGES], check=True)
    return python


def change_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 1
    if isinstance(value, str):
        return value + "_x" if value else "x"
    if isinstance(value, list):
        return value[:-1] if value else ["x"]
    return value


def with_changed_argument(call: str, rng: random.Random) -> str | None:
    node = ast.parse(call, mode="eval").body
    slots = [("kw", i) for i in range(len(node.keywords))] + [("pos", i) for i in range(len(node.args))]
    if not slots:
        return None
    where, i = rng.choice(slots)
    target = node.keywords[i].value if where == "kw" else node.args[i]
    value = ast.literal_eval(target)
    replacement = ast.parse(repr(change_value(value)), mode="eval").body
    if where == "kw":
        node.keywords[i].value = replacement
    else:
        node.args[i] = replacement
    return ast.unparse(node)


def perturb(kind: str, truth: list[list[str]], rng: random.Random) -> list | None:
    """A model output (turns -> steps -> calls) made from the ground truth, or None if ``kind`` does not apply."""
    turns = [list(t) for t in truth]
    full = [i for i, t in enumerate(turns) if t]
    empty = [i for i, t in enumerate(turns) if not t]
    if kind == "replay":
        return [[t] if t else [] for t in turns]
    if kind == "replay_steps":
        return [[[c] for c in t] for t in turns]
    if kind == "split_with_empty_steps":
        return [[[], *[[c] for c in t], [""]] for t in turns]
    if kind == "cut_short":
        return [[t] if t else [] for t in turns[:-1]] if len(turns) > 1 else None
    if not full:
        return None
    t = rng.choice(full)
    if kind == "drop_call":
        turns[t].pop(rng.randrange(len(turns[t])))
    elif kind == "duplicate_call":
        k = rng.randrange(len(turns[t]))
        turns[t].insert(k, turns[t][k])
    elif kind == "swap_calls":
        if len(turns[t]) < 2:
            return None
        k = rng.randrange(len(turns[t]) - 1)
        turns[t][k], turns[t][k + 1] = turns[t][k + 1], turns[t][k]
    elif kind == "change_argument":
        k = rng.randrange(len(turns[t]))
        changed = with_changed_argument(turns[t][k], rng)
        if changed is None or changed == turns[t][k]:
            return None
        turns[t][k] = changed
    elif kind == "call_in_empty_turn":
        if not empty:
            return None
        turns[rng.choice(empty)].append(rng.choice(turns[t]))
    elif kind == "unknown_function":
        turns[t].insert(rng.randrange(len(turns[t]) + 1), "fetch_everything(path='/', recursive=True)")
    elif kind == "empty_turn":
        turns[t] = []
    elif kind == "delay_call":
        if t + 1 >= len(turns):
            return None
        turns[t + 1].insert(0, turns[t].pop())
    return [[turn] if turn else [] for turn in turns]


PERTURBATIONS = ("drop_call", "duplicate_call", "swap_calls", "change_argument", "call_in_empty_turn",
                 "unknown_function", "cut_short", "empty_turn", "delay_call", "split_with_empty_steps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "funcall" / "bfcl-official-venv")
    parser.add_argument("--per-entry", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_dir = installed_bfcl_data()
    if data_dir is None:
        sys.exit("error: no installed bfcl-eval data (make install)")
    rng = random.Random(args.seed)
    entries, truths, rows = {}, {}, []
    for category in MULTI_TURN_CATEGORIES:
        for entry, truth in load_multi_turn(data_dir, category):
            entries[entry["id"]], truths[entry["id"]] = entry, truth
            kinds = ["replay", "replay_steps"] + rng.sample(PERTURBATIONS, len(PERTURBATIONS))
            made = 0
            for kind in kinds:
                output = perturb(kind, copy.deepcopy(truth), rng)
                if output is None:
                    continue
                rows.append({"id": entry["id"], "kind": kind, "model_output": output})
                made += kind not in ("replay", "replay_steps")
                if made >= args.per_entry:
                    break
    python = ensure_venv(args.venv)
    with tempfile.TemporaryDirectory() as tmp:  # the official code may write into its working directory
        job, result, script = Path(tmp, "job.json"), Path(tmp, "labels.json"), Path(tmp, "label.py")
        job.write_text(json.dumps({"rows": rows, "entries": entries, "truths": truths}))
        script.write_text(LABELLER)
        subprocess.run([str(python), str(script), str(job), str(result)], cwd=tmp, check=True)
        labels = json.loads(result.read_text())
    write_corpus(rows, labels, OUT)


if __name__ == "__main__":
    main()
