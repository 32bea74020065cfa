"""GRPO vs entropy-guided GRPO vs continuing SFT, from one SFT warm start, at tiny scale.

For each seed, three arms start from the same cached warm start (the SFT policy `make train`
begins from) and are scored on the same 400 held-out synthetic prompts:

* ``grpo``          python -m funcall.train +experiment=grpo seed=S
* ``entropy_grpo``  python -m funcall.train +experiment=entropy_grpo seed=S
* ``sft_control``   python -m funcall.train +experiment=sft model.path=<warm start> seed=S on the
                    warm start's own data (its category mix), constant lr 3e-4, stopped after the
                    same training wall time as the two RL arms took (their mean ``train_s``,
                    evaluation time excluded): the honest control.

Writes ``results.md`` (per seed and mean +- std), ``curves.png`` (held-out accuracy against
training time, mean and band over seeds; RL reward and think-span entropy against step) and
keeps every run directory (metrics.jsonl, summary.json, .hydra config and overrides; experiments/run_dirs.py) under ``runs/``.

    .venv/bin/python experiments/funrl/run.py --seeds 1 2 3
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from run_dirs import train  # noqa: E402 - after the path set-up

EVAL = ["trainer.eval_size=400", "trainer.eval_every=20", "trainer.export=false", "logger=none"]


def warm_start_data(rl_run: Path) -> list[str]:
    """Overrides that give the SFT control the warm start's own training data (its category mix;
    the held-out prompts stay the standard ones, see funcall/data/synthetic.py)."""
    from omegaconf import OmegaConf

    data = OmegaConf.load(rl_run / ".hydra" / "config.yaml").trainer.warm_start.data or {}
    out = []
    for key, value in OmegaConf.to_container(data).items():
        text = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}" if isinstance(value, dict) else value
        out.append(f"++data.source.{key}={text}")
    return out


def evals(run_dir: Path) -> list[tuple[float, float]]:
    """(training seconds so far, eval/ast_accuracy) at every evaluation of a run."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    out, elapsed = [], 0.0
    for r in rows:
        elapsed += r.get("time/step_s", 0.0)
        if "eval/ast_accuracy" in r:
            out.append((elapsed, r["eval/ast_accuracy"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--runs", type=Path, default=HERE / "runs")
    args = ap.parse_args()
    results: dict[str, dict[int, dict]] = {"grpo": {}, "entropy_grpo": {}, "sft_control": {}}
    for seed in args.seeds:
        for arm in ("grpo", "entropy_grpo"):
            results[arm][seed] = train([f"+experiment={arm}", f"seed={seed}", *EVAL], args.runs / f"{arm}_s{seed}")
        warm = results["entropy_grpo"][seed]["warm_start/path"]
        same_data = warm_start_data(args.runs / f"entropy_grpo_s{seed}")
        budget = statistics.mean(results[a][seed]["train_s"] for a in ("grpo", "entropy_grpo"))
        results["sft_control"][seed] = train(
            ["+experiment=sft", f"model.path={warm}", f"seed={seed}", "trainer.max_steps=100000",
             f"trainer.max_wall_s={budget:.0f}", "trainer.eval_at_start=true", "trainer.eval_every=100",
             "optim.optimizer.lr=3e-4", "optim.scheduler.warmup_ratio=0", "optim.scheduler.decay=constant",
             "trainer.eval_max_new_tokens=160", *same_data, *EVAL[:1], *EVAL[2:]], args.runs / f"sft_control_s{seed}")
    write_report(results, args.runs)


def write_report(results: dict, runs: Path) -> None:
    lines = ["# GRPO vs entropy-guided GRPO vs continued SFT (tiny model, synthetic task)", "",
             "Held-out AST accuracy on 400 synthetic prompts (greedy), from the same SFT warm start.", "",
             "| arm | seed | start | end | change | steps | train s |", "|---|---|---|---|---|---|---|"]
    summary = {}
    for arm, per_seed in results.items():
        deltas, ends = [], []
        for seed, s in sorted(per_seed.items()):
            curve = evals(runs / f"{arm}_s{seed}")
            start, end = curve[0][1], s["eval/ast_accuracy"]
            deltas.append(end - start)
            ends.append(end)
            lines.append(f"| {arm} | {seed} | {start:.3f} | {end:.3f} | {end - start:+.3f} | {s['steps']} "
                         f"| {s['train_s']:.0f} |")
        summary[arm] = (ends, deltas)
    lines += ["", "| arm | end accuracy, mean +- std | change, mean +- std | seeds |", "|---|---|---|---|"]
    for arm, (ends, deltas) in summary.items():
        sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
        lines.append(f"| {arm} | {statistics.mean(ends):.3f} +- {sd(ends):.3f} | "
                     f"{statistics.mean(deltas):+.3f} +- {sd(deltas):.3f} | {len(ends)} |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(results, runs)


def plot(results: dict, runs: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for arm, per_seed in results.items():
        curves = [evals(runs / f"{arm}_s{seed}") for seed in sorted(per_seed)]
        n = min(len(c) for c in curves)
        xs = [statistics.mean(c[i][0] for c in curves) for i in range(n)]
        ys = [[c[i][1] for c in curves] for i in range(n)]
        mean = [statistics.mean(y) for y in ys]
        sd = [statistics.stdev(y) if len(y) > 1 else 0.0 for y in ys]
        axes[0].plot(xs, mean, marker="o", label=arm)
        axes[0].fill_between(xs, [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)], alpha=0.2)
        if arm == "sft_control":
            continue
        for key, ax in (("reward/mean", axes[1]), ("entropy/think", axes[2])):
            series = []
            for seed in sorted(per_seed):
                rows = [json.loads(x) for x in (runs / f"{arm}_s{seed}" / "metrics.jsonl").read_text().splitlines()]
                series.append([r[key] for r in rows if key in r])
            m = min(len(s) for s in series)
            ax.plot(range(1, m + 1), [statistics.mean(s[i] for s in series) for i in range(m)], label=arm)
    axes[0].set(xlabel="training seconds (evaluation excluded)", ylabel="held-out AST accuracy",
                title="accuracy vs training time")
    axes[1].set(xlabel="RL step", ylabel="reward/mean", title="training reward")
    axes[2].set(xlabel="RL step", ylabel="entropy/think (nats)", title="<think> entropy")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=110)


if __name__ == "__main__":
    main()
