"""The synthetic task: deterministic, varied, disjoint held-out split, targets that match requests."""
from __future__ import annotations

from collections import Counter

from funcall.data.schema import Example
from funcall.data.synthetic import SyntheticTask
from funcall.data.synthetic_tools import TOOLS

PY_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list}


def test_examples_are_a_pure_function_of_seed_split_and_index():
    a, b = SyntheticTask(seed=3), SyntheticTask(seed=3)
    assert [a.train()[i].to_row() for i in (0, 7, 999)] == [b.train()[i].to_row() for i in (0, 7, 999)]
    assert a.train()[5].to_row() != SyntheticTask(seed=4).train()[5].to_row()


def test_library_has_dozens_of_tools_and_every_parameter_kind():
    assert len(TOOLS) >= 36
    kinds = Counter(p.type if not p.enum else "enum" for t in TOOLS for p in t.params)
    assert {"string", "integer", "number", "boolean", "enum", "array"} <= set(kinds)
    assert any(not p.required for t in TOOLS for p in t.params)


def test_every_category_appears_and_calls_match_their_schema():
    task = SyntheticTask(seed=0)
    examples = task.train()[:3000]
    assert set(Counter(e.category for e in examples)) == {"simple_python", "multiple", "parallel",
                                                           "parallel_multiple", "irrelevance"}
    for e in examples:
        docs = {t["name"]: t for t in e.tools}
        if e.category == "irrelevance":
            assert e.calls == []
        if e.category == "multiple":
            assert len(e.tools) >= 2 and len(e.calls) == 1
        for call in e.calls:
            params = docs[call["name"]]["parameters"]
            assert set(params["required"]) <= set(call["arguments"])
            for name, value in call["arguments"].items():
                assert isinstance(value, PY_TYPES[params["properties"][name]["type"]])
                if "enum" in params["properties"][name]:
                    assert value in params["properties"][name]["enum"]
                if isinstance(value, str) and not params["properties"][name].get("enum"):
                    assert value in e.messages[0]["content"], (value, e.messages[0]["content"])
                assert f"{name}=" in e.reasoning  # the reasoning lists every argument value


def test_requests_are_varied():
    texts = [e.messages[0]["content"] for e in SyntheticTask(seed=0).train()[:2000]]
    assert len(set(texts)) > 1900


def test_held_out_requests_never_occur_in_training():
    task = SyntheticTask(seed=0, eval_size=300)
    held = task.held_out()
    assert len(held) == 300 and all(e.id.startswith("synthetic-heldout") for e in held)
    train_texts = {e.messages[0]["content"] for e in task.train()[:20000]}
    assert not any(e.messages[0]["content"] in train_texts for e in held)


def test_examples_round_trip_through_json_rows():
    e = SyntheticTask(seed=1).train()[11]
    assert Example.from_row(e.to_row()).to_row() == e.to_row()


def test_mix_shapes_training_only_and_held_out_stays_the_standard_set():
    call_heavy = SyntheticTask(seed=0, eval_size=50, mix={"simple_python": 0.5, "multiple": 0.5})
    standard = SyntheticTask(seed=0, eval_size=50)
    train = [call_heavy.train()[i].category for i in range(200)]
    assert set(train) == {"simple_python", "multiple"}
    assert [e.to_row() for e in call_heavy.held_out()] == [e.to_row() for e in standard.held_out()]
    assert "irrelevance" in {e.category for e in standard.held_out()}
    only_parallel = SyntheticTask(seed=0, eval_size=20, eval_mix={"parallel": 1.0})
    assert {e.category for e in only_parallel.held_out()} == {"parallel"}
