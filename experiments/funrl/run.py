"""GRPO vs entropy-guided GRPO vs continuing SFT, from one SFT warm start, at tiny scale.

For each seed, three arms start from the same cached warm start (the SFT policy `make train`
begins from) and are scored on the same 400 held-out synthetic prompts:

* ``grpo``          python -m funcall.train +experiment=grpo seed=S
* ``entropy_grpo``  python -m funcall.train +experiment=entropy_grpo seed=S
* ``sft_control``   python -m funcall.train +experiment=sft model.path=<warm start> seed=S on the
                    warm start's own data (its category mix), constant lr 3e-4, stopped after the
                    same training wall time as the two RL arms took (their mean ``train_s``,
                    evaluation time excluded): the honest control.

Writes ``results.json`` (per run: the command, seed and commit, the held-out accuracy by category at
every evaluation with the training seconds so far, and the RL arms' per-step reward, entropy and
advantage), and from it ``results.md`` (per seed and mean +- std, by category, the RL diagnostics)
and ``curves.png`` (held-out accuracy against training time, mean and band over seeds; RL reward
and think-span entropy against step). The run directories go to ``outputs/experiments/funrl/``
(not committed; experiments/run_dirs.py); ``--plot-only`` rebuilds results.md and curves.png from
the committed results.json.

    .venv/bin/python experiments/funrl/run.py --seeds 1 2 3
    .venv/bin/python experiments/funrl/run.py --plot-only
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from run_dirs import load, portable, record, rows, runs_root, save, train  # noqa: E402 - after the path set-up

ARMS = ("grpo", "entropy_grpo", "sft_control")
PER_STEP = ("reward/mean", "entropy/think", "adv/mean_abs", "adv/entropy_bonus_mean", "frac_zero_std_groups")
CATEGORIES = ("irrelevance", "simple_python", "multiple", "parallel", "parallel_multiple")

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


def collect(run_dir: Path, arm: str, summary: dict) -> dict:
    """What results.json keeps of one run: command, seed, commit, steps, train_s, the evaluations
    (training seconds so far, accuracy, accuracy by category) and the RL arms' per-step metrics."""
    out = {"arm": arm, **record(run_dir), "steps": summary["steps"], "train_s": summary["train_s"],
           "warm_start": portable(str(summary.get("warm_start/path", ""))), "evals": [], "per_step": {}}
    elapsed = 0.0
    for r in rows(run_dir):
        elapsed += r.get("time/step_s", 0.0)
        if "eval/ast_accuracy" in r:
            out["evals"].append({"step": r["step"], "train_s": elapsed, "ast_accuracy": r["eval/ast_accuracy"],
                                 "by_category": {c: r.get(f"eval/ast_accuracy/{c}") for c in CATEGORIES}})
    if arm != "sft_control":
        for key in PER_STEP:
            out["per_step"][key] = [r[key] for r in rows(run_dir) if key in r]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--runs", type=Path, default=runs_root("funrl"), help="folder for the run directories")
    ap.add_argument("--plot-only", action="store_true", help="rebuild results.md and curves.png from results.json")
    args = ap.parse_args()
    if args.plot_only:
        runs = load(HERE / "results.json")["runs"]
    else:
        runs = train_arms(args.seeds, args.runs)
        save(HERE / "results.json", {"about": "experiments/funrl/run.py: one entry per run; evals[].train_s is "
                                     "training seconds (evaluation excluded) up to that evaluation", "runs": runs})
    write_report(runs)
    plot(runs)


def train_arms(seeds: list[int], root: Path) -> dict[str, dict]:
    """Train (or reuse) the three arms of every seed; their results.json entries by run name."""
    runs: dict[str, dict] = {}
    for seed in seeds:
        summaries = {}
        for arm in ("grpo", "entropy_grpo"):
            summaries[arm] = train([f"+experiment={arm}", f"seed={seed}", *EVAL], root / f"{arm}_s{seed}")
        warm = summaries["entropy_grpo"]["warm_start/path"]
        same_data = warm_start_data(root / f"entropy_grpo_s{seed}")
        budget = statistics.mean(s["train_s"] for s in summaries.values())
        summaries["sft_control"] = train(
            ["+experiment=sft", f"model.path={warm}", f"seed={seed}", "trainer.max_steps=100000",
             f"trainer.max_wall_s={budget:.0f}", "trainer.eval_at_start=true", "trainer.eval_every=100",
             "optim.optimizer.lr=3e-4", "optim.scheduler.warmup_ratio=0", "optim.scheduler.decay=constant",
             "trainer.eval_max_new_tokens=160", *same_data, *EVAL[:1], *EVAL[2:]], root / f"sft_control_s{seed}")
        for arm in ARMS:
            runs[f"{arm}_s{seed}"] = collect(root / f"{arm}_s{seed}", arm, summaries[arm])
    return runs


