"""FunReason at tiny scale: plain CE vs SRML on the synthetic task, same data, format and steps.

Both arms train the tiny default from scratch on FunReason's target format
(``<think>...</think>\\n\\n[calls]``) for the same number of steps and seeds, and are scored on
the same held-out prompts:

* ``ce``    python -m funcall.train +experiment=funreason_srml loss=ce  seed=S
* ``srml``  python -m funcall.train +experiment=funreason_srml          seed=S   (alpha 0.5)

Writes ``results.json`` (per run: the command, seed and commit, the final losses and accuracy, the
held-out accuracy at each evaluation, and the span losses as means over 20-step bins), and from it
``results.md`` (final loss/think, loss/result and held-out AST accuracy per arm, mean +- std over
seeds; per run) and ``curves.png`` (the span losses and held-out accuracy against step, mean and
range over seeds). The run directories go to ``outputs/experiments/funreason/`` (not committed;
experiments/run_dirs.py); ``--plot-only`` rebuilds results.md and curves.png from results.json.

    .venv/bin/python experiments/funreason/run.py --seeds 1 2 --steps 1200
    .venv/bin/python experiments/funreason/run.py --plot-only
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from run_dirs import load, record, rows, runs_root, save, train  # noqa: E402 - after the path set-up

ARMS = {"ce": ["loss=ce"], "srml": []}
FINAL = ("loss", "loss/think", "loss/result", "eval/ast_accuracy")
BIN = 20  # steps per point of the span-loss curves kept in results.json


def collect(run_dir: Path, arm: str, summary: dict) -> dict:
    """What results.json keeps of one run: command, seed, commit, final values, evaluations, binned losses."""
    metrics = rows(run_dir)
    out = {"arm": arm, **record(run_dir), "steps": summary["steps"], "train_s": summary["train_s"],
           "wall_s": summary["wall_s"], "final": {k: summary[k] for k in FINAL},
           "evals": [[r["step"], r["eval/ast_accuracy"]] for r in metrics if "eval/ast_accuracy" in r],
           "losses": {"bin_steps": BIN, "step": []}}
    for key in ("loss/think", "loss/result"):
        steps = [(r["step"], r[key]) for r in metrics if key in r]
        bins = [steps[i:i + BIN] for i in range(0, len(steps), BIN)]
        out["losses"][key] = [statistics.mean(v for _, v in b) for b in bins]
        out["losses"]["step"] = [b[-1][0] for b in bins]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--runs", type=Path, default=runs_root("funreason"), help="folder for the run directories")
    ap.add_argument("--plot-only", action="store_true", help="rebuild results.md and curves.png from results.json")
    args = ap.parse_args()
    if args.plot_only:
        runs = load(HERE / "results.json")["runs"]
    else:
        common = ["+experiment=funreason_srml", f"trainer.max_steps={args.steps}", "trainer.eval_size=400",
                  f"trainer.eval_every={max(1, args.steps // 5)}", "trainer.eval_max_new_tokens=160",
                  "trainer.export=false", "logger=none"]
        runs = {}
        for seed in args.seeds:
            for arm, extra in ARMS.items():
                run_dir = args.runs / f"{arm}_s{seed}"
                runs[run_dir.name] = collect(run_dir, arm, train([*common, *extra, f"seed={seed}"], run_dir))
        save(HERE / "results.json", {"about": "experiments/funreason/run.py: one entry per run; losses are "
                                     "means over bins of bin_steps steps, step the bin's last", "runs": runs})
    write_report(runs)
    plot(runs)


def by_arm(runs: dict[str, dict]) -> dict[str, list[dict]]:
    """The runs of each arm, in seed order."""
    return {arm: sorted((r for r in runs.values() if r["arm"] == arm), key=lambda r: r["seed"]) for arm in ARMS}


def write_report(runs: dict[str, dict]) -> None:
    """results.md: final values per arm (mean +- std over seeds), then per run."""
    members = by_arm(runs)
    steps = next(iter(runs.values()))["steps"]
    lines = ["# Plain CE vs SRML (tiny model, synthetic task, FunReason format)", "",
             f"{steps} SFT steps from scratch; held-out AST accuracy on 400 synthetic prompts (greedy). Written by "
             "`experiments/funreason/run.py` from [results.json](results.json), which holds each run's command, "
             "seed and commit.", "",
             "| arm | seeds | loss/think | loss/result | held-out AST accuracy |", "|---|---|---|---|---|"]
    for arm, group in members.items():
        cells = []
        for key in FINAL[1:]:
            values = [r["final"][key] for r in group]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} +- {sd:.4f}")
        lines.append(f"| {arm} | {len(group)} | " + " | ".join(cells) + " |")
    evals = [step for step, _ in next(iter(runs.values()))["evals"]]
    lines += ["", "Per run (final values; held-out accuracy at each evaluation):", "",
              "| run | seed | loss | loss/think | loss/result | " + " | ".join(f"acc @{s}" for s in evals)
              + " | train s | wall s | commit |", "|---" * (len(evals) + 8) + "|"]
    for arm, group in members.items():
        for r in group:
            lines.append(f"| {arm}_s{r['seed']} | {r['seed']} | " + " | ".join(f"{r['final'][k]:.4f}" for k in FINAL[:3])
                         + " | " + " | ".join(f"{a:.4f}" for _, a in r["evals"])
                         + f" | {r['train_s']:.0f} | {r['wall_s']:.0f} | {r['commit']} |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(runs: dict[str, dict]) -> None:
    """curves.png: loss/think, loss/result (20-step means) and held-out accuracy against step, per
    arm the mean over seeds with the seeds' range as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for i, (arm, group) in enumerate(by_arm(runs).items()):
        panels = [(axes[0], group[0]["losses"]["step"], [r["losses"]["loss/think"] for r in group]),
                  (axes[1], group[0]["losses"]["step"], [r["losses"]["loss/result"] for r in group]),
                  (axes[2], [s for s, _ in group[0]["evals"]], [[a for _, a in r["evals"]] for r in group])]
        for ax, xs, series in panels:
            columns = list(zip(*series))
            ax.plot(xs, [statistics.mean(c) for c in columns], color=f"C{i}", label=f"{arm} (n={len(group)})",
                    marker="o" if len(xs) < 15 else None)
            ax.fill_between(xs, [min(c) for c in columns], [max(c) for c in columns], color=f"C{i}", alpha=0.2)
    axes[0].set(xlabel="SFT step", ylabel="loss/think (20-step mean)", title="<think> span loss", yscale="log")
    axes[1].set(xlabel="SFT step", ylabel="loss/result (20-step mean)", title="call span loss", yscale="log")
    axes[2].set(xlabel="SFT step", ylabel="held-out AST accuracy", title="held-out accuracy")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=110)


if __name__ == "__main__":
    main()
