"""Tokenisation: span labels, left-padded SFT batches, and a loss equal to a plain unpadded CE."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from funcall.data.prompts import PromptStyle
from funcall.data.spans import CALL, IGNORE, PROMPT, THINK
from funcall.data.synthetic import SyntheticTask
from funcall.data.tokenize import collate_sft
from funcall.losses.ce import CrossEntropyLoss
from funcall.trainers.sft import SFTModule

STYLE = PromptStyle(answer_format="think_answer", tool_style="compact")


def test_spans_mark_reasoning_and_call_tokens(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ex = SyntheticTask(seed=0).train()[4]
    enc = STYLE.encode_sft(tok, ex, max_length=1000)
    assert set(enc.spans[: enc.prompt_len]) == {PROMPT}
    think = tok.decode([t for t, s in zip(enc.input_ids, enc.spans) if s == THINK])
    call = tok.decode([t for t, s in zip(enc.input_ids, enc.spans) if s == CALL])
    assert think == f"<think>{ex.reasoning}</think>"
    assert call.startswith("<answer>[") and call.endswith("]</answer><|im_end|>")
    assert enc.spans[enc.prompt_len:] == sorted(enc.spans[enc.prompt_len:])  # think, then call
    short = STYLE.encode_sft(tok, ex, max_length=enc.prompt_len + 3)
    assert short.truncated and len(short.input_ids) == enc.prompt_len + 3


def test_left_padded_batch_keeps_targets_in_the_last_columns(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    encs = [STYLE.encode_sft(tok, e, 1000) for e in SyntheticTask(seed=0).train()[:3]]
    batch = collate_sft(encs, tok.pad_token_id)
    width = batch["input_ids"].shape[1]
    k = batch["labels"].shape[1]
    for i, e in enumerate(encs):
        n = len(e.input_ids)
        assert batch["input_ids"][i, width - n:].tolist() == e.input_ids
        assert batch["position_ids"][i, width - n:].tolist() == list(range(n))
        targets = [t for t, s in zip(e.input_ids[1:], e.spans[1:]) if s != PROMPT]
        assert [t for t in batch["labels"][i].tolist() if t != IGNORE] == targets
    assert k == max(len(e.input_ids) - e.prompt_len for e in encs) + 1  # the longest target and one more


def test_sft_module_loss_equals_plain_ce_on_unpadded_sequences(tiny_model_dir):
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    encs = [STYLE.encode_sft(tok, e, 1000) for e in SyntheticTask(seed=0).train()[:4]]
    with torch.no_grad():
        loss, _ = SFTModule(model, CrossEntropyLoss())(**collate_sft(encs, tok.pad_token_id))
        total, count = 0.0, 0
        for e in encs:
            logits = model(input_ids=torch.tensor([e.input_ids])).logits[0, :-1]
            nll = F.cross_entropy(logits, torch.tensor(e.input_ids[1:]), reduction="none")
            mask = torch.tensor(e.spans[1:]) != PROMPT
            total += nll[mask].sum().item()
            count += int(mask.sum())
    assert abs(loss.item() - total / count) < 1e-4


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_rows_give_every_example_the_loss_it_has_alone(tiny_model_dir, attn):
    # several examples per row, positions restarting: each must see only itself, so its per-token
    # NLL (and so CE/SRML) equals the one it gets in its own unpadded row
    from funcall.data.packing import first_fit, pack_sft
    from funcall.losses.srml import SRMLLoss
    from funcall.models.load import load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attn)
    encs = [STYLE.encode_sft(tok, e, 1000) for e in SyntheticTask(seed=0).train()[:7]]
    packed = pack_sft(encs, tok.pad_token_id, row_length=600)
    assert packed["input_ids"].shape[0] < len(encs) and packed["input_ids"].shape[1] <= 600  # several per row
    captured = {}

    class Capture:
        def __call__(self, nll, spans, counts=None):
            captured["nll"], captured["spans"] = nll, spans
            return nll.sum(), {}

        def parameter_groups(self):
            return []

    with torch.no_grad():
        SFTModule(model, Capture())(**packed)
        packed_nll = captured["nll"][captured["spans"] != 0]
        alone = []
        for e in encs:
            SFTModule(model, Capture())(**collate_sft([e], tok.pad_token_id))
            alone.append(captured["nll"][captured["spans"] != 0])
    # compare as multisets in pack order: rows hold examples in first-fit order
    order = [i for row in first_fit([len(e.input_ids) for e in encs], 600) for i in row]
    expected = torch.cat([alone[i] for i in order])
    assert packed_nll.shape == expected.shape and torch.allclose(packed_nll, expected, atol=1e-5)
    assert int((packed["labels"] != IGNORE).sum()) == sum(len(a) for a in alone)
    # the losses themselves: CE and SRML over the packed batch = over the same examples unpacked
    for loss_fn in (CrossEntropyLoss(), SRMLLoss(alpha=0.3)):
        with torch.no_grad():
            a, _ = SFTModule(model, loss_fn)(**packed)
            b, _ = SFTModule(model, loss_fn)(**collate_sft(encs, tok.pad_token_id))
        assert a.item() == pytest.approx(b.item(), rel=1e-5)


def test_packed_rows_are_as_wide_as_the_longest_example_unless_pack_length_says(tiny_model_dir):
    from funcall.trainers.sft import SFTTrainer
    from funcall.utils.errors import ConfigError

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    pool = sorted((STYLE.encode_sft(tok, e, 512) for e in SyntheticTask(seed=0).train()[:64]), key=lambda e: len(e.input_ids))
    encs = pool[:15] + pool[-1:]  # short examples beside one long one: two short ones fit in its width
    longest = len(pool[-1].input_ids)
    rows = SFTTrainer(packing=True).collate(encs, tok.pad_token_id)["input_ids"]
    assert rows.shape[1] == longest and rows.shape[0] < len(encs)
    wide = SFTTrainer(packing=True, pack_length=512).collate(encs, tok.pad_token_id)["input_ids"]
    assert longest < wide.shape[1] <= 512 and wide.shape[0] < rows.shape[0]
    with pytest.raises(ConfigError, match="trainer.pack_length=600"):
        SFTTrainer(packing=True, pack_length=600, max_length=512).check_pack_length()
