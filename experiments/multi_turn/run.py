"""Multi-turn tool use at tiny scale: SFT warm start, then GRPO vs entropy-guided GRPO on episodes.

One cached multi-turn SFT warm start (the ``multi_turn_sft`` recipe, built by the first RL run), then
for each seed two RL arms from it, scored on the same held-out synthetic tasks:

* ``grpo``          python -m funcall.train +experiment=multi_turn_grpo seed=S
* ``entropy_grpo``  python -m funcall.train +experiment=multi_turn_entropy_grpo seed=S

with the step count, group shape, reward and evaluation size given here (the presets' own are
larger; the arguments say what was run). ``seed`` moves the sampling and the order of the training
tasks; the held-out tasks are fixed (``data.source.seed=0``, the warm start's), scored once on the
warm start (a 0-step run) and at each arm's last step. The reward defaults to ``multi_turn_turns``
(fraction of turns passed), not the presets' strict ``multi_turn_state``: from a warm start that
passes no episode, the strict reward is 0 for every sample and GRPO has nothing to push (pass
``--reward multi_turn_state`` to see it). The warm start and seed 1's final policies are then
scored on BFCL v4's four multi-turn categories (``python -m funcall.evaluate eval=bfcl_multi_turn``,
the first ``--bfcl-limit`` entries of each, the training prompt format: think_answer, compact).

Writes ``results.md`` (the warm start's SFT curve and pass rates; per seed and mean +- std of the
RL arms; the BFCL table), ``curves.png`` (SFT loss and held-out pass against SFT step; RL reward,
think entropy and the share of steps cut by the token budget against RL step) and keeps the run
directories under ``runs/`` (experiments/run_dirs.py), the cached warm start's log as
``runs/warm_start_sft/``.

    .venv/bin/python experiments/multi_turn/run.py --seeds 1 2 3 --steps 10
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from run_dirs import portable, train  # noqa: E402 - after the path set-up

ARMS = {"grpo": "multi_turn_grpo", "entropy_grpo": "multi_turn_entropy_grpo"}
BFCL = ["multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context"]


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def series(run_dir: Path, key: str) -> list[tuple[int, float]]:
    return [(r["step"], r[key]) for r in rows(run_dir) if key in r]


def bfcl(model_dir: str, out: Path, limit: int) -> dict:
    """BFCL multi-turn scores of one model folder (``bfcl_scores.json``), reusing a finished run."""
    scores = out / "bfcl_scores.json"
    if not scores.exists():
        cmd = [sys.executable, "-m", "funcall.evaluate", f"model.path={model_dir}", "eval=bfcl_multi_turn",
               f"eval.limit={limit}", "eval.prompt.answer_format=think_answer", "eval.prompt.tool_style=compact",
               "eval.bfcl_multi_turn.max_new_tokens=96", "eval.bfcl_multi_turn.max_steps_per_turn=4",
               "logger=none", f"hydra.run.dir={out}"]
        print("$", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, env={**os.environ})
        portable(out)
    return json.loads(scores.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--steps", type=int, default=10, help="RL steps per arm")
    ap.add_argument("--prompts", type=int, default=2, help="tasks per RL step (trainer.prompts_per_step)")
    ap.add_argument("--generations", type=int, default=4, help="episodes per task (rollout.num_generations)")
    ap.add_argument("--eval-size", type=int, default=32, help="held-out synthetic tasks scored during RL")
    ap.add_argument("--reward", default="multi_turn_turns", help="reward config of the RL arms")
    ap.add_argument("--bfcl-limit", type=int, default=10, help="BFCL entries per multi-turn category (0: skip)")
    ap.add_argument("--runs", type=Path, default=HERE / "runs")
    args = ap.parse_args()
    common = [f"trainer.max_steps={args.steps}", f"trainer.prompts_per_step={args.prompts}",
              f"rollout.num_generations={args.generations}", f"trainer.micro_batch_size={args.prompts * args.generations}",
              f"trainer.eval_size={args.eval_size}", f"trainer.eval_every={args.steps}", "trainer.export=true",
              f"reward={args.reward}", "data.source.seed=0", "logger=none"]
    start = train(["+experiment=multi_turn_grpo", *common, "trainer.max_steps=0"], args.runs / "warm_start_eval")
    results: dict[str, dict[int, dict]] = {arm: {} for arm in ARMS}
    for seed in args.seeds:
        for arm, preset in ARMS.items():
            results[arm][seed] = train([f"+experiment={preset}", f"seed={seed}", "trainer.eval_at_start=false", *common],
                                       args.runs / f"{arm}_s{seed}")
    from funcall.models.tiny import cache_root

    warm = Path(start["warm_start/path"].replace("$FUNCALL_CACHE", str(cache_root())))
    sft_dir = args.runs / "warm_start_sft"  # the cached warm start's own log, kept with the runs
    sft_dir.mkdir(parents=True, exist_ok=True)
    for name in ("metrics.jsonl", "summary.json"):
        shutil.copy(warm.parent / name, sft_dir / name)
    portable(sft_dir)
    scores = {}
    if args.bfcl_limit:
        scores["SFT warm start"] = bfcl(str(warm), args.runs / "bfcl_warm_start", args.bfcl_limit)
        for arm in ARMS:
            seed = args.seeds[0]
            scores[f"{arm} s{seed}"] = bfcl(str(args.runs / f"{arm}_s{seed}" / "hf_model"),
                                            args.runs / f"bfcl_{arm}_s{seed}", args.bfcl_limit)
    write_report(args, results, start, sft_dir, scores)
    plot(args, sft_dir)


def write_report(args, results: dict, start: dict, sft_dir: Path, scores: dict) -> None:
    sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
    sft = rows(sft_dir)
    sft_eval = [r for r in sft if "eval/episode_pass" in r]
    sft_s = sum(r.get("time/step_s", 0.0) for r in sft)
    lines = ["# Multi-turn: SFT warm start, then GRPO vs entropy-guided GRPO (tiny model, synthetic tasks)", "",
             f"RL: {args.steps} steps of {args.prompts} tasks x {args.generations} episodes, reward {args.reward}, "
             f"held-out pass on {args.eval_size} synthetic tasks (greedy); the warm start scores "
             f"{start['eval/episode_pass']:.3f} episode pass, {start['eval/episode_turns_pass']:.3f} turn pass on them.", "",
             f"## SFT warm start ({len([r for r in sft if 'loss' in r])} steps, {sft_s / 60:.1f} min of training steps)", "",
             "| SFT step | loss | held-out episode pass | held-out turn pass |", "|---|---|---|---|"]
    losses = {r["step"]: r["loss"] for r in sft if "loss" in r}
    for r in sft_eval:
        lines.append(f"| {r['step']} | {losses.get(r['step'], float('nan')):.3f} | {r['eval/episode_pass']:.3f} "
                     f"| {r['eval/episode_turns_pass']:.3f} |")
    lines += ["", "## RL arms", "", "| arm | seed | episode pass at end | turn pass at end | reward/mean (mean over "
              "steps) | frac_zero_std_groups (mean) | entropy/think (first -> last) | train s |",
              "|---|---|---|---|---|---|---|---|"]
    ends: dict[str, list[float]] = {}
    for arm, per_seed in results.items():
        for seed, s in sorted(per_seed.items()):
            run = args.runs / f"{arm}_s{seed}"
            rewards = [v for _, v in series(run, "reward/mean")]
            zero = [v for _, v in series(run, "frac_zero_std_groups")]
            think = [v for _, v in series(run, "entropy/think")]
            ends.setdefault(arm, []).append((s["eval/episode_pass"], s["eval/episode_turns_pass"]))
            lines.append(f"| {arm} | {seed} | {s['eval/episode_pass']:.3f} | {s['eval/episode_turns_pass']:.3f} "
                         f"| {statistics.mean(rewards):.3f} | {statistics.mean(zero):.2f} | {think[0]:.2f} -> {think[-1]:.2f} "
                         f"| {s['train_s']:.0f} |")
    lines += ["", "| arm | episode pass at end, mean +- std | turn pass at end, mean +- std | seeds |", "|---|---|---|---|"]
    for arm, v in ends.items():
        ep, tu = [e for e, _ in v], [t for _, t in v]
        lines.append(f"| {arm} | {statistics.mean(ep):.3f} +- {sd(ep):.3f} | {statistics.mean(tu):.3f} +- {sd(tu):.3f} "
                     f"| {len(v)} |")
    if scores:
        lines += ["", f"## BFCL v4 multi-turn (first {args.bfcl_limit} entries per category)", "",
                  "| model | " + " | ".join(BFCL) + " | multi_turn |", "|---" * (len(BFCL) + 2) + "|"]
        for name, s in scores.items():
            cells = [s["categories"][c]["accuracy"] for c in BFCL] + [s["multi_turn"]]
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(args, sft_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4))
    axes[0].plot(*zip(*series(sft_dir, "loss")), label="loss")
    twin = axes[0].twinx()
    twin.plot(*zip(*series(sft_dir, "eval/episode_pass")), "o-", color="C1", label="held-out episode pass")
    twin.set_ylabel("held-out episode pass")
    axes[0].set(xlabel="SFT step", ylabel="CE loss", title="SFT warm start")
    for arm in ARMS:
        for key, ax in (("reward/mean", axes[1]), ("entropy/think", axes[2]), ("completion/clipped_frac", axes[3])):
            curves = [series(args.runs / f"{arm}_s{seed}", key) for seed in args.seeds]
            n = min(len(c) for c in curves)
            xs = [c[0] for c in curves[0][:n]]
            ax.plot(xs, [statistics.mean(c[k][1] for c in curves) for k in range(n)], label=arm)
    axes[1].set(xlabel="RL step", ylabel="reward/mean", title="training reward (mean over seeds)")
    axes[2].set(xlabel="RL step", ylabel="entropy/think (nats)", title="<think> entropy")
    axes[3].set(xlabel="RL step", ylabel="completion/clipped_frac", title="steps cut by the token budget")
    for ax in axes[1:]:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=110)


if __name__ == "__main__":
    main()
