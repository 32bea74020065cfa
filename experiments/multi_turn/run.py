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

Writes ``results.json`` (per run: the command with its overrides, the seed and the commit; the
warm start's SFT log (loss per step, its evaluations); each RL run's end scores and per-step reward,
``frac_zero_std_groups``, think entropy and clipped share; the BFCL scores), and from it
``results.md`` (the warm start's SFT curve and pass rates; per seed and mean +- std of the RL arms;
the BFCL table) and ``curves.png`` (SFT loss and held-out pass against SFT step; RL reward, think
entropy and the share of steps cut by the token budget against RL step). The run directories go to
``outputs/experiments/multi_turn/`` (not committed; experiments/run_dirs.py), the cached warm
start's log is read from the cache; ``--plot-only`` rebuilds results.md and curves.png from
results.json.

    .venv/bin/python experiments/multi_turn/run.py --seeds 1 2 3 --steps 10
    .venv/bin/python experiments/multi_turn/run.py --plot-only
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from run_dirs import head_commit, load, record, rows, runs_root, save, train  # noqa: E402 - after the path set-up

ARMS = {"grpo": "multi_turn_grpo", "entropy_grpo": "multi_turn_entropy_grpo"}
BFCL = ["multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context"]
PER_STEP = ("reward/mean", "frac_zero_std_groups", "entropy/think", "completion/clipped_frac")
ENDS = ("eval/episode_pass", "eval/episode_turns_pass")


def series(metrics: list[dict], key: str) -> list[float]:
    return [r[key] for r in metrics if key in r]


def bfcl(model_dir: str, out: Path, limit: int) -> dict:
    """BFCL multi-turn scores of one model folder and the command, reusing a finished run."""
    scores = out / "bfcl_scores.json"
    if not scores.exists():
        cmd = [sys.executable, "-m", "funcall.evaluate", f"model.path={model_dir}", "eval=bfcl_multi_turn",
               f"eval.limit={limit}", "eval.prompt.answer_format=think_answer", "eval.prompt.tool_style=compact",
               "eval.bfcl_multi_turn.max_new_tokens=96", "eval.bfcl_multi_turn.max_steps_per_turn=4",
               "logger=none", f"hydra.run.dir={out}"]
        print("$", " ".join(cmd[1:]), flush=True)
        commit = head_commit()
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, env={**os.environ})
        (out / "commit").write_text(commit + "\n")
    s = json.loads(scores.read_text())
    return {**record(out, "funcall.evaluate"), "multi_turn": s["multi_turn"],
            "categories": {c: s["categories"][c]["accuracy"] for c in BFCL}}


def rl_run(run_dir: Path, arm: str, summary: dict) -> dict:
    """What results.json keeps of one RL run: command, seed, commit, end scores, per-step metrics."""
    metrics = rows(run_dir)
    return {"arm": arm, **record(run_dir), "train_s": summary["train_s"], "end": {k: summary[k] for k in ENDS},
            "per_step": {k: series(metrics, k) for k in PER_STEP}}