def by_arm(runs: dict[str, dict]) -> dict[str, list[dict]]:
    """The runs of each arm, in seed order."""
    return {arm: sorted((r for r in runs.values() if r["arm"] == arm), key=lambda r: r["seed"]) for arm in ARMS}


def sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def write_report(runs: dict[str, dict]) -> None:
    """results.md from the results.json entries: per seed, mean +- std, by category, RL diagnostics."""
    lines = ["# GRPO vs entropy-guided GRPO vs continued SFT (tiny model, synthetic task)", "",
             "Held-out AST accuracy on 400 synthetic prompts (greedy), from the same SFT warm start. "
             "Written by `experiments/funrl/run.py` from [results.json](results.json), which holds each "
             "run's command, seed and commit.", "",
             "| arm | seed | start | end | change | steps | train s | commit |", "|---|---|---|---|---|---|---|---|"]
    summary = {}
    for arm, members in by_arm(runs).items():
        starts = [r["evals"][0]["ast_accuracy"] for r in members]
        ends = [r["evals"][-1]["ast_accuracy"] for r in members]
        for r, start, end in zip(members, starts, ends):
            lines.append(f"| {arm} | {r['seed']} | {start:.3f} | {end:.3f} | {end - start:+.3f} | {r['steps']} "
                         f"| {r['train_s']:.0f} | {r['commit']} |")
        summary[arm] = (ends, [e - s for s, e in zip(starts, ends)])
    lines += ["", "| arm | end accuracy, mean +- std | change, mean +- std | seeds |", "|---|---|---|---|"]
    for arm, (ends, deltas) in summary.items():
        lines.append(f"| {arm} | {statistics.mean(ends):.3f} +- {sd(ends):.3f} | "
                     f"{statistics.mean(deltas):+.3f} +- {sd(deltas):.3f} | {len(ends)} |")
    lines += category_table(runs) + diagnostics_table(runs)
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def category_table(runs: dict[str, dict]) -> list[str]:
    """Held-out accuracy by category, first -> last evaluation, every run."""
    lines = ["", "By category (first -> last evaluation):", "",
             "| arm | seed | " + " | ".join(CATEGORIES) + " |", "|---" * (len(CATEGORIES) + 2) + "|"]
    for arm, members in by_arm(runs).items():
        for r in members:
            first, last = r["evals"][0]["by_category"], r["evals"][-1]["by_category"]
            lines.append(f"| {arm} | {r['seed']} | " + " | ".join(f"{first[c]:.2f} -> {last[c]:.2f}"
                                                               for c in CATEGORIES) + " |")
    return lines


def diagnostics_table(runs: dict[str, dict]) -> list[str]:
    """The RL arms' per-step metrics: mean over steps (min - max)."""
    keys = [k for k in PER_STEP if k != "frac_zero_std_groups"]
    lines = ["", "RL diagnostics per run, mean over the 40 steps (min - max):", "",
             "| arm | seed | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for arm, members in by_arm(runs).items():
        for r in (m for m in members if m["per_step"]):
            cells = [r["per_step"].get(k) for k in keys]
            lines.append(f"| {arm} | {r['seed']} | " + " | ".join(
                f"{statistics.mean(v):.3f} ({min(v):.3f} - {max(v):.3f})" if v else "-" for v in cells) + " |")
    return lines if any(r["per_step"] for r in runs.values()) else []


def plot(runs: dict[str, dict]) -> None:
    """curves.png: held-out accuracy against training seconds (mean and band over seeds); the RL
    arms' reward and think entropy against step (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for arm, members in by_arm(runs).items():
        n = min(len(r["evals"]) for r in members)
        xs = [statistics.mean(r["evals"][i]["train_s"] for r in members) for i in range(n)]
        ys = [[r["evals"][i]["ast_accuracy"] for r in members] for i in range(n)]
        mean, band = [statistics.mean(y) for y in ys], [sd(y) for y in ys]
        axes[0].plot(xs, mean, marker="o", label=arm)
        axes[0].fill_between(xs, [m - s for m, s in zip(mean, band)], [m + s for m, s in zip(mean, band)], alpha=0.2)
        if arm == "sft_control":
            continue
        for key, ax in (("reward/mean", axes[1]), ("entropy/think", axes[2])):
            series = [r["per_step"][key] for r in members]
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
