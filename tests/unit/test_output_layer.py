"""The output layer in chunks (`funcall.models.output_layer`): the same values and gradients as the
whole logits at once, for the RL log-probs and entropies (temperature, padding, the shared-prompt
path) and for SFT's CE and SRML, the reference computed here the obvious way."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from funcall.data.prompts import PromptStyle
from funcall.data.synthetic import SyntheticTask
from funcall.data.tokenize import collate_sft
from funcall.losses.ce import CrossEntropyLoss
from funcall.losses.srml import SRMLLoss
from funcall.models.output_layer import token_stats
from funcall.trainers.policy_forward import token_logps_and_entropy
from funcall.trainers.rollout_layout import build_batch
from funcall.trainers.sft import SFTModule

STYLE = PromptStyle(answer_format="think_answer", tool_style="compact")


def reference_stats(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0):
    """Today's arithmetic: the whole fp32 log-softmax, then gather and -sum(p log p)."""
    logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logp_all.gather(-1, targets[..., None]).squeeze(-1), -(logp_all.exp() * logp_all).sum(-1)


@pytest.mark.parametrize("chunk", [1, 3, 7, 10, None])
@pytest.mark.parametrize("softcap", [None, 5.0])
def test_token_stats_equal_the_whole_logits_values_and_gradients(chunk, softcap):
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    hidden = torch.randn(10, 8, requires_grad=True)
    targets = torch.randint(0, 50, (10,))
    lp, ent = token_stats(head, hidden, targets, chunk=chunk, temperature=0.7, softcap=softcap)
    (lp.sum() + 0.3 * ent.sum()).backward()
    got = hidden.grad.clone(), head.weight.grad.clone()
    hidden.grad, head.weight.grad = None, None
    z = head(hidden)
    if softcap:
        z = torch.tanh(z / softcap) * softcap
    want_lp, want_ent = reference_stats(z, targets, 0.7)
    (want_lp.sum() + 0.3 * want_ent.sum()).backward()
    assert torch.allclose(lp, want_lp, atol=1e-5) and torch.allclose(ent, want_ent, atol=1e-5)
    assert torch.allclose(got[0], hidden.grad, atol=1e-5) and torch.allclose(got[1], head.weight.grad, atol=1e-5)


def test_no_grad_passes_hold_no_graph_and_give_the_same_values():
    head = torch.nn.Linear(4, 9, bias=False)
    hidden, targets = torch.randn(6, 4), torch.randint(0, 9, (6,))
    with torch.no_grad():
        lp, ent = token_stats(head, hidden, targets, chunk=2)
        none, no_ent = token_stats(head, hidden, targets, chunk=4, with_entropy=False)
    assert not lp.requires_grad and no_ent is None and torch.allclose(lp, none)


def rl_reference(model, batch, temperature):
    c = batch.completion_width
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids,
                   use_cache=False).logits[:, batch.prompt_width - 1:batch.prompt_width - 1 + c]
    return reference_stats(logits, batch.input_ids[:, batch.prompt_width:], temperature)


@pytest.mark.parametrize("group", [1, 2])
def test_rl_logps_entropies_and_gradients_equal_the_unchunked_ones(tiny_model_dir, group):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompts = [[11, 12, 13, 14, 15]] * 2 + [[21, 22]] * 2  # two groups of 2 (the shared-prompt path when group=2)
    completions = [[31, 32], [41, 42, 43, 44, 45], [51], [61, 62, 63]]  # padded to 5
    batch = build_batch(prompts, completions, pad_id=0, group=group)
    mask = batch.completion_mask.float()
    weights = torch.linspace(0.5, 1.5, mask.numel()).view(mask.shape) * mask

    def grads(chunk):
        model.zero_grad()
        if chunk == "reference":
            lp, ent = rl_reference(model, batch, 0.7)
        else:
            lp, ent = token_logps_and_entropy(model, batch, temperature=0.7, chunk=chunk)
        ((lp + 0.1 * ent) * weights).sum().backward()
        return lp.detach(), ent.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    want_lp, want_ent, want_grads = grads("reference")
    for chunk in (3, None):
        lp, ent, got = grads(chunk)
        assert torch.allclose(lp * mask, want_lp * mask, atol=1e-4)
        assert torch.allclose(ent * mask, want_ent * mask, atol=1e-4)
        assert len(got) == len(want_grads) and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, want_grads))


@pytest.mark.parametrize("packed", [False, True])
def test_sft_ce_and_srml_in_chunks_equal_the_whole_logits(tiny_model_dir, packed):
    from funcall.data.packing import pack_sft

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    encs = [STYLE.encode_sft(tok, e, 1000) for e in SyntheticTask(seed=0).train()[:4]]
    batch = pack_sft(encs, tok.pad_token_id, row_length=1000) if packed else collate_sft(encs, tok.pad_token_id)
    targets = int((batch["labels"] != -100).sum())
    for loss_fn in (CrossEntropyLoss(), SRMLLoss(alpha=0.3)):
        out = {}
        for chunk in (7, None):
            model.zero_grad()
            loss, _ = SFTModule(model, loss_fn, logit_chunk=chunk)(**batch)
            loss.backward()
            out[chunk] = loss.item(), [p.grad.clone() for p in model.parameters()]
        assert targets > 7 * 10  # many chunks
        assert out[7][0] == pytest.approx(out[None][0], rel=1e-5)
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(out[7][1], out[None][1]))


def test_a_trained_output_layer_over_frozen_states_gets_the_same_gradient_in_chunks():
    """Only the output layer trains (the states carry no gradient): still chunked and recomputed."""
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 30, bias=False)
    hidden, targets = torch.randn(9, 8), torch.randint(0, 30, (9,))
    token_stats(head, hidden, targets, chunk=4, temperature=0.7)[0].sum().backward()
    got, head.weight.grad = head.weight.grad.clone(), None
    reference_stats(head(hidden), targets, 0.7)[0].sum().backward()
    assert torch.allclose(got, head.weight.grad, atol=1e-6)
