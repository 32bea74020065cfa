"""Supervised fine-tuning on DeepSpeed, with plain CE or FunReason's SRML.

The loop is deliberately plain (nanoGPT-style): for each optimizer step, each rank encodes its
slice of the global batch (`funcall.data.sampler`), runs ``grad_accum`` micro-steps of forward,
loss and ``engine.backward``, and ``engine.step`` applies clipping, the optimizer and the LR
schedule at the accumulation boundary. What differs from the obvious version:

* The step's examples are sorted by length before they are cut into micro-batches, so with
  ``grad_accum > 1`` short sequences are not padded to the longest of the step (the gradient is
  that of the same examples; only the padding is gone).
* The loss is the mean over the whole step's target tokens, not a mean of micro-batch means:
  the step's token counts are summed over micro-batches and ranks first (one all-reduce) and
  each micro-batch contributes its share (`funcall.losses.base`), so ``grad_accum`` 1 or 4, one
  rank or two, give the same update (tested).
* The model and the loss live in one ``nn.Module`` (`SFTModule`), so a loss with parameters
  (SRML's learnable alpha) is optimised, sharded and checkpointed by DeepSpeed like a weight.
* Losses see per-token NLL and span labels (`funcall.losses.base`), never logits.
* Non-finite losses are detected on every rank before the backward pass: the run stops with a
  `TrainingDiverged` error and the last checkpoint untouched.
* A resumed run restores engine, RNG and step, and the sampler derives the data position, so
  it ends on exactly the loss an unbroken run ends on.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from funcall.agents.base import AgentLoop
from funcall.data.length_budget import LengthBudget, draw_fitting
from funcall.data.packing import pack_sft
from funcall.data.spans import IGNORE
from funcall.data.tokenize import collate_sft
from funcall.dist import all_gather_objects, all_reduce_sum, sum_over_ranks
from funcall.losses.base import SpanCounts
from funcall.models.output_layer import softcap_of, token_stats
from funcall.trainers.build import Shape, TrainingData, build
from funcall.trainers.checks import check_loop, check_model, check_optim, check_part, fail, number
from funcall.trainers.ds_config import cpu_autocast
from funcall.trainers.optimizer_step import optimizer_step
from funcall.trainers.run_context import RunContext
from funcall.trainers.session import Session
from funcall.trainers.settings import LoopSettings
from funcall.utils.errors import TrainingDiverged
from funcall.utils.instantiate import instantiate
from funcall.utils.memory import HeapGuard


class SFTModule(nn.Module):
    """A causal LM and its loss as one module (see the module docstring). ``autocast``: run the
    model in bf16 autocast (a CPU's mixed precision; the loss is computed in fp32). The output
    layer runs on the target positions only, ``logit_chunk`` of them at a time
    (`funcall.models.output_layer`): no ``[target tokens, V]`` fp32 tensor beyond a chunk."""

    def __init__(self, model: nn.Module, loss, autocast: bool = False, logit_chunk: int | None = None):
        super().__init__()
        self.model = model
        self.loss = loss
        self.autocast = autocast
        self.logit_chunk = logit_chunk

    def forward(self, input_ids, labels, spans, attention_mask=None, position_ids=None, target_index=None,
                counts: SpanCounts | None = None):
        with torch.autocast(device_type=input_ids.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            hidden = self.model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                              position_ids=position_ids, use_cache=False).last_hidden_state
            if target_index is None:
                # left-padded (collate_sft): labels/spans cover the last columns only
                hidden = hidden[:, hidden.shape[1] - labels.shape[1]:]
                target_index = (labels != IGNORE).nonzero(as_tuple=True)
            rows, cols = target_index  # packed (funcall.data.packing): the target positions, given
            logps, _ = token_stats(self.model.get_output_embeddings(), hidden[rows, cols], labels[rows, cols],
                                   chunk=self.logit_chunk, softcap=softcap_of(self.model), with_entropy=False)
            nll = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
            nll = nll.index_put((rows, cols), -logps)
        return self.loss(nll, spans, counts)


def step_counts(batches: list[dict[str, torch.Tensor]], world_size: int) -> SpanCounts:
    """The optimizer step's target-token counts, summed over its micro-batches and all ranks."""
    local = [SpanCounts.of(b["spans"]).values() for b in batches]
    totals = all_reduce_sum([sum(col) for col in zip(*local)])
    return SpanCounts(*totals, parts=len(batches) * world_size)


@dataclass
class SFTTrainer(LoopSettings):
    micro_batch_size: int = 8
    grad_accum: int = 1
    packing: bool = False
    pack_length: int | None = None

    def check(self, cfg, world_size: int) -> None:
        """Every value this loop reads, before anything is loaded (`funcall.trainers.checks`)."""
        check_loop(self)
        check_optim(cfg.optim)
        check_model(cfg.model)
        check_part(cfg.agent, "agent")
        number("trainer.micro_batch_size", self.micro_batch_size, low=1, integer=True)
        number("trainer.grad_accum", self.grad_accum, low=1, integer=True)
        self.check_pack_length()

    def check_pack_length(self) -> None:
        if self.pack_length is not None and not 0 < self.pack_length <= self.max_length:
            fail(f"trainer.pack_length={self.pack_length}: must be between 1 and trainer.max_length "
                 f"({self.max_length}), or null (the micro-batch's longest example)")

    def step_indices(self, step: int, data: TrainingData, rank: int, world: int) -> list[int]:
        """This rank's dataset indices for optimizer step ``step`` (all its micro-batches)."""
        return [i for micro in range(self.grad_accum) for i in data.sampler.micro_batch(
            step, micro, rank, world, self.micro_batch_size, self.grad_accum)]

    def encode_step(self, step: int, idx: list[int], data: TrainingData, agent: AgentLoop, tok, rank: int,
                    budget: LengthBudget) -> tuple[list, int]:
        """This rank's examples ``idx`` of the step, encoded whole and sorted by length, and how many
        were over ``trainer.max_length`` (skipped and replaced by stand-ins, never cut)."""
        encoded, skipped = draw_fitting(idx, lambda i: agent.encode_sft(tok, data.train[i], data.style, sys.maxsize),
                                        lambda e: len(e.input_ids), budget,
                                        lambda slot, attempt: data.sampler.stand_in(step, rank, slot, attempt),
                                        lambda i: data.train[i].id)
        return sorted(encoded, key=lambda e: len(e.input_ids)), skipped

    def collate(self, examples: list, pad_id: int) -> dict[str, torch.Tensor]:
        """One micro-batch: packed rows (``trainer.packing``) or left-padded sequences. Packed rows
        are ``trainer.pack_length`` tokens wide, by default the micro-batch's longest example: no
        row is wider than its padded batch would be, which is what pays without a variable-length
        attention kernel (attention over a row costs its width squared, block mask or not)."""
        if not self.packing:
            return collate_sft(examples, pad_id)
        return pack_sft(examples, pad_id, self.pack_length or max(len(e.input_ids) for e in examples))

    @staticmethod
    def train_step(engine, batches: list[dict], counts: SpanCounts, sums: dict[str, float], step: int, session,
                   world_size: int) -> float | None:
        """Forward, backward and optimizer step over one step's micro-batches (adding their metrics
        to ``sums``); returns the step's gradient norm."""
        grad_norm = None
        for batch in batches:
            batch = {k: v.to(engine.device) for k, v in batch.items()}
            share, metrics = engine(**batch, counts=counts)
            if all_reduce_sum([0.0 if torch.isfinite(share) else 1.0])[0] > 0:
                raise TrainingDiverged(
                    f"loss is {share.item()} at step {step + 1}: stopping. Last good checkpoint: "
                    f"{session.last_checkpoint() or 'none'} (lower optim.optimizer.lr or set optim.max_grad_norm)")
            # the shares add up to the step's loss over micro-batches and ranks; DeepSpeed
            # averages gradients over ranks, hence the world size, and must not divide by
            # the number of micro-steps again (funcall.losses.base)
            engine.backward(share * world_size, scale_wrt_gas=False)
            norm = optimizer_step(engine)
            grad_norm = grad_norm if norm is None else norm
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
        return grad_norm

    def fit(self, cfg, run: RunContext) -> dict:
        loss_fn = instantiate(cfg.loss, _key="loss")
        autocast = cpu_autocast(self.precision)
        module = lambda model: SFTModule(model, loss_fn, autocast=autocast, logit_chunk=self.logit_chunk)  # noqa: E731
        policy, data, agent, rollout, evaluators, step = build(
            cfg, run, self, module=module, shape=Shape(self.micro_batch_size, self.grad_accum, self.max_steps),
            param_groups=loss_fn.parameter_groups())
        session = Session(run, self, policy, rollout, evaluators)
        engine, tok = policy.engine, policy.tokenizer
        budget = LengthBudget(self.max_length, "trainer.max_length", self.overlong, what="prompt + target",
                              metric="data/skipped_long_examples")
        dist = run.dist
        if step < self.max_steps:  # the first step's examples against trainer.max_length before anything is evaluated or logged
            self.encode_step(step, self.step_indices(step, data, dist.rank, dist.world_size), data, agent, tok, dist.rank,
                             budget)
        if self.eval_at_start and step == 0:
            session.evaluate(step)
        first_ids = None
        heap = HeapGuard() if autocast else None
        while step < self.max_steps:
            t0 = time.time()
            sums = {}
            # This rank's examples for the whole step, encoded, then cut into length-sorted
            # micro-batches: each is padded only to its own longest sequence.
            idx = self.step_indices(step, data, dist.rank, dist.world_size)
            first_ids = first_ids or [data.train[i].id for i in idx]
            step_examples, skipped = self.encode_step(step, idx, data, agent, tok, dist.rank, budget)
            chunks = [step_examples[m * self.micro_batch_size:(m + 1) * self.micro_batch_size]
                      for m in range(self.grad_accum)]
            batches = [self.collate(chunk, tok.pad_token_id) for chunk in chunks]
            counts = step_counts(batches, dist.world_size)
            with session.memory.phase("step"):
                grad_norm = self.train_step(engine, batches, counts, sums, step, session, dist.world_size)
            if heap is not None:
                heap.check()  # bf16 autocast on a CPU swells glibc's heap: funcall/utils/memory.py
            step += 1
            row = {**sum_over_ranks(sums), "grad_norm": grad_norm, "lr": session.lr(), "time/step_s": time.time() - t0,
                   "tokens/step": sum(len(e.input_ids) for e in step_examples), "tokens/target": counts.target,
                   "data/skipped_long_examples": skipped}
            session.log_step(row, step)
            session.after_step(step)
            if session.out_of_time():
                break
        return session.finish(step, {"first_step_ids_per_rank": all_gather_objects(first_ids)})
