"""Rollout engines side by side: funcall's HF engine against vLLM, generation and a whole RL step.

    .venv/bin/python experiments/benchmarks/rollout_engines.py [--repeats 3] [--rl-steps 4]

Two models: the tiny default (its SFT warm start when one is cached in $FUNCALL_CACHE, else the
raw model) and a ~100M-parameter Qwen2 of random weights (12 layers, 768 wide, the tiny
tokenizer). For each:

* generation: the same 8 prompts x 8 samples, temperature 1, up to 160 new tokens, through
  `funcall.rollout.hf.HFEngine` (batched, each prompt prefilled once, static KV cache) and
  `funcall.rollout.vllm_colocate.VLLMEngine` (vLLM's CPU build, in-process, float32 as the trainer),
  interleaved ABAB after one warm-up call each, in one process; generated tokens per second,
  median of ``--repeats``;
* a whole RL step: `python -m funcall.train +experiment=grpo` (8 prompts x 8, 160 tokens, KL 1e-3)
  with ``rollout=hf`` and with ``rollout=vllm``, the median of the trainer's own ``time/step_s``
  after the first step, with its rollout and log-prob parts (vLLM reports no entropies, so its
  step includes the trainer's own no-grad pass).

The ratio printed is vLLM / HF for tokens per second (above 1: vLLM faster) and HF / vLLM for
step time. The output is written to experiments/benchmarks/rollout_engines.txt.
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
sys.path.insert(0, str(REPO))
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
ENV = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "disabled"}


def models(tmp: Path) -> list[tuple[str, str]]:
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from funcall.models.tiny import cache_root, ensure_tiny_model

    tiny = str(ensure_tiny_model())
    warm = sorted((cache_root() / "warm_start").glob("*/hf_model"))
    small = (str(warm[0]), "tiny default, SFT warm start (2.1M)") if warm else (tiny, "tiny default, raw (2.1M)")
    tok = AutoTokenizer.from_pretrained(tiny)
    config = Qwen2Config(vocab_size=len(tok) + (-len(tok)) % 64, hidden_size=768, intermediate_size=2560,
                         num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
                         max_position_embeddings=1024, tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, bos_token_id=None)
    big = tmp / "qwen2-100m"
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(big)
    tok.save_pretrained(big)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return [small, (str(big), f"Qwen2 random weights ({params:.0f}M)")]


def generation(path: str, repeats: int) -> dict:
    from transformers import AutoModelForCausalLM

    from funcall.data.prompts import PromptStyle
    from funcall.data.synthetic import SyntheticTask
    from funcall.models.load import load_tokenizer
    from funcall.rollout.hf import HFEngine
    from funcall.rollout.vllm_colocate import VLLMEngine

    tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    style = PromptStyle(answer_format="think_answer", tool_style="compact")
    prompts = [style.prompt_ids(tok, e) for e in SyntheticTask(seed=0).train()[:8]]
    engines = {"hf": HFEngine(model, tok, batch_size=64),
               "vllm": VLLMEngine(model, tok, enforce_eager=True, max_model_len=1024, kv_cache_memory_gib=2)}
    engines["vllm"].sync_weights()
    rates: dict[str, list[float]] = {name: [] for name in engines}
    for r in range(repeats + 1):  # the first round warms both up and is not counted
        for name, engine in engines.items():
            started = time.perf_counter()
            out = engine.generate(prompts, max_new_tokens=160, num_samples=8, temperature=1.0).ids
            seconds = time.perf_counter() - started
            if r:
                rates[name].append(sum(len(c) for c in out) / seconds)
    return {name: statistics.median(v) for name, v in rates.items()}


def rl_step(path: str, engine: str, steps: int, tmp: Path) -> dict:
    run = tmp / f"rl-{engine}-{Path(path).name}"
    extra = ["rollout.engine.kv_cache_memory_gib=2", "rollout.engine.max_model_len=1024"] if engine == "vllm" else []
    cmd = [sys.executable, "-m", "funcall.train", "+experiment=grpo", f"model.path={path}", f"rollout={engine}", *extra,
           "trainer.prompts_per_step=8", "rollout.num_generations=8", "rollout.max_new_tokens=160",
           "trainer.micro_batch_size=16", "trainer.eval_at_start=false", "trainer.eval_size=0", "trainer.export=false",
           "trainer.table_every=0", f"trainer.max_steps={steps + 1}", "logger=none", f"hydra.run.dir={run}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=ENV, timeout=7200)
    if proc.returncode != 0:
        raise RuntimeError(f"RL with rollout={engine} failed:\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/step_s" in r][1:]
    return {k: statistics.median(r[k] for r in rows) for k in ("time/step_s", "time/rollout_s", "time/logprob_s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rl-steps", type=int, default=4)
    args = parser.parse_args()
    lines = [f"threads: torch {os.environ.get('OMP_NUM_THREADS', 'default')}, load average {os.getloadavg()[0]:.1f}"]
    with tempfile.TemporaryDirectory() as tmp:
        for path, label in models(Path(tmp)):
            gen = generation(path, args.repeats)
            lines.append(f"\n{label}")
            lines.append(f"  generation, 8 prompts x 8 samples, <= 160 tokens: HF {gen['hf']:.0f} tok/s, "
                         f"vLLM {gen['vllm']:.0f} tok/s: vLLM / HF = {gen['vllm'] / gen['hf']:.2f}")
            steps = {engine: rl_step(path, engine, args.rl_steps, Path(tmp)) for engine in ("hf", "vllm")}
            for engine, t in steps.items():
                lines.append(f"  RL step, rollout={engine}: {t['time/step_s']:.2f} s (rollout {t['time/rollout_s']:.2f} s, "
                             f"log-probs {t['time/logprob_s']:.2f} s)")
            lines.append(f"  RL step time HF / vLLM = {steps['hf']['time/step_s'] / steps['vllm']['time/step_s']:.2f}")
            print("\n".join(lines[-4:]), flush=True)
    text = "\n".join(lines) + "\n"
    (REPO / "experiments" / "benchmarks" / "rollout_engines.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
