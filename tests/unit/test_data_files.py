"""File loaders: our JSONL schema, the xLAM format and BFCL files; bad input names file and line."""
from __future__ import annotations

import json

import pytest

from conftest import BFCL_DATA
from funcall.data.bfcl_source import BFCLSource
from funcall.data.files import jsonl_source, xlam_source
from funcall.data.sampler import GlobalSampler
from funcall.data.schema import Example, possible_answer_from_calls
from funcall.data.xlam import informal_type
from funcall.utils.errors import DataError

GOOD = {"id": "a", "tools": [{"name": "f", "parameters": {"type": "dict", "properties": {"x": {"type": "integer"}}}}],
        "messages": [{"role": "user", "content": "call f with 1"}], "calls": [{"name": "f", "arguments": {"x": 1}}],
        "reasoning": "f: x=1."}


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_round_trip_and_held_out_split(tmp_path):
    rows = [json.dumps({**GOOD, "id": str(i)}) for i in range(20)]
    src = jsonl_source(str(write_lines(tmp_path / "d.jsonl", rows)), eval_size=3)
    assert len(src.train()) == 17 and len(src.held_out()) == 3
    assert {e.id for e in src.train()}.isdisjoint({e.id for e in src.held_out()})
    assert src.train()[0].category == "simple_python"


@pytest.mark.parametrize("line,needle", [
    ('{"id": 1, "tools": [', "invalid JSON"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "messages"}), "missing field 'messages'"),
    (json.dumps({**GOOD, "calls": [{"arguments": {}}]}), "calls[0]"),
    (json.dumps({**GOOD, "category": "nonsense"}), "unknown category"),
    ('[1, 2]', "expected a JSON object"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, line, needle):
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(GOOD), line])
    with pytest.raises(DataError) as err:
        jsonl_source(str(path))
    assert f"{path}:2" in str(err.value) and needle in str(err.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        jsonl_source(str(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize("text,schema,optional", [
    ("str", {"type": "string"}, False),
    ("int, optional", {"type": "integer"}, True),
    ("List[int]", {"type": "array", "items": {"type": "integer"}}, False),
    ("Optional[Dict[str, Any]]", {"type": "dict"}, True),
    ("float, optional", {"type": "number"}, True),
    ("Tuple[float, float]", {"type": "tuple"}, False),
    ("Callable", {"type": "any"}, False),
])
def test_xlam_informal_types(text, schema, optional):
    assert informal_type(text) == (schema, optional)


def test_xlam_rows(tmp_path):
    row = {"id": 7, "query": "Giveaways for beta and games?",
           "tools": json.dumps([{"name": "live_giveaways_by_type", "description": "d", "parameters": {
               "type": {"description": "kind", "type": "str", "default": "game"},
               "limit": {"description": "n", "type": "int"}}}]),
           "answers": json.dumps([{"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
                                  {"name": "live_giveaways_by_type", "arguments": {"type": "game"}}])}
    path = tmp_path / "x.json"
    path.write_text(json.dumps([row] * 10))
    ex = xlam_source(str(path), eval_size=0).train()[0]
    assert ex.id == "7" and ex.category == "parallel" and len(ex.calls) == 2
    params = ex.tools[0]["parameters"]
    assert params["required"] == ["limit"] and params["properties"]["type"]["default"] == "game"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{**row, "answers": "[{"}]))
    with pytest.raises(DataError, match=r"bad.json\[0\]: field 'answers' is not valid JSON"):
        xlam_source(str(bad))


def test_possible_answer_from_calls_allows_omitting_optional_and_default():
    tools = [{"name": "f", "parameters": {"type": "dict", "properties": {
        "a": {"type": "integer"}, "u": {"type": "string", "default": "c"}, "o": {"type": "string"}}}}]
    assert possible_answer_from_calls([{"name": "f", "arguments": {"a": 1}}], tools) == \
        [{"f": {"a": [1], "u": ["", "c"], "o": [""]}}]
    assert possible_answer_from_calls([{"name": "f", "arguments": {"a": 1, "u": "c"}}], tools)[0]["f"]["u"] == ["c", ""]


def test_bfcl_source_keeps_bfcl_grading():
    src = BFCLSource(str(BFCL_DATA), ["simple_python", "irrelevance"], eval_size=10)
    examples = src.train() + src.held_out()
    assert len(examples) == 400 + 240
    simple = next(e for e in examples if e.category == "simple_python")
    assert simple.possible_answer and simple.calls and simple.ground_truth() == simple.possible_answer
    irrelevant = next(e for e in examples if e.category == "irrelevance")
    assert irrelevant.calls == [] and irrelevant.ground_truth() is None
    with pytest.raises(DataError, match="no such file"):
        BFCLSource("/nonexistent", ["simple_python"])


def test_sampler_splits_each_global_batch_between_ranks_without_overlap():
    sampler = GlobalSampler(size=50, seed=1)
    step0 = [sampler.micro_batch(0, m, r, 2, 4, 2) for m in range(2) for r in range(2)]
    flat = [i for mb in step0 for i in mb]
    assert len(flat) == len(set(flat)) == 16
    assert sampler.micro_batch(3, 1, 1, 2, 4, 2) == GlobalSampler(50, 1).micro_batch(3, 1, 1, 2, 4, 2)
    epoch = [GlobalSampler(50, 1).sample(k) for k in range(50)]
    assert sorted(epoch) == list(range(50))


def test_example_from_row_defaults_category_by_calls():
    assert Example.from_row({**GOOD, "calls": []}).category == "irrelevance"