def warm_start_log(warm_model: Path, commit: str) -> dict:
    """The cached warm start's SFT log (its run folder holds metrics.jsonl and summary.json)."""
    metrics, summary = rows(warm_model.parent), json.loads((warm_model.parent / "summary.json").read_text())
    return {"command": "the multi_turn_sft warm start that the first multi-turn RL run builds and caches "
                       "(trainer.warm_start of conf/scale_recipe/tiny_cpu/multi_turn_rl.yaml)", "commit": commit,
            "steps": summary["steps"], "train_s": summary["train_s"],
            "final": {k: summary[k] for k in ("loss", "loss/think", "loss/result", *ENDS, "eval/n")},
            "loss": [[r["step"], r["loss"]] for r in metrics if "loss" in r], "evals": [{"step": r["step"], **{k: r[k] for k in ENDS}}
                                                      for r in metrics if ENDS[0] in r]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--steps", type=int, default=10, help="RL steps per arm")
    ap.add_argument("--prompts", type=int, default=2, help="tasks per RL step (trainer.prompts_per_step)")
    ap.add_argument("--generations", type=int, default=4, help="episodes per task (rollout.num_generations)")
    ap.add_argument("--eval-size", type=int, default=32, help="held-out synthetic tasks scored during RL")
    ap.add_argument("--reward", default="multi_turn_turns", help="reward config of the RL arms")
    ap.add_argument("--bfcl-limit", type=int, default=10, help="BFCL entries per multi-turn category (0: skip)")
    ap.add_argument("--runs", type=Path, default=runs_root("multi_turn"), help="folder for the run directories")
    ap.add_argument("--plot-only", action="store_true", help="rebuild results.md and curves.png from results.json")
    args = ap.parse_args()
    if args.plot_only:
        results = load(HERE / "results.json")
    else:
        results = train_all(args)
        save(HERE / "results.json", results)
    write_report(results)
    plot(results)


def train_all(args) -> dict:
    """The 0-step warm start evaluation, both arms x seeds, the BFCL scores: results.json's content."""
    common = [f"trainer.max_steps={args.steps}", f"trainer.prompts_per_step={args.prompts}",
              f"rollout.num_generations={args.generations}", f"trainer.micro_batch_size={args.prompts * args.generations}",
              f"trainer.eval_size={args.eval_size}", f"trainer.eval_every={args.steps}", "trainer.export=true",
              f"reward={args.reward}", "data.source.seed=0", "logger=none"]
    start_dir = args.runs / "warm_start_eval"
    start = train(["+experiment=multi_turn_grpo", *common, "trainer.max_steps=0"], start_dir)
    results = {"setup": {"steps": args.steps, "prompts": args.prompts, "generations": args.generations,
                         "eval_size": args.eval_size, "reward": args.reward, "bfcl_limit": args.bfcl_limit},
               "warm_start_eval": {**record(start_dir), "end": {k: start[k] for k in ENDS}}, "runs": {}, "bfcl": {}}
    for seed in args.seeds:
        for arm, preset in ARMS.items():
            run_dir = args.runs / f"{arm}_s{seed}"
            summary = train([f"+experiment={preset}", f"seed={seed}", "trainer.eval_at_start=false", *common], run_dir)
            results["runs"][run_dir.name] = rl_run(run_dir, arm, summary)
    warm = Path(start["warm_start/path"])
    results["warm_start_sft"] = warm_start_log(warm, results["warm_start_eval"]["commit"])
    if args.bfcl_limit:
        results["bfcl"]["SFT warm start"] = bfcl(str(warm), args.runs / "bfcl_warm_start", args.bfcl_limit)
        for arm in ARMS:
            seed = args.seeds[0]
            results["bfcl"][f"{arm} s{seed}"] = bfcl(str(args.runs / f"{arm}_s{seed}" / "hf_model"),
                                                     args.runs / f"bfcl_{arm}_s{seed}", args.bfcl_limit)
    return results


def sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def write_report(results: dict) -> None:
    """results.md from results.json: the warm start, the RL arms per seed and mean +- std, BFCL."""
    setup, sft, start = results["setup"], results["warm_start_sft"], results["warm_start_eval"]["end"]
    lines = ["# Multi-turn: SFT warm start, then GRPO vs entropy-guided GRPO (tiny model, synthetic tasks)", "",
             f"RL: {setup['steps']} steps of {setup['prompts']} tasks x {setup['generations']} episodes, reward "
             f"{setup['reward']}, held-out pass on {setup['eval_size']} synthetic tasks (greedy); the warm start scores "
             f"{start['eval/episode_pass']:.3f} episode pass, {start['eval/episode_turns_pass']:.3f} turn pass on them. "
             "Written by `experiments/multi_turn/run.py` from [results.json](results.json), which holds each run's "
             "command, seed and commit.", "",
             f"## SFT warm start ({sft['steps']} steps, {sft['train_s'] / 60:.1f} min of training steps)", "",
             f"CE loss {sft['loss'][0][1]:.2f} at step {sft['loss'][0][0]} -> {sft['final']['loss']:.3f} at the end "
             f"({sft['final']['loss/think']:.3f} on `<think>`, {sft['final']['loss/result']:.3f} on the calls; "
             f"the last step's batch).", "",
             f"| SFT step | loss | held-out episode pass ({sft['final']['eval/n']:.0f} tasks) | held-out turn pass |",
             "|---|---|---|---|"]
    losses = dict((step, loss) for step, loss in sft["loss"])
    for r in sft["evals"]:
        lines.append(f"| {r['step']} | {losses.get(r['step'], float('nan')):.3f} | {r['eval/episode_pass']:.3f} "
                     f"| {r['eval/episode_turns_pass']:.3f} |")
    lines += rl_tables(results["runs"], setup["prompts"])
    if results["bfcl"]:
        lines += ["", f"## BFCL v4 multi-turn (first {setup['bfcl_limit']} entries per category)", "",
                  "| model | " + " | ".join(BFCL) + " | multi_turn | commit |", "|---" * (len(BFCL) + 3) + "|"]
        for name, s in results["bfcl"].items():
            cells = [s["categories"][c] for c in BFCL] + [s["multi_turn"]]
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + f" | {s['commit']} |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def rl_tables(runs: dict[str, dict], prompts: int) -> list[str]:
    """The RL arms: per seed, then mean +- std over seeds."""
    lines = ["", "## RL arms", "", "| arm | seed | episode pass at end | turn pass at end | reward/mean (mean over "
             "steps) | frac_zero_std_groups (mean) | informative groups | entropy/think (first -> last) | train s "
             "| commit |", "|---|---|---|---|---|---|---|---|---|---|"]
    ends: dict[str, list[tuple[float, float]]] = {}
    for r in sorted(runs.values(), key=lambda r: (list(ARMS).index(r["arm"]), r["seed"])):
        steps, end = r["per_step"], r["end"]
        think, zero = steps["entropy/think"], steps["frac_zero_std_groups"]
        informative = round(sum((1 - z) * prompts for z in zero))
        ends.setdefault(r["arm"], []).append((end["eval/episode_pass"], end["eval/episode_turns_pass"]))
        lines.append(f"| {r['arm']} | {r['seed']} | {end['eval/episode_pass']:.3f} | {end['eval/episode_turns_pass']:.3f} "
                     f"| {statistics.mean(steps['reward/mean']):.3f} | {statistics.mean(zero):.2f} "
                     f"| {informative} of {len(zero) * prompts} | {think[0]:.2f} -> {think[-1]:.2f} "
                     f"| {r['train_s']:.0f} | {r['commit']} |")
    lines += ["", "| arm | episode pass at end, mean +- std | turn pass at end, mean +- std | seeds |", "|---|---|---|---|"]
    for arm, v in ends.items():
        ep, tu = [e for e, _ in v], [t for _, t in v]
        lines.append(f"| {arm} | {statistics.mean(ep):.3f} +- {sd(ep):.3f} | {statistics.mean(tu):.3f} +- {sd(tu):.3f} "
                     f"| {len(v)} |")
    return lines


def plot(results: dict) -> None:
    """curves.png: the warm start's SFT loss and held-out pass; the RL arms' per-step metrics (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sft = results["warm_start_sft"]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4))
    axes[0].plot(*zip(*sft["loss"]), label="loss")
    twin = axes[0].twinx()
    twin.plot([r["step"] for r in sft["evals"]], [r["eval/episode_pass"] for r in sft["evals"]], "o-", color="C1",
              label="held-out episode pass")
    twin.set_ylabel("held-out episode pass")
    axes[0].set(xlabel="SFT step", ylabel="CE loss", title="SFT warm start")
    for arm in ARMS:
        members = [r for r in results["runs"].values() if r["arm"] == arm]
        for key, ax in (("reward/mean", axes[1]), ("entropy/think", axes[2]), ("completion/clipped_frac", axes[3])):
            curves = [r["per_step"][key] for r in members]
            n = min(len(c) for c in curves)
            ax.plot(range(1, n + 1), [statistics.mean(c[k] for c in curves) for k in range(n)], label=arm)
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
