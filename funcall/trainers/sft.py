"""Supervised fine-tuning on DeepSpeed, with plain CE or FunReason's SRML.

The loop is deliberately plain (nanoGPT-style): for each optimizer step, each rank encodes its
slice of the global batch (`funcall.data.sampler`), runs ``grad_accum`` micro-steps of forward,
loss and ``engine.backward``, and ``engine.step`` applies clipping, the optimizer and the LR
schedule at the accumulation boundary. What differs from the obvious version:

* The step's examples are sorted by length before they are cut into micro-batches, so with
  ``grad_accum > 1`` short sequences are not padded to the longest of the step (the gradient is
  that of the same examples; only the padding is gone).
* The model and the loss live in one ``nn.Module`` (`SFTModule`), so a loss with parameters
  (SRML's learnable alpha) is optimised, sharded and checkpointed by DeepSpeed like a weight.
* Losses see per-token NLL and span labels (`funcall.losses.base`), never logits.
* Non-finite losses are detected on every rank before the backward pass: the run stops with a
  `TrainingDiverged` error and the last checkpoint untouched.
* A resumed run restores engine, RNG and step, and the sampler derives the data position, so
  it ends on exactly the loss an unbroken run ends on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from funcall.data.spans import IGNORE
from funcall.data.tokenize import collate_sft, encode_sft
from funcall.trainers.common import LoopSettings, RunContext, log_step, setup_engine
from funcall.trainers.distributed import all_reduce_sum
from funcall.utils.errors import TrainingDiverged


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-position NLL (``[B, T]``, 0 where ``labels`` is IGNORE); labels are pre-shifted."""
    nll = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="none")
    return nll.view(labels.shape)


class SFTModule(nn.Module):
    """A causal LM and its loss as one module (see the module docstring)."""

    def __init__(self, model: nn.Module, loss):
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, input_ids, attention_mask, position_ids, labels, spans):
        # labels/spans cover the last columns only (see collate_sft): logits for those alone
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            use_cache=False, logits_to_keep=labels.shape[1]).logits
        return self.loss(token_nll(logits, labels), spans)


@dataclass
class SFTTrainer(LoopSettings):
    micro_batch_size: int = 8
    grad_accum: int = 1

    def fit(self, cfg, run: RunContext) -> dict:
        setup = setup_engine(cfg, run, self, wrap=lambda model, loss: SFTModule(model, loss), total_steps=self.max_steps)
        engine, tok, style = setup.engine, setup.tokenizer, setup.style
        dist = run.dist
        t_start = time.time()
        step = setup.start_step
        if self.eval_at_start and step == 0:
            setup.evaluate(step)
        while step < self.max_steps:
            t0 = time.time()
            sums, tokens, truncated = {}, 0, 0
            # This rank's examples for the whole step, encoded, then cut into length-sorted
            # micro-batches: each is padded only to its own longest sequence.
            idx = [i for micro in range(self.grad_accum) for i in setup.sampler.micro_batch(
                step, micro, dist.rank, dist.world_size, self.micro_batch_size, self.grad_accum)]
            if setup.first_step_ids is None:
                setup.first_step_ids = [setup.train[i].id for i in idx]
            step_examples = sorted((encode_sft(tok, setup.train[i], style, self.max_length) for i in idx),
                                   key=lambda e: len(e.input_ids))
            for micro in range(self.grad_accum):
                encoded = step_examples[micro * self.micro_batch_size:(micro + 1) * self.micro_batch_size]
                batch = collate_sft(encoded, tok.pad_token_id)
                tokens += int(batch["attention_mask"].sum())
                truncated += sum(e.truncated for e in encoded)
                batch = {k: v.to(engine.device) for k, v in batch.items()}
                loss, metrics = engine(**batch)
                if all_reduce_sum([0.0 if torch.isfinite(loss) else 1.0])[0] > 0:
                    raise TrainingDiverged(
                        f"loss is {loss.item()} at step {step + 1}: stopping. Last good checkpoint: "
                        f"{setup.last_checkpoint() or 'none'} (lower optim.optimizer.lr or set optim.max_grad_norm)")
                engine.backward(loss)
                grad_norm = setup.grad_norm() if micro == self.grad_accum - 1 else None
                engine.step()
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + v / self.grad_accum
            step += 1
            dt = time.time() - t0
            row = {**sums, "grad_norm": grad_norm, "lr": setup.lr(), "time/step_s": dt,
                   "tokens/step": tokens, "data/truncated": truncated}
            log_step(run, row, step, every=self.log_every, last=step == self.max_steps, world_size=dist.world_size)
            setup.after_step(step)
            if setup.out_of_time(t_start):
                break
        return setup.finish(step, time.time() - t_start)
