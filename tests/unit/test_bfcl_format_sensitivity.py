"""``eval=bfcl_format_sensitivity``: bfcl-eval's prompts for all 26 configurations, its decoders, its report.

The reference is the installed bfcl-eval's own code. Its ``model_handler/utils.py`` cannot be
imported here (it pulls tree-sitter and tenacity, which the ``--no-deps`` install lacks, for the
Java/JS parsers and API retries), so `official` compiles the functions this task reproduces from
that file's source text (prompt building and the prompting decoder), next to bfcl-eval's real
constants and its JSON/XML parser modules. bfcl-eval's decoder ``eval``s nothing for these
inputs except ``ast.literal_eval``, so running it on the test's texts is safe.
"""
from __future__ import annotations

import ast
import json
import re
import statistics
import time
from pathlib import Path

import pytest

from conftest import run_train
from funcall.bfcl.data import load_category
from funcall.calls.limits import ParseFailure
from funcall.envs.bfcl_data import installed_bfcl_data
from funcall.eval.bfcl_format_sensitivity import (
    CONFIGS,
    IDS_FILE,
    BFCLFormatSensitivityEval,
    decode_answer,
    messages_for,
    summarize,
)
from funcall.eval.bfcl_prompt import language_notes

bfcl_eval = pytest.importorskip("bfcl_eval")
BFCL_DATA = Path(installed_bfcl_data() or "no-bfcl-data")  # the package's data: it holds the format-sensitivity list
OFFICIAL_FUNCTIONS = ("formulate_system_prompt", "format_function_doc", "_generate_function_doc_xml",
                      "_generate_function_doc_python", "parse_prompt_variation_params",
                      "system_prompt_pre_processing_chat_model", "default_decode_ast_prompting", "ast_parse",
                      "resolve_ast_call", "resolve_ast_by_type")


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """bfcl-eval's functions named in OFFICIAL_FUNCTIONS, compiled from its installed source."""
    import os

    os.environ.setdefault("BFCL_PROJECT_ROOT", str(tmp_path_factory.mktemp("bfcl_root")))
    from typing import Optional

    import bfcl_eval.constants.default_prompts as prompts
    from bfcl_eval.constants.enums import ReturnFormat
    from bfcl_eval.model_handler.parser import json_parser, xml_parser
    from bfcl_eval.utils import extract_prompt_format_from_id, get_all_format_sensitivity_configs

    source = (Path(bfcl_eval.__file__).parent / "model_handler" / "utils.py").read_text()
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in OFFICIAL_FUNCTIONS]
    assert len(tree.body) == len(OFFICIAL_FUNCTIONS)
    namespace = {**vars(prompts), "re": re, "json": json, "ast": ast, "Optional": Optional, "ReturnFormat": ReturnFormat,
                 "parse_json_function_call": json_parser.parse_json_function_call,
                 "parse_verbose_xml_function_call": xml_parser.parse_verbose_xml_function_call,
                 "parse_concise_xml_function_call": xml_parser.parse_concise_xml_function_call,
                 "extract_prompt_format_from_id": extract_prompt_format_from_id,
                 "configs": get_all_format_sensitivity_configs}
    exec(compile(tree, "bfcl_eval/model_handler/utils.py", "exec"), namespace)  # noqa: S102 - bfcl-eval's own code
    return namespace


def test_the_26_configurations_are_bfcl_evals(official):
    assert list(CONFIGS) == official["configs"]() and len(CONFIGS) == 26


def test_system_prompt_is_bfcl_evals_for_every_entry_and_configuration(official):
    """All 200 entries x 26 configurations: funcall's messages equal bfcl-eval's, character for character
    (its entries come with its own language hints; ours get `language_notes` from the data files)."""
    from bfcl_eval.utils import load_dataset_entry

    ids = json.loads((BFCL_DATA / IDS_FILE).read_text())
    compared = 0
    for category, wanted in ids.items():
        theirs = {e["id"]: e for e in load_dataset_entry(category) if e["id"] in wanted}
        for entry in (e for e in load_category(BFCL_DATA, category) if e.id in wanted):
            ours_docs = language_notes(entry.functions, category)
            for config in CONFIGS:
                expected = official["system_prompt_pre_processing_chat_model"](
                    json.loads(json.dumps(theirs[entry.id]["question"][0])), theirs[entry.id]["function"],
                    f"format_sensitivity_0:{config}:{entry.id}")
                assert messages_for(config, ours_docs, entry.question[0]) == expected, (entry.id, config)
                compared += 1
    assert compared == 200 * 26


def renderings(calls: list[tuple[str, dict]]) -> list[str]:
    """The calls written in each return format, with and without the tag, and some broken variants."""
    python = "[" + ", ".join(f"{n}({', '.join(f'{k}={v!r}' for k, v in a.items())})" for n, a in calls) + "]"
    as_json = json.dumps([{"function": n, "parameters": a} for n, a in calls])

    def xml_type(v):
        return {bool: "boolean", int: "integer", float: "float", list: "array", dict: "dict"}.get(type(v), "string")

    def xml_text(v):
        return repr(v) if isinstance(v, (list, dict)) else str(v)

    verbose = "<functions>" + "".join(
        f'<function name="{n}"><params>' + "".join(
            f'<param name="{k}" value="{xml_text(v)}" type="{xml_type(v)}"/>' for k, v in a.items())
        + "</params></function>" for n, a in calls) + "</functions>"
    concise = "<functions>" + "".join(
        f'<function name="{n}">' + "".join(
            f'<param name="{k}" type="{xml_type(v)}">{xml_text(v)}</param>' for k, v in a.items())
        + "</function>" for n, a in calls) + "</functions>"
    texts = []
    for text in (python, as_json, verbose, concise):
        texts += [text, f"<TOOLCALL>{text}</TOOLCALL>", f"```json\n{text}\n```", f"Sure: {text}", text[:-3],
                  f"<think>plan</think>{text}", text.replace('"', "'", 2)]
    return texts


