"""`python -m funcall.evaluate`: scores by the papers' formula, generate -> parse -> check, config, runs.

The unit tests drive `BFCLEval` (and `HumanEvalTask`, for prompts over the limit) with
`ScriptedEngine`, a test double of our own generation Protocol (`generate(prompts,
max_new_tokens=..., greedy=True) -> token ids`) that answers each prompt with a known text,
through the real tiny tokenizer and the real BFCL checker. The end-to-end tests run the app in a
subprocess on the offline tiny model and the official data.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import funcall.evaluate  # noqa: F401 - registers the resolvers conf/evaluate.yaml uses
from conftest import BFCL_DATA, REPO, run_train
from funcall.bfcl import SINGLE_TURN_CATEGORIES
from funcall.calls import render_python_calls
from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.dist import DistInfo
from funcall.envs.bfcl_data import installed_bfcl_data
from funcall.eval.bfcl_eval import BFCLEval
from funcall.eval.bfcl_prompt import language_notes
from funcall.eval.bfcl_report import flat_metrics, format_table, score_rows
from funcall.eval.task import generate_in_step
from funcall.evaluate import build_tasks
from funcall.rollout.engine import Rollouts
from funcall.trainers.ds_config import inference_ds_config
from funcall.utils.errors import ConfigError, DataError

needs_data = pytest.mark.skipif(not BFCL_DATA.is_dir(), reason=f"no BFCL data at {BFCL_DATA}")
ONE_RANK = DistInfo(rank=0, world_size=1, local_rank=0)


# -- scores -------------------------------------------------------------------------------------

def rows_for(counts: dict[str, tuple[int, int]]) -> list[dict]:
    rows = []
    for category, (correct, n) in counts.items():
        rows += [{"id": f"{category}_{i}", "category": category, "valid": i < correct, "format_ok": i % 2 == 0,
                  "parse": "calls" if i % 2 == 0 else "unparseable"} for i in range(n)]
    return rows


def test_scores_follow_the_papers_formula():
    counts = {
        "simple_python": (3, 4), "simple_java": (1, 2), "simple_javascript": (0, 1),     # .75 .5 0
        "multiple": (2, 2), "parallel": (1, 2), "parallel_multiple": (0, 1),             # 1 .5 0
        "live_simple": (2, 3), "live_multiple": (1, 1), "live_parallel": (0, 1), "live_parallel_multiple": (1, 2),
        "irrelevance": (1, 1), "live_irrelevance": (1, 2),
    }
    scores = score_rows(rows_for(counts), list(counts))
    simple = (0.75 + 0.5 + 0.0) / 3                      # python/java/javascript averaged first
    non_live_ast = (simple + 1.0 + 0.5 + 0.0) / 4        # unweighted over the four groups
    live = (2 + 1 + 0 + 1) / (3 + 1 + 1 + 2)             # weighted by entries
    assert scores["simple"] == pytest.approx(simple)
    assert scores["non_live_ast"] == pytest.approx(non_live_ast)
    assert scores["live"] == pytest.approx(live)
    assert scores["overall"] == pytest.approx((non_live_ast + live) / 2)
    assert scores["irrelevance"] == pytest.approx(2 / 3)
    assert scores["categories"]["live_simple"] == {"accuracy": pytest.approx(2 / 3), "n": 3, "not_run": 0,
                                                   "unparseable": pytest.approx(1 / 3)}
    assert scores["unparseable"] == pytest.approx(8 / 22) and scores["no_call_frac"] == 0.0  # the odd rows, of all
    assert list(scores["categories"]) == list(counts)
    assert scores["n"] == 22 and scores["correct"] == 13

    table = format_table(scores).splitlines()
    assert table[0].split() == ["category", "n", "not_run", "accuracy", "%", "unparseable", "%"]
    assert table[1].split() == ["simple_python", "4", "0", "75.00", "50.00"]
    assert table[-1].split() == ["overall", "(papers)", "19", "0", f"{100 * (non_live_ast + live) / 2:.2f}"]
    assert [line.split()[0] for line in table[-5:]] == ["simple", "non_live_ast", "live", "irrelevance", "overall"]
    metrics = flat_metrics(scores)
    assert metrics["bfcl/overall"] == scores["overall"] and metrics["bfcl/simple_java/n"] == 2
    assert metrics["bfcl/unparseable"] == scores["unparseable"] and metrics["bfcl/simple_java/unparseable"] == 0.5


def test_a_category_left_out_is_left_out_of_the_means():
    scores = score_rows(rows_for({"simple_python": (1, 2), "live_simple": (1, 1)}), ["simple_python", "live_simple"])
    assert scores["non_live_ast"] == pytest.approx(0.5) and scores["live"] == pytest.approx(1.0)
    assert scores["irrelevance"] is None and "n/a" in format_table(scores).splitlines()[-2]


# -- prompts ------------------------------------------------------------------------------------

def test_language_notes_retype_java_parameters_in_the_prompt_only():
    docs = [{"name": "Util.copy", "description": "Copies.", "parameters": {"type": "dict", "properties": {
        "items": {"type": "ArrayList", "description": "What.", "items": {"type": "String"}},
        "target": {"type": "any", "description": "Where."}}, "required": ["items"]}}]
    noted = language_notes(docs, "simple_java")
    props = noted[0]["parameters"]["properties"]
    assert noted[0]["description"] == "Copies. Note that the provided function is in Java 8 SDK syntax."
    assert props["items"] == {"type": "string", "description": "What. This is Java ArrayList type parameter in "
                              "string representation. The list elements are of type String; they are not in "
                              "string representation."}
    assert props["target"]["type"] == "string" and "any type of Java object" in props["target"]["description"]
    assert docs[0]["parameters"]["properties"]["items"]["type"] == "ArrayList"  # the checker's copy is untouched
    python = language_notes(docs, "live_simple")[0]
    assert python["description"].endswith("in Python 3 syntax.") and python["parameters"] == docs[0]["parameters"]


def test_installed_bfcl_eval_data_folder_is_found(tmp_path, monkeypatch):
    import importlib

    data = tmp_path / "bfcl_eval" / "data"
    data.mkdir(parents=True)
    (tmp_path / "bfcl_eval" / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (data / "BFCL_v4_simple_python.json").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "bfcl_eval", raising=False)  # the real one may be imported already
    importlib.invalidate_caches()
    assert installed_bfcl_data() == str(data)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="evaluate")
    assert cfg.eval.data_dir == str(data)


# -- generate -> parse -> check -----------------------------------------------------------------

class ScriptedEngine:
    """Answers each prompt (token ids) with the text scripted for it; records every call."""

    def __init__(self, tokenizer, answers: dict[tuple[int, ...], str]):
        self.tokenizer = tokenizer
        self.answers = answers
        self.calls: list[dict] = []

    def generate(self, prompts, *, max_new_tokens, greedy=False, **_):
        self.calls.append({"sizes": [len(p) for p in prompts], "max_new_tokens": max_new_tokens, "greedy": greedy})
        ids = [self.tokenizer(self.answers.get(tuple(p), "no idea"), add_special_tokens=False)["input_ids"]
               for p in prompts]
        return Rollouts([i[:max_new_tokens] + [self.tokenizer.eos_token_id] for i in ids])


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from funcall.models.load import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


def scripted(task: BFCLEval, tokenizer, texts: dict[str, str]) -> ScriptedEngine:
    return ScriptedEngine(tokenizer, {tuple(task.encode(tokenizer, e)): texts[e.id] for e in task.examples
                                      if e.id in texts})


def right_answer(example: Example) -> str:
    return render_python_calls(example.calls)


@needs_data
def test_generate_parse_check_with_a_scripted_engine(tokenizer):
    task = BFCLEval(data_dir=str(BFCL_DATA), categories=["simple_python", "parallel", "irrelevance"], limit=3,
                    batch_size=2, max_new_tokens=200)
    assert task.load() == 9
    by_id = {e.id: e for e in task.examples}
    texts = {"simple_python_0": right_answer(by_id["simple_python_0"]),
             "simple_python_1": "```\n" + right_answer(by_id["simple_python_1"]) + "\n```",  # BFCL trims plain fences
             "simple_python_2": "I would call " + right_answer(by_id["simple_python_2"]),   # prose: not decodable
             "parallel_0": right_answer(by_id["parallel_0"]),
             "parallel_1": render_python_calls(by_id["parallel_1"].calls[:1]),  # one of the calls only
             "irrelevance_0": "[]", "irrelevance_1": "None of these functions fits.",
             "irrelevance_2": "[get_weather(city='Oslo')]"}
    engine = scripted(task, tokenizer, texts)
    rows = task.run(engine, tokenizer, ONE_RANK)
    valid = {r["id"]: r["valid"] for r in rows}
    assert valid == {"simple_python_0": True, "simple_python_1": True, "simple_python_2": False,
                     "parallel_0": True, "parallel_1": False, "parallel_2": False,
                     "irrelevance_0": True, "irrelevance_1": True, "irrelevance_2": False}
    row = {r["id"]: r for r in rows}
    assert row["simple_python_2"]["error_type"] == "ast_decoder:decoder_failed"
    assert row["irrelevance_2"]["decoded"] == [{"get_weather": {"city": "Oslo"}}]
    assert row["simple_python_0"]["completion"] == texts["simple_python_0"]
    assert [r["index"] for r in rows] == list(range(9))
    # batched as configured, greedy, with the configured budget, short prompts first
    assert [len(c["sizes"]) for c in engine.calls] == [2, 2, 2, 2, 1]
    assert all(c["greedy"] and c["max_new_tokens"] == 200 for c in engine.calls)
    sizes = [s for c in engine.calls for s in c["sizes"]]
    assert sizes == sorted(sizes)
    json.dumps(rows)  # every row is plain JSON


def test_answers_are_decoded_by_answer_format():
    tool = {"name": "add", "description": "Adds.", "parameters": {"type": "dict", "properties": {
        "a": {"type": "integer", "description": "x"}}, "required": ["a"]}}
    example = Example(id="simple_python_9", tools=[tool], messages=[{"role": "user", "content": "add 1"}],
                      calls=[{"name": "add", "arguments": {"a": 1}}], possible_answer=[{"add": {"a": [1]}}])
    text = "<think>a is 1</think><answer>[add(a=1)]</answer>"
    think = BFCLEval(prompt=PromptStyle(answer_format="think_answer"))
    assert think.grade(example, text)["valid"] and think.grade(example, text)["format_ok"]
    raw = BFCLEval(prompt=PromptStyle(answer_format="think_answer"), decode="raw")
    assert raw.grade(example, text)["error_type"] == "ast_decoder:decoder_failed"  # BFCL alone cannot read tags
    python = BFCLEval()
    assert python.grade(example, "<think>a is 1</think>\n[add(a=1)]")["valid"]  # a leading think block is dropped
    assert not python.grade(example, "[add(a=2)]")["valid"]


@needs_data
def test_ranks_share_the_entries_and_make_the_same_calls(tokenizer):
    task = BFCLEval(data_dir=str(BFCL_DATA), categories=["simple_python", "parallel", "irrelevance"], limit=3,
                    batch_size=2, max_new_tokens=200)
    task.load()
    answers = {e.id: right_answer(e) for e in task.examples}
    calls, seen = [], []
    for rank in (0, 1):
        dist = DistInfo(rank=rank, world_size=2, local_rank=rank)
        rows = task.run(scripted(task, tokenizer, answers), tokenizer, dist)
        assert all(r["valid"] for r in rows)
        seen += [r["index"] for r in rows]
        # 9 entries: rank 0 gets 5, rank 1 gets 4 and pads to the 5 that the ranks agree on
        # (by an all-gather in a real process group; given here).
        engine = scripted(task, tokenizer, answers)
        prompts = [task.encode(tokenizer, task.examples[i]) for i in range(rank, 9, 2)]
        out = generate_in_step(engine, prompts, batch_size=2, max_new_tokens=200, sent_per_rank=5)
        assert len(out) == len(prompts) and all(out)
        calls.append([len(c["sizes"]) for c in engine.calls])
    assert sorted(seen) == list(range(9))
    assert calls[0] == calls[1] == [2, 2, 1]


@needs_data
def test_prompts_over_the_context_are_not_run_and_count_as_wrong(tokenizer):
    """An over-long prompt used to get the empty answer, which BFCL scores right in irrelevance."""
    task = BFCLEval(data_dir=str(BFCL_DATA), categories=["simple_python", "irrelevance"], limit=2, max_new_tokens=16)
    task.load()
    engine = scripted(task, tokenizer, {e.id: right_answer(e) for e in task.examples})
    rows = task.run(engine, tokenizer, ONE_RANK, context_length=16 + 10)  # no BFCL prompt is 10 tokens
    assert engine.calls == [] and all(r["not_run"] and r["prompt_too_long"] and r["completion"] == "" for r in rows)
    assert [r["valid"] for r in rows] == [False] * 4  # irrelevance too: nothing ran, nothing is right
    assert {r["error_type"] for r in rows} == {"not_run:prompt_too_long"} and rows[0]["decoded"] is None
    scores = score_rows(rows, task.categories)
    assert scores["irrelevance"] == 0.0 and scores["categories"]["irrelevance"] == {"accuracy": 0.0, "n": 2, "not_run": 2,
                                                                                     "unparseable": None}
    assert scores["not_run"] == 4 and scores["format_ok"] is None  # no answer was generated to be in a format
    assert scores["unparseable"] is None and {r["parse"] for r in rows} == {None}  # nor one that did not parse
    assert flat_metrics(scores)["bfcl/not_run"] == 4 and flat_metrics(scores)["bfcl/irrelevance/not_run"] == 2


@needs_data
def test_prompts_that_fit_are_run_and_graded_the_others_are_not(tokenizer, tmp_path, caplog):
    task = BFCLEval(data_dir=str(BFCL_DATA), categories=["simple_python", "irrelevance"], limit=4, max_new_tokens=16)
    task.load()
    answers = {e.id: right_answer(e) if e.category == "simple_python" else "[]" for e in task.examples}
    unlimited = {r["id"]: r["valid"] for r in task.run(scripted(task, tokenizer, answers), tokenizer, ONE_RANK)}
    lengths = {e.id: len(task.encode(tokenizer, e)) for e in task.examples}
    task.max_prompt_tokens = sorted(lengths.values())[3]  # the 4 shortest (and any tie) fit
    engine = scripted(task, tokenizer, answers)
    rows = task.run(engine, tokenizer, ONE_RANK, context_length=100_000)  # max_prompt_tokens wins
    over = {i for i, n in lengths.items() if n > task.max_prompt_tokens}
    assert 0 < len(over) < 8 and sum(len(c["sizes"]) for c in engine.calls) == 8 - len(over)
    assert {r["id"] for r in rows if r["not_run"]} == over
    assert {r["id"]: r["valid"] for r in rows} == {i: ok and i not in over for i, ok in unlimited.items()}
    with caplog.at_level("WARNING", logger="funcall"):
        report = task.report(rows, tmp_path, {"model": "scripted"})
    scores = json.loads((tmp_path / "bfcl_scores.json").read_text())
    for c in task.categories:
        skipped = sum(i in over for i in lengths if i.startswith(c))
        right = sum(ok and i not in over for i, ok in unlimited.items() if i.startswith(c))
        ran = [r["parse"] for r in rows if r["category"] == c and not r["not_run"]]  # unrun entries are not counted
        unparseable = ran.count("unparseable") / len(ran) if ran else None
        assert scores["categories"][c] == {"accuracy": right / 4, "n": 4, "not_run": skipped, "unparseable": unparseable}
        line = next(x for x in report.table.splitlines() if x.startswith(c + " "))
        assert line.split() == [c, "4", str(skipped), f"{100 * right / 4:.2f}", "n/a" if not ran else f"{100 * unparseable:.2f}"]
    assert scores["not_run"] == len(over) and scores["n"] == 8
    # the answers that ran parsed, but for those max_new_tokens=16 cut; irrelevance's "[]" is no call
    assert all(r["hit_max_new_tokens"] for r in rows if r["parse"] == "unparseable")
    ran = [r for r in rows if not r["not_run"]]
    assert scores["unparseable"] == sum(r["parse"] == "unparseable" for r in ran) / len(ran)
    assert scores["no_call_frac"] == sum(r["category"] == "irrelevance" for r in ran) / len(ran) > 0
    assert scores["categories"]["irrelevance"]["accuracy"] == (4 - sum(i in over for i in lengths if "irr" in i)) / 4
    assert f"{len(over)} of 8 BFCL entries were not run" in caplog.text


def test_humaneval_problems_over_the_prompt_limit_are_not_run_and_fail(tokenizer, tmp_path, caplog):
    """HumanEval's counterpart: a problem whose prompt is over the limit is neither generated nor
    run in the sandbox; all its samples fail, and the scores, table and metrics count it."""
    from funcall.eval.humaneval import HumanEvalTask
    from funcall.eval.sandbox import STRONG_LAYERS, Sandbox

    if not set(STRONG_LAYERS) <= set(Sandbox().isolation):
        pytest.skip("model code runs only with namespaces + throw-away uid (root on Linux)")
    task = HumanEvalTask(limit=3, samples=2, temperature=0.5, k=[1, 2], max_new_tokens=512,
                         sandbox={"workers": 2, "timeout_s": 10})
    task.load()
    lengths = [len(task.encode(tokenizer, p)) for p in task.problems]
    task.max_prompt_tokens = sorted(lengths)[1]
    over = [n > task.max_prompt_tokens for n in lengths]
    fenced = {tuple(task.encode(tokenizer, p)): "```python\n" + p["prompt"] + p["canonical_solution"] + "```"
              for p in task.problems}
    engine = ScriptedEngine(tokenizer, fenced)
    rows = task.run(engine, tokenizer, ONE_RANK, context_length=100_000)  # max_prompt_tokens wins
    assert sum(over) == 1 and sorted(s for c in engine.calls for s in c["sizes"]) == sorted(
        2 * [n for n, o in zip(lengths, over) if not o])
    assert [r["not_run"] for r in rows] == over and [r["correct"] for r in rows] == [0 if o else 2 for o in over]
    skipped = rows[over.index(True)]
    assert skipped["samples"][0]["result"] == "not_run: prompt_too_long" and skipped["n"] == 2
    with caplog.at_level("WARNING", logger="funcall"):
        report = task.report(rows, tmp_path, {"model": "scripted"})
    scores = json.loads((tmp_path / "humaneval_scores.json").read_text())
    assert scores["not_run"] == 1 and scores["pass@k"]["1"] == pytest.approx(2 / 3)
    assert report.metrics["humaneval/not_run"] == 1 and "1 not run" in report.table.splitlines()[0]
    assert "HumanEval: 1 of 3 problems were not run" in caplog.text


def test_a_request_system_message_follows_ours(tokenizer):
    example = Example(id="live_simple_0", tools=[], calls=[], category="live_simple",
                      messages=[{"role": "system", "content": "The user is in Oslo."},
                                {"role": "user", "content": "Weather?"}])
    prompt = tokenizer.decode(BFCLEval().encode(tokenizer, example))
    system = prompt.split("<|im_start|>user")[0]
    assert "Reply with the calls only" in system and system.rstrip().endswith("The user is in Oslo.<|im_end|>")


# -- config -------------------------------------------------------------------------------------

def compose_evaluate(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="evaluate", overrides=overrides)


@pytest.mark.parametrize("option", sorted(p.stem for p in (REPO / "conf" / "eval").glob("*.yaml")))
@pytest.mark.parametrize("deepspeed", ["zero0", "zero3_offload"])
def test_evaluate_config_composes(option, deepspeed):
    data_dir = ["eval.data_dir=/data"] if option == "bfcl" else []  # only BFCL's keys sit at eval.*
    cfg = compose_evaluate([f"eval={option}", f"deepspeed={deepspeed}", *data_dir])
    OmegaConf.to_container(cfg, resolve=True)
    assert [task.name for task in build_tasks(cfg)] == [option]


def test_bfcl_defaults():
    cfg = compose_evaluate([])
    assert tuple(cfg.eval.categories) == SINGLE_TURN_CATEGORIES and cfg.eval.limit is None
    assert cfg.eval.prompt.answer_format == "python" and cfg.eval.prompt.tool_style == "json"
    assert cfg.eval.data_dir == installed_bfcl_data()  # the installed bfcl-eval package's data (None without one)
    with pytest.raises(ConfigError, match="eval.data_dir"):
        BFCLEval(data_dir=None).load()


def test_bad_config_and_data_are_user_errors(tmp_path):
    with pytest.raises(ConfigError, match="eval.categories: unknown category 'simple'"):
        BFCLEval(data_dir=str(tmp_path), categories=["simple"]).load()
    with pytest.raises(ConfigError, match="eval.decode"):
        BFCLEval(data_dir=str(tmp_path), decode="json").load()
    with pytest.raises(DataError, match="BFCL_v4_multiple.json: no such file"):
        BFCLEval(data_dir=str(tmp_path), categories=["multiple"]).load()


def test_inference_deepspeed_config_has_nothing_optimizer_shaped():
    zero2 = compose_evaluate(["deepspeed=zero2"]).deepspeed
    assert inference_ds_config(OmegaConf.to_container(zero2, resolve=True))["zero_optimization"] == {"stage": 0}
    offload = inference_ds_config(OmegaConf.to_container(compose_evaluate(["deepspeed=zero3_offload"]).deepspeed,
                                                         resolve=True))
    assert offload["zero_optimization"]["stage"] == 3 and "offload_param" in offload["zero_optimization"]
    assert "offload_optimizer" not in offload["zero_optimization"]


# -- the app, end to end ------------------------------------------------------------------------

def read_results(run) -> list[dict]:
    return [json.loads(line) for line in (run / "bfcl_results.jsonl").read_text().splitlines()]


@needs_data
def test_evaluate_tiny_model_end_to_end(tmp_path):
    run = tmp_path / "run"
    proc = run_train([f"eval.data_dir={BFCL_DATA}", "eval.limit=2", "eval.max_new_tokens=8", "logger=none"], run,
                     module="funcall.evaluate")
    scores = json.loads((run / "bfcl_scores.json").read_text())
    assert set(scores["categories"]) == set(SINGLE_TURN_CATEGORIES)
    assert all(v["n"] == 2 and 0.0 <= v["accuracy"] <= 1.0 for v in scores["categories"].values())
    for key in ("non_live_ast", "live", "irrelevance", "overall"):
        assert 0.0 <= scores[key] <= 1.0
    assert scores["overall"] == pytest.approx((scores["non_live_ast"] + scores["live"]) / 2)
    rows = read_results(run)
    assert len(rows) == 24 and len({r["id"] for r in rows}) == 24
    assert {"id", "category", "valid", "error_type", "completion", "decoded"} <= set(rows[0])
    assert sum(r["valid"] for r in rows) == sum(round(v["accuracy"] * 2) for v in scores["categories"].values())
    assert "non_live_ast" in proc.stdout and "live_parallel_multiple" in proc.stdout
    cut = sum(r["hit_max_new_tokens"] for r in rows)
    assert (f"{cut} of 24 answers used the whole" in proc.stdout) == (cut > 0)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["bfcl/overall"] == scores["overall"] and summary["world_size"] == 1


@needs_data
def test_a_context_too_short_scores_irrelevance_0_not_100(tmp_path, tokenizer):
    """The real app on the tiny model with a prompt limit that some irrelevance prompts fit and
    no live_irrelevance prompt does: before, the unrun ones got the empty answer and
    live_irrelevance scored 100% without one token generated."""
    categories = ["irrelevance", "live_irrelevance"]
    probe = BFCLEval(data_dir=str(BFCL_DATA), categories=categories, limit=3)
    probe.load()
    lengths = {e.id: len(probe.encode(tokenizer, e)) for e in probe.examples}
    limit = sorted(n for i, n in lengths.items() if i.startswith("irrelevance"))[1]  # 2 of 3 irrelevance fit
    over = {i for i, n in lengths.items() if n > limit}
    assert all(i in over for i in lengths if i.startswith("live_"))  # their prompts are ~2k tokens
    run = tmp_path / "run"
    proc = run_train([f"eval.data_dir={BFCL_DATA}", f"eval.categories=[{','.join(categories)}]", "eval.limit=3",
                      "eval.max_new_tokens=4", f"eval.max_prompt_tokens={limit}", "logger=none"], run,
                     module="funcall.evaluate")
    scores = json.loads((run / "bfcl_scores.json").read_text())
    assert scores["categories"]["live_irrelevance"] == {"accuracy": 0.0, "n": 3, "not_run": 3, "unparseable": None}
    skipped = sum(i in over for i in lengths if i.startswith("irrelevance"))
    assert scores["categories"]["irrelevance"]["not_run"] == skipped == 3 - 2
    assert scores["not_run"] == len(over) == 4 and scores["n"] == 6
    rows = read_results(run)
    assert {r["id"] for r in rows if r["not_run"]} == over
    assert all(not r["valid"] and r["error_type"] == "not_run:prompt_too_long" and r["completion"] == ""
               for r in rows if r["not_run"])
    ran = [r for r in rows if not r["not_run"]]
    assert scores["categories"]["irrelevance"]["accuracy"] == sum(r["valid"] for r in ran) / 3  # graded ones only
    assert scores["irrelevance"] == sum(r["valid"] for r in ran) / 6
    assert scores["unparseable"] == scores["categories"]["irrelevance"]["unparseable"] == (  # over the answers that ran
        sum(r["parse"] == "unparseable" for r in ran) / 2)
    table = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] in (["category"], *[[c] for c in categories])]
    assert table[0] == ["category", "n", "not_run", "accuracy", "%", "unparseable", "%"]
    assert table[1][:3] == ["irrelevance", "3", str(skipped)] and table[2] == ["live_irrelevance", "3", "3", "0.00", "n/a"]
    assert table[3] == ["irrelevance", "6", "4", f"{100 * scores['irrelevance']:.2f}"]  # the summary row
    assert "4 of 6 BFCL entries were not run" in proc.stdout + proc.stderr
    assert json.loads((run / "summary.json").read_text())["bfcl/not_run"] == 4


def test_missing_data_dir_is_one_line_and_exit_2(tmp_path):
    proc = run_train([f"eval.data_dir={tmp_path / 'nowhere'}", "logger=none"], tmp_path / "run",
                     module="funcall.evaluate", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: eval.data_dir={tmp_path / 'nowhere'}: no such directory"]
    assert not (tmp_path / "run" / "bfcl_scores.json").exists()


@pytest.mark.slow
@pytest.mark.distributed
@needs_data
def test_two_ranks_zero3_with_wandb_match_one_process(tmp_path):
    args = [f"eval.data_dir={BFCL_DATA}", "eval.categories=[simple_python,irrelevance,live_simple]", "eval.limit=3",
            "eval.max_new_tokens=12", "eval.batch_size=2"]
    single = tmp_path / "single"
    run_train([*args, "logger=none"], single, module="funcall.evaluate")
    sharded = tmp_path / "sharded"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "funcall.evaluate", *args,
           "deepspeed=zero3", "logger=wandb", f"hydra.run.dir={sharded}"]
    proc = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "WANDB_MODE": "offline"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    one, two = read_results(single), read_results(sharded)
    assert [r["id"] for r in two] == [r["id"] for r in one] and len(two) == 9  # 9 entries over 2 ranks: 5 + 4
    assert [r["completion"] for r in two] == [r["completion"] for r in one]
    assert json.loads((sharded / "summary.json").read_text())["world_size"] == 2
    assert list((sharded / "wandb").glob("offline-run-*"))
