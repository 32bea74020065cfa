"""SFT step throughput of funcall against TRL's SFTTrainer, side by side, with and without packing.

    .venv/bin/python experiments/benchmarks/sft_vs_trl.py [--steps 12] [--warmup 3]

The same work on both sides: the embedded tiny Qwen2 (the cached model folder both load), the
first examples of funcall's synthetic task in the warm start's format (think_answer, compact tool
listing; TRL gets funcall's own chat-templated prompt and target texts), 16 sequences per
optimizer step, no truncation (max length 512), AdamW lr 3e-3 constant, clipping 1.0, loss on the
target tokens only. Eight settings per side: attention sdpa/eager x packing off/on x fp32/bf16
(ours: ``model.attn_implementation``, ``trainer.packing`` with its default row width, the
micro-batch's longest example, ``trainer.precision``, bf16 = autocast on this CPU; TRL:
``attn_implementation``, ``packing`` + ``padding_free``, ``bf16``; not packing with eager attention:
TRL's padding-free batch is one row of all 16 sequences, whose eager score matrices would not fit).
One process per setting, ``OMP_NUM_THREADS=1`` each, all alive at once; the driver lets them take
steps in turn (rotating order), so machine load hits every setting alike. Each step is timed by
its own process (data collation included, model loading and ``--warmup`` steps excluded).
Throughput = target tokens (those the loss is computed on) per second. The report (stdout and
experiments/benchmarks/sft_vs_trl.txt) ends with the ratio of the best funcall setting to the best
TRL setting.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

BATCH, MAX_LENGTH, LR = 16, 512, 3e-3
OURS = ["+experiment=sft", f"trainer.micro_batch_size={BATCH}", "trainer.grad_accum=1", f"trainer.max_length={MAX_LENGTH}",
        "trainer.eval_size=0", "trainer.eval_every=0", "trainer.export=false", f"optim.optimizer.lr={LR}",
        "optim.scheduler.decay=constant", "optim.scheduler.warmup_ratio=0.0", "optim.max_grad_norm=1.0",
        "deepspeed=zero0", "logger=none", "seed=0"]
SETTINGS = [(a, p, b) for a in ("sdpa", "eager") for p in (False, True) for b in (False, True)]


def ours_worker(extra: list[str]) -> None:
    """funcall.train with a step barrier after each logged step (see `grpo_vs_trl.ours_worker`)."""
    import funcall.train
    import funcall.trainers.sft as sft

    original = sft.log_step
    state = {"t0": time.perf_counter()}

    def log_step(run, row, step, every, last):
        seconds = time.perf_counter() - state["t0"]
        original(run, row, step, every, last)
        print("@@step " + json.dumps({"seconds": seconds, "target_tokens": row["tokens/target"]}), flush=True)
        print("@@ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            sys.stdout.flush()
            os._exit(0)
        state["t0"] = time.perf_counter()

    sft.log_step = log_step
    sys.argv = ["funcall.train", *extra]
    funcall.train.main()


def texts(count: int) -> tuple[str, list[str], list[str]]:
    """The tiny model's folder and funcall's prompt and target texts of the first ``count`` examples."""
    from hydra import compose, initialize_config_dir

    from funcall.calls import render_completion
    from funcall.data.tokenize import end_of_turn
    from funcall.models.load import load_tokenizer
    from funcall.train import CONF_DIR
    from funcall.utils.instantiate import instantiate

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=OURS)
    model_dir = instantiate(cfg.model).resolved_path()
    tok = load_tokenizer(model_dir)
    style = instantiate(cfg.data.prompt)
    train = instantiate(cfg.data.source).train()
    prompts, completions = [], []
    for i in range(count):
        e = train[i]
        prompts.append(tok.decode(style.prompt_ids(tok, e)))
        think, call = render_completion(e.reasoning, e.calls, style.answer_format)
        completions.append(think + call + end_of_turn(tok))
    return model_dir, prompts, completions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--report", type=Path, default=Path(__file__).with_suffix(".txt"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args()
    if args.worker:
        return ours_worker(extra)
    from grpo_trl_side import ensure_venv
    from grpo_vs_trl import Worker

    trl_python = ensure_venv()
    total = args.warmup + args.steps + 1
    model_dir, prompts, completions = texts(BATCH * (total + 2))
    workers = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for attn, packing, bf16 in SETTINGS:
            tag = f"{attn}-{'pack' if packing else 'pad'}-{'bf16' if bf16 else 'fp32'}"
            spec = {"model": model_dir, "prompts": prompts, "completions": completions, "steps": total + 1,
                    "batch_size": BATCH, "max_length": MAX_LENGTH, "lr": LR, "packing": packing, "bf16": bf16, "attn": attn,
                    "output_dir": str(tmp / f"trl-{tag}")}
            (tmp / f"{tag}.json").write_text(json.dumps(spec))
            ours = [sys.executable, __file__, "--worker", *OURS, f"model.attn_implementation={attn}",
                    f"trainer.packing={str(packing).lower()}",
                    f"trainer.precision={'bf16' if bf16 else 'fp32'}", f"trainer.max_steps={total + 1}",
                    f"hydra.run.dir={tmp / f'ours-{tag}'}"]
            sides = [(f"funcall {tag}", ours)]
            if not (packing and attn == "eager"):  # TRL's padding-free row is the whole batch: eager would hold 8192^2 scores a head
                sides.append((f"TRL {tag}", [trl_python, Path(__file__).with_name("sft_trl_side.py"), tmp / f"{tag}.json"]))
            for name, command in sides:
                worker = Worker(name, command, tmp / f"{name.replace(' ', '_')}.log")
                if name.startswith("funcall"):
                    worker.expect("@@step")  # its first step ran before the barrier: not counted
                worker.expect("@@ready")
                workers.append(worker)
        load_before = os.getloadavg()[0]
        for k in range(total - 1):  # every worker steps once per round, the order rotating
            for worker in workers[k % len(workers):] + workers[:k % len(workers)]:
                worker.step()
        load_after = os.getloadavg()[0]
        for worker in workers:
            worker.stop()
    lines = [f"$ .venv/bin/python experiments/benchmarks/sft_vs_trl.py --steps {args.steps} --warmup {args.warmup}",
             f"date: {time.strftime('%Y-%m-%d %H:%M:%S')}  cores: {os.cpu_count()}  OMP_NUM_THREADS=1 per process; "
             f"load average before/after {load_before:.2f} / {load_after:.2f}",
             f"work per step: {BATCH} sequences of the synthetic task (tiny Qwen2), loss on target tokens, one optimizer step",
             "", f"{'setting':28s} {'median s/step':>13s} {'target tok/step':>15s} {'target tok/s':>12s}"]
    rates = {}
    for worker in workers:
        steps = worker.steps[args.warmup:]
        rate = sum(s["target_tokens"] for s in steps) / sum(s["seconds"] for s in steps)
        rates[worker.name] = rate
        lines.append(f"{worker.name:28s} {statistics.median(s['seconds'] for s in steps):13.3f} "
                     f"{statistics.mean(s['target_tokens'] for s in steps):15.0f} {rate:12.0f}")
    best_ours = max((r, n) for n, r in rates.items() if n.startswith("funcall"))
    best_trl = max((r, n) for n, r in rates.items() if n.startswith("TRL"))
    lines += ["", f"best funcall: {best_ours[1]} {best_ours[0]:.0f} tok/s; best TRL: {best_trl[1]} {best_trl[0]:.0f} tok/s",
              f"ratio funcall / TRL (best settings), target tokens per second: {best_ours[0] / best_trl[0]:.2f}"]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    args.report.write_text(report)


if __name__ == "__main__":
    main()