def test_decoder_agrees_with_bfcl_evals(official):
    ids = json.loads((BFCL_DATA / IDS_FILE).read_text())
    from bfcl_eval.constants.enums import ReturnFormat

    checked = 0
    for category, wanted in ids.items():
        for entry in [e for e in load_category(BFCL_DATA, category) if e.id in wanted][:3]:
            calls = [(n, {k: v[0] for k, v in opts.items() if v and v[0] != ""})
                     for call in entry.ground_truth for n, opts in call.items()]
            for text in renderings(calls):
                for fmt in ("python", "json", "verbose_xml", "concise_xml"):
                    for tag in (False, True):
                        ours = decode_answer(text, fmt, tag)
                        try:
                            theirs = official["default_decode_ast_prompting"](
                                text.rsplit("</think>", 1)[-1], ReturnFormat(fmt), tag)
                        except Exception:  # noqa: BLE001 - bfcl-eval's decoder_failed
                            theirs = "decoder_failed"
                        assert (isinstance(ours, ParseFailure) if theirs == "decoder_failed" else ours == theirs), \
                            (text, fmt, tag, ours, theirs)
                        checked += 1
    assert checked > 3000


def test_hostile_answers_are_refused_quickly_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    hostile = [
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><functions>&b;</functions>',
        f'<functions><function name="f"><param name="a" type="array">__import__("pathlib").Path("{marker}").touch()'
        "</param></function></functions>",
        '<functions><function name="f"><param name="a" type="dict">' + "[" * 5000 + "]" * 5000 + "</param></function></functions>",
        "[" + "{" * 50_000 + "}" * 50_000 + "]",
        "[" + '{"function": "f", "parameters": {}}, ' * 20_000 + "]",
        "<TOOLCALL>" * 30_000,
        "x" * 10_000_000,
        '<functions><function name="f"><param name="a" type="integer">' + "9" * 5000 + "</param></function></functions>",
    ]
    start = time.perf_counter()
    for text in hostile:
        for fmt in ("python", "json", "verbose_xml", "concise_xml"):
            for tag in (False, True):
                decode_answer(text, fmt, tag)
    assert time.perf_counter() - start < 20
    assert not marker.exists()
    assert isinstance(decode_answer(hostile[0], "verbose_xml", False), ParseFailure)
    assert isinstance(decode_answer(hostile[1], "concise_xml", False), ParseFailure)


def test_report_is_bfcl_evals_spread():
    rows = [{"config": c, "valid": (i + k) % (k + 2) == 0} for k, c in enumerate(CONFIGS[:4]) for i in range(6)]
    summary = summarize(rows, list(CONFIGS))
    accuracies = [summary[c]["accuracy"] for c in CONFIGS[:4]]
    assert set(summary) >= set(CONFIGS[:4]) and CONFIGS[4] not in summary  # configurations not run are absent
    assert summary["accuracy_max_delta"] == round((max(accuracies) - min(accuracies)) * 100, 2) > 0
    assert summary["accuracy_std"] == round(statistics.stdev(accuracies) * 100, 2)
    assert summary["accuracy_variance"] == round(statistics.variance(accuracies) * 100**2, 2)
    assert summary["correct_count"] == sum(r["valid"] for r in rows) and summary["total_count"] == 24


def test_bad_configuration_is_one_line(tmp_path):
    from funcall.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="configs: 'ret_fmt=yaml'"):
        BFCLFormatSensitivityEval(data_dir=str(BFCL_DATA), configs=["ret_fmt=yaml"]).load()
    with pytest.raises(ConfigError, match="no BFCL_v4_format_sensitivity.json"):
        BFCLFormatSensitivityEval(data_dir=str(tmp_path)).load()


def test_evaluate_format_sensitivity_on_the_tiny_model(tmp_path):
    run = tmp_path / "run"
    proc = run_train([f"eval.data_dir={BFCL_DATA}", "eval=bfcl_format_sensitivity", "eval.limit=2",
                      "eval.bfcl_format_sensitivity.categories=[simple_python]",
                      "eval.bfcl_format_sensitivity.max_new_tokens=8", "logger=none"], run, module="funcall.evaluate")
    rows = [json.loads(line) for line in (run / "bfcl_format_sensitivity_results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 26 and {r["config"] for r in rows} == set(CONFIGS)
    ran = [r for r in rows if not r["not_run"]]
    assert ran, "every prompt was over the tiny model's context"
    own = json.loads((run / "bfcl_format_sensitivity_scores.json").read_text())
    scores = json.loads((run / "bfcl_scores.json").read_text())
    assert scores["format_sensitivity"]["total_count"] == 52 == own["total_count"]
    assert own["correct_count"] == sum(r["valid"] for r in rows)
    board = scores["leaderboard"]
    assert board["overall"] is None and len(board["not_run"]) == 21  # no scoring category ran here
    assert board["format_sensitivity"]["max_delta"] == own["accuracy_max_delta"]
    assert "format sensitivity: accuracy" in proc.stderr + proc.stdout
