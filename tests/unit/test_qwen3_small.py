"""``model=qwen3_small``: a small Qwen3 on the real Qwen3 tokenizer and chat template (issue 27).

The tokenizer is the one users bring (151,669 ids, ``<think>`` one added token, the Qwen3 chat
template); the weights are random. These tests check the build and that SFT's span labels and a
whole SFT run hold on that tokenizer, not on the tiny default's.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from conftest import read_metrics, run_train


@pytest.fixture(scope="module")
def qwen3_dir() -> Path:
    from funcall.models.random_qwen import RandomQwenSpec

    return RandomQwenSpec().ensure()


def test_the_model_has_qwen3s_vocabulary_template_and_about_10m_parameters(qwen3_dir):
    from transformers import AutoConfig, AutoTokenizer

    from funcall.models.random_qwen import RandomQwenSpec

    config, tok = AutoConfig.from_pretrained(qwen3_dir), AutoTokenizer.from_pretrained(qwen3_dir)
    assert config.model_type == "qwen3" and config.vocab_size == 151_936 and config.tie_word_embeddings
    assert config.num_key_value_heads < config.num_attention_heads  # grouped-query attention
    assert len(tok) == 151_669 and len(tok.tokenize("<think>")) == 1 and len(tok.tokenize("<tool_call>")) == 1
    from safetensors import safe_open

    with safe_open(qwen3_dir / "model.safetensors", "pt") as f:
        params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 - safe_open has no __iter__
    assert 9e6 < params < 11e6
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tools=tools, tokenize=False, add_generation_prompt=True)
    assert "<tools>" in text and '"get_weather"' in text and text.endswith("<|im_start|>assistant\n")
    assert RandomQwenSpec().ensure() == qwen3_dir  # cached: the same folder, not rebuilt


@pytest.mark.parametrize("answer_format", ["think_answer", "hermes"])
def test_sft_span_labels_follow_qwen3s_tokens(qwen3_dir, answer_format):
    """Reasoning and call spans (SRML weighs them apart) are exact on Qwen3's tokens, where
    ``<think>`` and ``</think>`` are single added tokens."""
    from transformers import AutoTokenizer

    from funcall.calls import render_completion
    from funcall.data.prompts import PromptStyle
    from funcall.data.spans import CALL, PROMPT, THINK
    from funcall.data.synthetic import SyntheticTask
    from funcall.data.tokenize import end_of_turn

    tok = AutoTokenizer.from_pretrained(qwen3_dir)
    style = PromptStyle(answer_format=answer_format, tool_style="compact")
    for example in SyntheticTask(seed=0).train()[:20]:
        enc = style.encode_sft(tok, example, 10**6)
        think, call = render_completion(example.reasoning, example.calls, answer_format)
        ids = {span: [i for i, s in zip(enc.input_ids, enc.spans) if s == span] for span in (PROMPT, THINK, CALL)}
        assert len(ids[PROMPT]) == enc.prompt_len
        assert tok.decode(ids[THINK]) == think and tok.decode(ids[CALL]) == call + end_of_turn(tok)
        if think:
            assert ids[THINK][0] == tok.convert_tokens_to_ids("<think>")
            assert tok.convert_tokens_to_ids("</think>") in ids[THINK]


def test_sft_runs_on_qwen3_small_and_exports_a_model_that_loads(tmp_path, qwen3_dir):
    run = tmp_path / "run"
    run_train(["+experiment=funreason_srml", "model=qwen3_small", "data.prompt.answer_format=think_answer",
               "trainer.max_steps=2", "trainer.micro_batch_size=4", "trainer.eval_size=2",
               "trainer.eval_max_new_tokens=8", "logger=none"], run)
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2] and all(math.isfinite(r["loss"]) for r in rows)
    assert all(r["loss/think"] > 0 and r["loss/result"] > 0 for r in rows)  # both SRML spans present
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(run / "hf_model").vocab_size == 151_936


def test_the_think_span_is_taken_from_qwen3s_tokens(qwen3_dir):
    """The entropy-guided bonus averages entropy over the ``<think>`` content: on Qwen3's tokens
    (``<think>`` one added token) the span is exactly the reasoning's tokens."""
    from transformers import AutoTokenizer

    from funcall.data.think_mask import span_masks

    tok = AutoTokenizer.from_pretrained(qwen3_dir)
    reasoning = "The user wants Paris; get_weather takes a city."
    text = f"<think>{reasoning}</think><answer>[get_weather(city='Paris')]</answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    mask = span_masks(tok, [ids], [tok.decode(ids, skip_special_tokens=True)], len(ids))[0]
    inside = [i for i, m in zip(ids, mask.tolist()) if m]
    assert tok.decode(inside) == reasoning
    assert ids[mask.nonzero()[0].item() - 1] == tok.convert_tokens_to_ids("<think>")
