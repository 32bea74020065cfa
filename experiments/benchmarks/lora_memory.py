"""Per-rank parameter + optimizer bytes of ZeRO-3 with LoRA (r=8) against full fine-tuning, 2 CPU ranks.

    .venv/bin/python experiments/benchmarks/lora_memory.py [--steps 3] [--r 8]

Both runs are `torchrun --standalone --nproc_per_node 2 -m funcall.train +experiment=sft
deepspeed=zero3` on the ~21M-parameter embedded Qwen2 of `memory.py` (hidden 512, 6 layers), fp32,
torch AdamW, micro-batch 4 per rank; the LoRA run adds ``model.lora.r=R`` (the default targets:
every attention and MLP projection). Each rank counts, tensor by tensor and just before the
end-of-run summary, what DeepSpeed keeps for the model on it (`memory.ds_bytes`, reused: the same
worker, the same counting): its partition of every parameter (frozen base and adapters), the Adam
moments and any fp32 master partition. The table goes to stdout and to lora_memory.txt beside this file.

How it differs from the obvious comparison (trainable-parameter counts): the bytes are those held
per rank after real optimizer steps, so what ZeRO-3 shards, and what it keeps whole
(``stage3_param_persistence_threshold``), are counted as they are.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from memory import MODEL, run_stage  # noqa: E402 - the sibling benchmark's launcher, model and worker


def run(name: str, extra: list[str], steps: int, tmp: Path) -> list[dict]:
    """The two ranks' byte counts of one 2-rank ZeRO-3 SFT run (`memory.run_stage`)."""
    return run_stage(3, steps, tmp, extra, name=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--report", type=Path, default=HERE / "lora_memory.txt")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        results = {"full fine-tuning": run("full", [], args.steps, Path(tmp)),
                   f"LoRA r={args.r}": run("lora", [f"model.lora.r={args.r}"], args.steps, Path(tmp))}
    mb = 1024 ** 2
    full = {r["rank"]: r["params_bytes"] + r["adam_state_bytes"] + r["master_bytes"] for r in results["full fine-tuning"]}
    n = results["full fine-tuning"][0]["param_elements_total"]
    lines = [f"$ .venv/bin/python experiments/benchmarks/lora_memory.py --steps {args.steps} --r {args.r}",
             f"{time.strftime('%Y-%m-%d %H:%M')}; ZeRO-3 on 2 CPU ranks (gloo), {n / 1e6:.1f}M-parameter Qwen2 "
             f"({' '.join(MODEL)}), fp32, torch AdamW, SFT micro-batch 4 per rank, {args.steps} steps; "
             f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}.",
             "",
             f"{'run':<18} {'rank':>4} {'param elements':>15} {'params held MB':>15} {'Adam moments MB':>16} "
             f"{'fp32 master MB':>15} {'total MB':>9} {'vs full':>8} {'peak RSS MB':>12}"]
    for name, rows in results.items():
        for r in rows:
            total = r["params_bytes"] + r["adam_state_bytes"] + r["master_bytes"]
            lines.append(f"{name:<18} {r['rank']:>4} {r['param_elements_total']:>15,} {r['params_bytes'] / mb:>15.2f} "
                         f"{r['adam_state_bytes'] / mb:>16.2f} {r['master_bytes'] / mb:>15.2f} {total / mb:>9.2f} "
                         f"{total / full[r['rank']]:>8.2f} {r['vm_hwm_mb']:>12.0f}")
    lines += ["",
              "params held: this rank's ZeRO-3 partition of every parameter (the frozen base and, with LoRA, the",
              "adapters); Adam moments: the inner torch AdamW's exp_avg + exp_avg_sq (only trainable parameters",
              "have them); fp32 master: a separate fp32 partition for the optimizer (none in fp32 ZeRO-3).",
              "Peak RSS (VmHWM) is the whole process (torch, DeepSpeed, activations), dominated by fixed costs here."]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    args.report.write_text(report)


if __name__ == "__main__":
    main()
