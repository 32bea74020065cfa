"""FunReason at tiny scale: plain CE vs SRML on the synthetic task, same data, format and steps.

Both arms train the tiny default from scratch on FunReason's target format
(``<think>...</think>\\n\\n[calls]``) for the same number of steps and seeds, and are scored on
the same held-out prompts:

* ``ce``    python -m funcall.train +experiment=funreason_srml loss=ce  seed=S
* ``srml``  python -m funcall.train +experiment=funreason_srml          seed=S   (alpha 0.5)

Writes ``results.md`` (final loss/think, loss/result and held-out AST accuracy per arm, mean +-
std over seeds), ``curves.png`` (via `funcall.compare`: the span losses and accuracy against
step, seeds pooled) and keeps the run directories under ``runs/`` (experiments/run_dirs.py).

    .venv/bin/python experiments/funreason/run.py --seeds 1 2 --steps 1200
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from run_dirs import train  # noqa: E402 - after the path set-up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--runs", type=Path, default=HERE / "runs")
    args = ap.parse_args()
    common = ["+experiment=funreason_srml", f"trainer.max_steps={args.steps}", "trainer.eval_size=400",
              f"trainer.eval_every={max(1, args.steps // 5)}", "trainer.eval_max_new_tokens=160",
              "trainer.export=false", "logger=none"]
    arms = {"ce": ["loss=ce"], "srml": []}
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    for seed in args.seeds:
        for arm, extra in arms.items():
            results[arm].append(train([*common, *extra, f"seed={seed}"], args.runs / f"{arm}_s{seed}"))
    lines = ["# Plain CE vs SRML (tiny model, synthetic task, FunReason format)", "",
             f"{args.steps} SFT steps from scratch; held-out AST accuracy on 400 synthetic prompts (greedy).", "",
             "| arm | seeds | loss/think | loss/result | held-out AST accuracy |", "|---|---|---|---|---|"]
    for arm, summaries in results.items():
        cells = []
        for key in ("loss/think", "loss/result", "eval/ast_accuracy"):
            values = [s[key] for s in summaries]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} +- {sd:.4f}")
        lines.append(f"| {arm} | {len(summaries)} | " + " | ".join(cells) + " |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    subprocess.run([sys.executable, "-m", "funcall.compare", *[str(p) for p in sorted(args.runs.iterdir())],
                    "--out", str(HERE / "compare")], cwd=REPO, check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
