"""Per-rank memory of ZeRO-0, ZeRO-2 and ZeRO-3 on 2 CPU ranks, with a ~21M-parameter model.

    .venv/bin/python experiments/benchmarks/memory.py [--steps 3]

For each stage, `torchrun --standalone --nproc_per_node 2 -m funcall.train +experiment=sft
deepspeed=zeroN` (gloo, OMP_NUM_THREADS=1 per rank) trains a bigger embedded tiny Qwen2
(model.tiny.hidden_size=512, num_layers=6, intermediate_size=1536, 8 heads: 21.3M parameters)
for a few steps, micro-batch 4 per rank. Each rank then reports:
  * peak resident memory (VmHWM from /proc/self/status: the whole process, including torch,
    DeepSpeed and Python, so it moves less than the model's share does), at the end and just
    after the model and engine are built (loading included);
  * the bytes DeepSpeed keeps for the model on that rank, counted tensor by tensor: parameters held
    (under ZeRO-3 the rank's partition `ds_tensor`, else every parameter), the optimizer's Adam
    moments (the inner torch AdamW's state), and the fp32 master partition ZeRO-1/2/3 keep for the
    optimizer to step when it keeps one (ZeRO-1/2 do, even in fp32 training; ZeRO-3 in fp32 steps
    its parameter partition in place; ZeRO-0's AdamW steps the parameters themselves).
The table goes to stdout and to experiments/benchmarks/memory.md.

How it differs from reading `torch.cuda.max_memory_allocated`: there is no GPU; process RSS is
the CPU's equivalent but is dominated by the libraries, so the partitioned tensors are counted
as well, which is what ZeRO changes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODEL = ["model.tiny.hidden_size=512", "model.tiny.num_layers=6", "model.tiny.num_heads=8", "model.tiny.num_kv_heads=8",
         "model.tiny.intermediate_size=1536"]


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ds_bytes(engine) -> dict:
    """Bytes of parameters, Adam moments and fp32 master partitions this rank holds."""
    params = list(engine.module.parameters())
    held = sum((p.ds_tensor if hasattr(p, "ds_tensor") else p).numel() * p.element_size() for p in params)
    full = sum((p.ds_numel if hasattr(p, "ds_numel") else p.numel()) for p in params)
    inner = getattr(engine.optimizer, "optimizer", engine.optimizer)
    state = sum(t.numel() * t.element_size() for s in inner.state.values() for t in s.values() if hasattr(t, "numel") and t.dim() > 0)
    own = {p.data_ptr() for p in params} | {p.ds_tensor.data_ptr() for p in params if hasattr(p, "ds_tensor")}
    master = sum(t.numel() * t.element_size() for g in inner.param_groups for t in g["params"] if t.data_ptr() not in own)
    return {"param_elements_total": full, "params_bytes": held, "adam_state_bytes": state, "master_bytes": master}


def worker(out_dir: str, extra: list[str]) -> None:
    """Inside each torchrun rank: funcall.train, measuring just before the end-of-run summary."""
    import funcall.train
    import funcall.trainers.sft as sft
    from funcall.trainers.session import Session

    finish, build = Session.finish, sft.build
    after_setup = {}

    def measured_build(*args, **kwargs):
        parts = build(*args, **kwargs)
        after_setup["mb"] = vm_hwm_mb()
        return parts

    def measured_finish(self, *args, **kwargs):
        row = {"rank": self.run.dist.rank, "vm_hwm_mb": vm_hwm_mb(), "setup_hwm_mb": after_setup.get("mb", float("nan")),
               **ds_bytes(self.policy.engine)}
        Path(out_dir, f"rank{row['rank']}.json").write_text(json.dumps(row))
        return finish(self, *args, **kwargs)

    Session.finish, sft.build = measured_finish, measured_build
    sys.argv = ["funcall.train", *extra]
    funcall.train.main()


SMALL_BUCKETS = ["deepspeed.zero_optimization.reduce_bucket_size=5000000",
                 "deepspeed.zero_optimization.stage3_prefetch_bucket_size=5000000"]


def run_stage(stage: int, steps: int, tmp: Path, extra: list[str] = (), name: str | None = None) -> list[dict]:
    name = name or f"zero{stage}{'-small' if extra else ''}"
    out = tmp / name
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__, "--worker", str(out),
           "+experiment=sft", f"deepspeed=zero{stage}", f"trainer.max_steps={steps}", "trainer.micro_batch_size=4",
           "trainer.eval_size=0", "trainer.eval_every=0", "trainer.export=false", "trainer.precision=fp32", "logger=none",
           *MODEL, *extra, f"hydra.run.dir={out / 'run'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "disabled"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--report", type=Path, default=Path(__file__).with_suffix(".md"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args()
    if args.worker:
        return worker(args.worker, extra)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        results = {f"ZeRO-{stage}": run_stage(stage, args.steps, Path(tmp)) for stage in (0, 2, 3)}
        results["ZeRO-3, buckets 5e6"] = run_stage(3, args.steps, Path(tmp), SMALL_BUCKETS)
    mb = 1024 ** 2
    n = results["ZeRO-0"][0]["param_elements_total"]
    base = {r["rank"]: r["params_bytes"] + r["adam_state_bytes"] for r in results["ZeRO-0"]}
    lines = [
        "# Memory per rank: ZeRO-0, ZeRO-2, ZeRO-3 on 2 CPU ranks",
        "",
        "```",
        f"$ .venv/bin/python experiments/benchmarks/memory.py --steps {args.steps}",
        "```",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}; {n / 1e6:.1f}M-parameter Qwen2 ({' '.join(MODEL)}), fp32, torch AdamW, "
        f"SFT micro-batch 4 per rank, {args.steps} steps, gloo, OMP_NUM_THREADS=1 per rank; load average {load_before:.2f} "
        f"-> {os.getloadavg()[0]:.2f}.",
        "",
        "| stage | rank | peak RSS (VmHWM) MB | peak RSS after set-up MB | params held MB | Adam moments MB | params + moments MB (vs ZeRO-0) "
        "| fp32 master partition MB | all three MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stage, rows in results.items():
        for r in rows:
            pm = r["params_bytes"] + r["adam_state_bytes"]
            lines.append(f"| {stage} | {r['rank']} | {r['vm_hwm_mb']:.0f} | {r['setup_hwm_mb']:.0f} | {r['params_bytes'] / mb:.1f} | "
                         f"{r['adam_state_bytes'] / mb:.1f} | {pm / mb:.1f} ({pm / base[r['rank']]:.2f}) | "
                         f"{r['master_bytes'] / mb:.1f} | {(pm + r['master_bytes']) / mb:.1f} |")
    lines += [
        "",
        "Reading it: ZeRO-2 shards the Adam moments (and gradients, not counted here) but every rank keeps all",
        "parameters, plus an fp32 master copy of its partition for AdamW to step (a separate tensor even in fp32",
        "training; ZeRO-0's plain torch AdamW steps the parameters themselves). ZeRO-3 shards the parameters too",
        "and, in fp32, steps its parameter partition in place (no master copy), so parameters + optimizer state",
        "per rank are half of ZeRO-0's on 2 ranks (1/N on N ranks; parameters under",
        "`stage3_param_persistence_threshold`, the 512-element norms here, stay whole on every rank: a few KB).",
        "Peak RSS is the whole process: torch, DeepSpeed, Python, activations, gradients and DeepSpeed's own",
        "buffers. At 21M parameters those fixed costs dominate and ZeRO-3's peak RSS is higher than ZeRO-0's;",
        "the set-up column says how much of that peak is reached while loading (under ZeRO-3 each rank loads",
        "through zero.Init) and the last rows how much the communication buckets (`reduce_bucket_size`,",
        "`stage3_prefetch_bucket_size`, 5e7 elements each in conf/deepspeed/zero3.yaml, sized for GPUs) add. The",
        "parameter + optimizer saving is what scales with the model (at 7B, ~84 GB per rank under ZeRO-0, half",
        "under ZeRO-3 on 2 ranks); the fixed costs do not.",
    ]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    args.report.write_text(report)


if __name__ == "__main__":
    main()
