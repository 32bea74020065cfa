"""Shared prompts: running each prompt once for its G samples gives the same log-probs and gradients."""
from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from funcall.trainers.policy_forward import token_logps_and_entropy
from funcall.trainers.rollout_layout import build_batch, micro_batches


def _loss_and_grad(model, batch):
    model.zero_grad()
    logps, entropy = token_logps_and_entropy(model, batch, temperature=0.7)
    mask = batch.completion_mask.float()
    ((logps * mask).sum() / mask.sum()).backward()
    return logps.detach(), entropy.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])


def test_shared_prompt_forward_matches_the_plain_forward(tiny_model_dir):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompts = [[11, 12, 13, 14, 15], [21, 22], [31, 32, 33]]
    completions = [[40 + k] * (1 + (k * 3) % 5) for k in range(6)]  # lengths 1..5, one with a single token
    rows = [p for p in prompts for _ in range(2)]
    plain = _loss_and_grad(model, build_batch(rows, completions, pad_id=0))
    shared = _loss_and_grad(model, build_batch(rows, completions, pad_id=0, group=2))
    mask = build_batch(rows, completions, pad_id=0).completion_mask.bool()
    assert torch.allclose(plain[0][mask], shared[0][mask], atol=1e-5)
    assert torch.allclose(plain[1][mask], shared[1][mask], atol=1e-4)
    assert torch.allclose(plain[2], shared[2], atol=1e-6, rtol=1e-4)


def test_micro_batches_keep_whole_groups_or_fall_back():
    prompts = [[1] * n for n in (5, 5, 1, 1, 3, 3)]
    completions = [[2]] * 6
    micros = micro_batches(prompts, completions, torch.arange(6), 4, pad_id=0, group=2)
    assert [rows.tolist() for rows, _ in micros] == [[2, 3, 4, 5], [0, 1]] and micros[0][1].group == 2
    # a partial group (or a size that splits groups) falls back to row-by-row batches
    assert all(b.group == 1 for _, b in micro_batches(prompts, completions, torch.arange(5), 4, pad_id=0, group=2))
    assert all(b.group == 1 for _, b in micro_batches(prompts, completions, torch.arange(6), 3, pad_id=0, group=2))
