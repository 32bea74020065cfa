"""The output layer's peak memory and speed at Qwen's 151,936-row vocabulary: before, after, and TRL's way.

    .venv/bin/python experiments/benchmarks/output_layer_memory.py [--lengths 1024 4096 8192] [--repeats 2]

One micro-batch of one sequence (a 64-token prompt and a completion of L tokens) on a Qwen3-shaped
model of random weights with the real vocabulary (`model=qwen3_small`'s shape: hidden 64, 2 layers,
tied 151,936 x 64 embedding, fp32, so the output layer is nearly all of the memory and compute),
three ways, each measured in a fresh process (peak resident memory over the process's level
after the model and inputs are built; ``ru_maxrss``) and timed there (the median of 2 calls after
a warm-up call):

* RL update: log-probs and entropies of the L completion tokens under temperature 0.7, with
  gradients, ``loss = -(logps * adv).sum() - 0.01 * entropy.sum()``, backward:
  - ``before``: today's code before this change (the whole ``[L, V]`` logits: ``logits.float() /
    temperature``, ``log_softmax``, gather, ``-(exp * logp).sum()``), reproduced here;
  - ``after``: `funcall.trainers.policy_forward.token_logps_and_entropy` with ``trainer.logit_chunk=1024``;
  - ``decoder``: the decoder alone (``loss = mean(hidden ** 2)``): subtracted from the others, it
    leaves the output layer's own peak (``head_gb``);
  - ``trl``: TRL 1.16's ``selective_log_softmax`` and ``entropy_from_logits`` (chunks of 128 rows)
    on the whole logits, as its GRPO trainer calls them (the entropy without gradient); run only
    when ``trl`` imports (``pip install --no-deps --target DIR trl==1.16.0`` and ``PYTHONPATH=DIR``).
* SFT: CE over the L target tokens, backward: ``before`` (``logits.float()`` and
  ``F.cross_entropy``, what transformers' own loss does) and ``after`` (`funcall.trainers.sft.
  SFTModule`, chunks of 1024).

Sides are interleaved (each length, each side, then the next repeat), since the machine's speed
drifts. A configuration whose predicted peak exceeds ``--max-gb`` is not run and says so. The
output is written next to this file as output_layer_memory.txt.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
VOCAB, HIDDEN, PROMPT, CHUNK, TEMPERATURE = 151_936, 64, 64, 1024, 0.7
# fp32 [L, V] copies the "before" paths hold at their peak (logits, / temperature, log_softmax, exp, their
# product and what autograd saves); TRL's: logits, / temperature, and the chunked passes' saved tensors
COPIES = {"before": 6, "trl": 4, "after": 0, "decoder": 0}


def build_model():
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=32, intermediate_size=192, tie_word_embeddings=True,
                         max_position_embeddings=16384)
    return Qwen3ForCausalLM(config).float()


def rl_step(side: str, model, batch):
    import torch

    from funcall.trainers.policy_forward import token_logps_and_entropy

    c = batch.completion_width
    if side == "decoder":  # the rest of the model alone: what no output-layer method can save
        hidden = model.get_decoder()(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                     position_ids=batch.position_ids, use_cache=False).last_hidden_state
        hidden.float().pow(2).mean().backward()
        return
    if side == "after":
        logps, entropy = token_logps_and_entropy(model, batch, TEMPERATURE, chunk=CHUNK)
    else:
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids,
                       use_cache=False, logits_to_keep=c + 1).logits[:, :c]
        targets = batch.input_ids[:, batch.prompt_width:]
        if side == "before":
            logp_all = torch.log_softmax(logits.float() / TEMPERATURE, dim=-1)
            logps = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
        else:
            from trl.trainer.utils import entropy_from_logits, selective_log_softmax

            logits = logits / TEMPERATURE
            logps = selective_log_softmax(logits, targets)
            with torch.no_grad():
                entropy = entropy_from_logits(logits)
    adv = torch.linspace(-1, 1, c).view(1, c)
    (-(logps * adv).sum() - 0.01 * entropy.sum()).backward()


def sft_step(side: str, model, batch):
    import torch.nn.functional as F

    from funcall.losses.ce import CrossEntropyLoss
    from funcall.trainers.sft import SFTModule

    if side == "after":
        loss, _ = SFTModule(model, CrossEntropyLoss(), logit_chunk=CHUNK)(**batch)
    else:
        labels = batch["labels"]
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False,
                       logits_to_keep=labels.shape[1]).logits
        loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
    loss.backward()


def measure(phase: str, side: str, length: int) -> dict:
    """One configuration in this process: peak memory over the baseline, seconds per call."""
    import torch

    from funcall.trainers.rollout_layout import build_batch

    torch.set_num_threads(2)
    model = build_model()
    gen = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, VOCAB, (PROMPT,), generator=gen).tolist()
    completion = torch.randint(0, VOCAB, (length,), generator=gen).tolist()
    if phase == "rl":
        batch, step = build_batch([prompt], [completion], pad_id=0), rl_step
    else:
        ids = torch.tensor([prompt + completion])
        labels = torch.full((1, length + 1), -100)
        labels[0, :length] = torch.tensor(completion)  # predicted from the last prompt token on
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                 "labels": labels, "spans": (labels != -100).long() * 2}
        step = sft_step
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(3):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        step(side, model, batch)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_gb": (peak - base) / 2**20, "seconds": statistics.median(times[1:])}


def predicted_gb(side: str, length: int) -> float:
    return COPIES[side] * length * VOCAB * 4 / 2**30


def run(args) -> list[dict]:
    sides = {"rl": ["decoder", "before", "after"] + (["trl"] if trl_available() else []), "sft": ["before", "after"]}
    rows = []
    for repeat in range(args.repeats):
        for length in args.lengths:
            for phase, names in sides.items():
                for side in names:
                    if predicted_gb(side, length) > args.max_gb:
                        if repeat == 0:
                            rows.append({"phase": phase, "side": side, "length": length, "skipped":
                                         f"predicted {predicted_gb(side, length):.0f} GB > --max-gb {args.max_gb}"})
                        continue
                    out = subprocess.run([sys.executable, __file__, "--one", phase, side, str(length)],
                                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
                    if out.returncode:
                        rows.append({"phase": phase, "side": side, "length": length,
                                     "skipped": f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1:]}"})
                        continue
                    rows.append({"phase": phase, "side": side, "length": length, **json.loads(out.stdout)})
    return rows


def trl_available() -> bool:
    try:
        import trl.trainer.utils  # noqa: F401
    except ImportError:
        return False
    return True


def report(rows: list[dict]) -> str:
    import subprocess as sp

    commit = sp.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    chunk_gb = CHUNK * VOCAB * 4 / 2**30
    lines = [f"# {' '.join(sys.argv)}  (commit {commit}; vocab {VOCAB}, one chunk of {CHUNK} fp32 logits = "
             f"{chunk_gb:.2f} GB)", "# peak_gb: over the process after the model and inputs are built; head_gb: peak_gb less "
             "the decoder side's (the output layer's own), in chunks of logits",
             "phase  length  side    peak_gb  head_gb (chunks)  s/call  after/side(mem)  after/side(time)"]
    cell: dict[tuple, list[dict]] = {}
    for r in rows:
        cell.setdefault((r["phase"], r["length"], r["side"]), []).append(r)
    for (phase, length, side), rs in sorted(cell.items()):
        done = [r for r in rs if "skipped" not in r]
        if not done:
            lines.append(f"{phase:<6} {length:>6}  {side:<7} not run: {rs[0]['skipped']}")
            continue
        peak = max(r["peak_gb"] for r in done)
        secs = statistics.median(r["seconds"] for r in done)
        decoder = [r["peak_gb"] for r in cell.get(("rl", length, "decoder"), []) if "skipped" not in r]
        head = f"{peak - max(decoder):6.2f} ({(peak - max(decoder)) / chunk_gb:4.1f})" if decoder and side != "decoder" else " " * 13
        after = [r for r in cell.get((phase, length, "after"), []) if "skipped" not in r]
        ratio = ""
        if after and side not in ("after", "decoder"):
            ratio = (f"  {max(r['peak_gb'] for r in after) / peak:6.3f}x         "
                     f"{statistics.median(r['seconds'] for r in after) / secs:6.3f}x")
        lines.append(f"{phase:<6} {length:>6}  {side:<7} {peak:7.2f}  {head}     {secs:6.2f}{ratio}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 8192])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-gb", type=float, default=16.0)
    parser.add_argument("--one", nargs=3)
    args = parser.parse_args()
    if args.one:
        phase, side, length = args.one
        print(json.dumps(measure(phase, side, int(length))))
        return
    text = report(run(args))
    print(text)
    (Path(__file__).with_suffix(".txt")).write_text(text + "\n")


if __name__ == "__main__":
    main()
