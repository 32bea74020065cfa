"""Rollout batches: the layout, log-probs that match an unpadded forward, spans, micro-batches."""
from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from funcall.data.think_mask import span_masks
from funcall.trainers.policy_forward import token_logps_and_entropy
from funcall.trainers.rollout_layout import build_batch, micro_batches


def test_layout_puts_every_completion_at_the_same_offset():
    batch = build_batch([[5, 6, 7], [8]], [[1, 2], [3, 4, 9]], pad_id=0)
    assert batch.prompt_width == 3 and batch.completion_width == 3
    assert batch.input_ids.tolist() == [[5, 6, 7, 1, 2, 0], [0, 0, 8, 3, 4, 9]]
    assert batch.completion_mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch.position_ids[1, 2:].tolist() == [0, 1, 2, 3]  # positions start at the first real token


def test_logps_match_an_unpadded_forward_of_each_row(tiny_model_dir):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    prompts = [[11, 12, 13, 14, 15], [21, 22]]
    completions = [[31, 32], [41, 42, 43, 44]]
    batch = build_batch(prompts, completions, pad_id=0)
    with torch.no_grad():
        logps, entropy = token_logps_and_entropy(model, batch, temperature=0.7)
        for i, (p, c) in enumerate(zip(prompts, completions)):
            logits = model(input_ids=torch.tensor([p + c])).logits[0].float() / 0.7
            lp = torch.log_softmax(logits, -1)
            expected = lp[len(p) - 1:len(p) + len(c) - 1].gather(-1, torch.tensor(c)[:, None]).squeeze(-1)
            assert torch.allclose(logps[i, :len(c)], expected, atol=1e-4)
            ent = -(lp.exp() * lp).sum(-1)[len(p) - 1:len(p) + len(c) - 1]
            assert torch.allclose(entropy[i, :len(c)], ent, atol=1e-4)


def test_think_span_mask_covers_the_reasoning_tokens(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "<think>f: a=1. All required present.</think><answer>[f(a=1)]</answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    mask = span_masks(tok, [ids], [tok.decode(ids, skip_special_tokens=True)], len(ids) + 2)[0]
    inside = [i for i, m in enumerate(mask.tolist()) if m]
    assert tok.decode([ids[i] for i in inside]) == "f: a=1. All required present."
    nothing = span_masks(tok, [ids[-4:]], [tok.decode(ids[-4:], skip_special_tokens=True)], 4)
    assert nothing.sum() == 0  # no <think> span, no tokens


def test_micro_batches_sort_by_length_and_cover_each_row_once():
    prompts = [[1] * n for n in (5, 1, 3, 2)]
    completions = [[2] * n for n in (1, 1, 1, 9)]
    micros = micro_batches(prompts, completions, torch.tensor([0, 1, 2, 3]), 2, pad_id=0)
    assert [rows.tolist() for rows, _ in micros] == [[1, 2], [0, 3]]
    assert micros[0][1].input_ids.shape[1] == 3 + 1  # padded to its own rows only


def test_generation_stats_match_a_teacher_forced_pass(tiny_model_dir):
    from funcall.rollout.hf import HFEngine

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = [tok("get weather in Paris", add_special_tokens=False)["input_ids"], [11, 12, 13]]
    rollouts = HFEngine(model, tok).generate(prompts, num_samples=2, max_new_tokens=12, temperature=0.7,
                                             with_stats=True)
    batch = build_batch([p for p in prompts for _ in range(2)], rollouts.ids, pad_id=tok.pad_token_id)
    with torch.no_grad():
        logps, entropy = token_logps_and_entropy(model, batch, temperature=0.7)
    for i, ids in enumerate(rollouts.ids):
        n = len(ids)
        assert n == len(rollouts.logps[i]) == len(rollouts.entropies[i]) > 0
        assert torch.allclose(torch.tensor(rollouts.logps[i]), logps[i, :n], atol=1e-4)
        assert torch.allclose(torch.tensor(rollouts.entropies[i]), entropy[i, :n], atol=1e-4)
