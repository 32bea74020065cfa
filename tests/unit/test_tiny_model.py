"""The offline tiny model: built deterministically, cached, loadable by path, with a usable template."""
from __future__ import annotations

import json
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from funcall.models.load import ModelSource, load_pretrained
from funcall.models.tiny import TinySpec, ensure_tiny_model

SMALL = TinySpec(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=2, intermediate_size=64,
                 vocab_size=600, corpus_examples=300, seed=5)


def test_same_spec_gives_identical_model_and_vocab(tmp_path):
    a = ensure_tiny_model(SMALL, tmp_path / "a")
    b = ensure_tiny_model(SMALL, tmp_path / "b")
    assert a.name == b.name
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((a / "tokenizer.json").read_text()) == json.loads((b / "tokenizer.json").read_text())
    other = ensure_tiny_model(TinySpec(**{**SMALL.__dict__, "seed": 6}), tmp_path / "a")
    assert other != a


def test_second_use_is_a_cache_hit(tmp_path):
    ensure_tiny_model(SMALL, tmp_path)
    t0 = time.perf_counter()
    path = ensure_tiny_model(SMALL, tmp_path)
    assert time.perf_counter() - t0 < 0.5 and (path / "config.json").exists()
    assert not list(tmp_path.glob(".build-*"))  # no half-built folder left behind


def test_values_are_spelled_the_same_after_a_space_and_after_a_quote(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    after_space = tok("in Paris")["input_ids"]
    in_call = tok("city='Paris'")["input_ids"]
    paris = tok("Paris", add_special_tokens=False)["input_ids"]
    assert after_space[-len(paris):] == paris and in_call[-len(paris) - 1:-1] == paris
    assert [tok.decode([i]) for i in tok("42", add_special_tokens=False)["input_ids"]] == ["4", "2"]
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1


def test_chat_template_renders_tools_and_tool_calls(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tool = {"name": "get_weather", "description": "d", "parameters": {"type": "dict", "properties": {}}}
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
             "name": "get_weather", "arguments": {"city": "Oslo"}}}]}],
        tools=[{"type": "function", "function": tool}], tokenize=False)
    assert '"name": "get_weather"' in text.split("<|im_start|>user")[0]  # tools listed in the system turn
    assert '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>' in text
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_model_path_loads_the_folder_and_generates(tiny_model_dir):
    model, tok, path = load_pretrained(ModelSource(path=str(tiny_model_dir)))
    assert path == str(tiny_model_dir) and model.config.model_type == "qwen2"
    ids = tok("hello", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] <= ids["input_ids"].shape[1] + 3
    direct = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert sum(p.numel() for p in direct.parameters()) == sum(p.numel() for p in model.parameters())
