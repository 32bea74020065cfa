"""fp32 against bf16 autocast for the SFT warm start on this CPU: speed and held-out accuracy.

    .venv/bin/python experiments/benchmarks/sft_precision.py [--steps 900] [--seeds 0 1]

Why it exists: ``trainer.precision=auto`` picks bf16 autocast on a CPU with native bf16
(AMX-BF16 or AVX512-BF16) only because this measurement shows it faster at equal held-out
accuracy after a fixed number of steps (issue 17; README, "SFT throughput").

The work is the tiny default's warm start as `make train` runs it (conf/warm_start/sft.yaml: CE,
batch 16, AdamW lr 3e-3 with 5% warm-up and cosine decay, clipping 1.0, the call-heavy mix,
packed rows) shortened to ``--steps``, then greedy AST accuracy on the 400 held-out prompts of the
standard mix (160 new tokens). For each seed the fp32 run and the bf16 run are started together,
one thread each, so the machine's load falls on both alike; the time compared is the trainer's
own training time (``train_s`` in summary.json, evaluation excluded). Output:
experiments/benchmarks/sft_precision.txt.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MIX = "{simple_python: 0.3, multiple: 0.43, parallel: 0.13, parallel_multiple: 0.13, irrelevance: 0.01}"


def command(steps: int, seed: int, precision: str, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "funcall.train", "+experiment=sft", f"trainer.max_steps={steps}",
            "trainer.micro_batch_size=16", "trainer.grad_accum=1", "trainer.packing=true",
            f"trainer.precision={precision}", "optim.optimizer.lr=3e-3", "optim.scheduler.warmup_ratio=0.05",
            "optim.max_grad_norm=1.0", f"++data.source.mix={MIX}", "trainer.eval_every=0",
            "trainer.eval_size=400", "trainer.eval_max_new_tokens=160", "trainer.export=false",
            "trainer.log_every=50", f"seed={seed}", "logger=none", f"hydra.run.dir={run_dir}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "disabled"}
    lines = [f"$ .venv/bin/python experiments/benchmarks/sft_precision.py --steps {args.steps} "
             f"--seeds {' '.join(map(str, args.seeds))}",
             f"date: {time.strftime('%Y-%m-%d %H:%M:%S')}  cores: {os.cpu_count()}  one thread per run, "
             "fp32 and bf16 of a seed run at the same time",
             f"work: the warm start's SFT (packed, batch 16, lr 3e-3 cosine, call-heavy mix), {args.steps} steps; "
             "held-out AST accuracy on 400 prompts (standard mix, greedy, 160 tokens)", "",
             f"{'seed':>4} {'precision':>9} {'train s':>8} {'s/step':>7} {'final loss':>10} {'held-out':>9}"]
    rows: dict[str, list[dict]] = {"fp32": [], "bf16": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            procs = {p: subprocess.Popen(command(args.steps, seed, p, Path(tmp) / f"{p}-{seed}"), cwd=REPO, env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                     for p in rows}
            for p, proc in procs.items():
                _, err = proc.communicate()
                if proc.returncode:
                    sys.exit(f"error: the {p} run (seed {seed}) failed: {err.strip().splitlines()[-1]}")
                run = Path(tmp) / f"{p}-{seed}"
                summary = json.loads((run / "summary.json").read_text())
                last = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x][-1]
                row = {"train_s": summary["train_s"], "loss": last["loss"], "acc": summary["eval/ast_accuracy"]}
                rows[p].append(row)
                lines.append(f"{seed:>4} {p:>9} {row['train_s']:>8.0f} {row['train_s'] / args.steps:>7.3f} "
                             f"{row['loss']:>10.4f} {row['acc']:>9.3f}")
    mean = {p: {k: statistics.fmean(r[k] for r in rs) for k in ("train_s", "acc")} for p, rs in rows.items()}
    lines += ["", f"mean held-out accuracy: fp32 {mean['fp32']['acc']:.3f}, bf16 {mean['bf16']['acc']:.3f} "
              f"(difference {100 * (mean['bf16']['acc'] - mean['fp32']['acc']):+.1f} points)",
              f"speed-up of bf16 over fp32 (training time, same steps): {mean['fp32']['train_s'] / mean['bf16']['train_s']:.2f}x"]
    text = "\n".join(lines)
    print(text)
    (Path(__file__).with_suffix(".txt")).write_text(text + "\n")


if __name__ == "__main__":
    main()
