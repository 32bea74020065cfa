"""`python -m funcall.prepare_data` end to end against a loopback chat-completions server.

The acceptance case: on an xLAM file, with a judge that passes everything, every broken call is
rejected at the AST stage with its reason and every sound sample is kept. Then the judge's faults,
one sample each: rejections, regenerated calls, slow replies, HTTP 500s, garbage; other input
formats, bad input, and the transformers backend with the tiny model.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import BFCL_DATA, REPO
from funcall.judges.prompts import TITLES
from funcall.judges.scripted_server import ChatServer, Reply, pass_all
from funcall.prepare_data import CONF_DIR, run

MIXED = REPO / "tests" / "data" / "prepare" / "xlam_mixed.json"
TASK_OF_TITLE = {title: task for task, title in TITLES.items()}


def prepare(out_dir: Path, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="prepare_data", overrides=[f"output_dir={out_dir}", "pipeline.progress=false", *overrides])
    return run(cfg)


def judge_at(server: ChatServer, *extra: str) -> list[str]:
    return [f"judge.base_url={server.url}", "judge.model=scripted-judge", "judge.api_key_env=null",
            "judge.backoff_s=0.01", "judge.backoff_max_s=0.05", *extra]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def outcome_by_id(out_dir: Path) -> dict[str, str]:
    outcomes = {row["id"]: "kept" for row in read_jsonl(out_dir / "train.jsonl")}
    for row in read_jsonl(out_dir / "rejected.jsonl"):
        assert row["id"] not in outcomes, f"{row['id']} is both kept and rejected"
        outcomes[row["id"]] = f"{row['stage']}/{row['reason']}"
    return outcomes


def task_of(request) -> str:
    return TASK_OF_TITLE[request.system.splitlines()[0]]


def test_pass_all_judge_keeps_sound_samples_and_rejects_every_broken_call(tmp_path, capsys):
    rows = json.loads(MIXED.read_text())
    with ChatServer(pass_all) as server:
        report = prepare(tmp_path, f"input.path={MIXED}", "input.format=xlam", "pipeline.progress=true", *judge_at(server))
    expected = {str(row["id"]): row["expect"] for row in rows}
    assert outcome_by_id(tmp_path) == expected
    assert {r.split("/")[1] for r in expected.values() if r.startswith("ast/")} == {
        "unknown_function", "missing_required", "unknown_argument", "unparseable_answer", "wrong_type"}
    for row in read_jsonl(tmp_path / "rejected.jsonl"):
        assert set(row) == {"id", "stage", "reason", "detail"} and row["detail"]

    kept = read_jsonl(tmp_path / "train.jsonl")
    assert [row["id"] for row in kept] == [k for k, v in expected.items() if v == "kept"]  # input order
    no_call = next(row for row in kept if row["calls"] == [])
    assert no_call["reasoning"] is None and no_call["meta"]["prepare"]["reasoning"] is None  # check 1: kept as is
    others = [row for row in kept if row["calls"]]
    assert all(row["reasoning"] and row["meta"]["prepare"]["reasoning"] == "teacher" for row in others)
    rome = next(row for row in kept if "Rome" in row["messages"][0]["content"])
    assert rome["calls"] == [{"name": "get_weather", "arguments": {"city": "Rome"}}]  # JSON-string arguments read

    assert report["samples"] == len(rows) == report["kept"] + report["rejected"] and report["accounted"]
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["rejected_by_reason"] == report["rejected_by_reason"]
    assert sum(on_disk["rejected_by_reason"].values()) == on_disk["rejected"]
    stages = on_disk["stages"]
    assert stages["input"]["in"] == len(rows) and stages["llm"]["in"] == len(rows) - 1
    assert stages["ast"]["passed"] == on_disk["kept"] and stages["llm"]["notes"]["no_call_kept"] == 1
    judge = on_disk["judge"]
    assert judge["requests"] == judge["sent"] == judge["answered"] == len(server.requests) > 0
    assert judge["prompt_tokens"] > 0 and judge["completion_tokens"] > 0 and judge["cache_hits"] == 0
    assert on_disk["wall_s"] > 0 and on_disk["config"]["judge"]["api_key_env"] is None

    from funcall.data.files import jsonl_source

    assert [e.id for e in jsonl_source(str(tmp_path / "train.jsonl"), eval_size=0).train()] == [row["id"] for row in kept]

    from datasets import load_from_disk

    dataset = load_from_disk(str(tmp_path / "dataset"))
    assert dataset["id"] == [row["id"] for row in kept]
    assert [json.loads(c) for c in dataset["calls"]] == [row["calls"] for row in kept]

    err = capsys.readouterr().err
    assert "prepare_data" in err and f"{len(rows) - 1}/{len(rows) - 1}" in err  # the progress bar

    with ChatServer(pass_all) as server:  # the same command again: everything from the cache
        again = prepare(tmp_path, f"input.path={MIXED}", "input.format=xlam", *judge_at(server))
    assert len(server.requests) == 0 and again["judge"]["cache_hits"] == judge["requests"]
    assert outcome_by_id(tmp_path) == expected


# -- judge faults, one sample each -----------------------------------------------------------------
W = {"name": "get_weather", "description": "Weather for a city.", "parameters": {
    "city": {"type": "str", "description": "City"}, "days": {"type": "int, optional", "description": "Days"}}}


def xlam_row(i: int, query: str, answers, reasoning: str | None = None) -> dict:
    row = {"id": f"r{i}", "query": query, "tools": json.dumps([W]),
           "answers": answers if isinstance(answers, str) else json.dumps(answers)}
    if reasoning:
        row["reasoning"] = reasoning
    return row


def weather(city: str, **more) -> list[dict]:
    return [{"name": "get_weather", "arguments": {"city": city, **more}}]


FAULT_ROWS = [
    (xlam_row(1, "[ok] Weather in Oslo?", weather("Oslo")), "kept"),
    (xlam_row(2, "[reject-query] Book me a table.", weather("Oslo")), "llm/query_tools_failed"),
    (xlam_row(3, "[fix-calls] Weather in Bergen?", weather("Oslo")), "kept"),
    (xlam_row(4, "[fix-unparseable] Weather in Lima?", '[{"name": "get_weather", "arguments": {"city": '), "kept"),
    (xlam_row(5, "[no-fix] Weather in Rome?", weather("Oslo")), "llm/calls_failed"),
    (xlam_row(6, "[fix-loop] Weather in Turku?", weather("Oslo")), "llm/calls_failed"),
    (xlam_row(7, "[bad-reasoning] Weather in Kyiv?", weather("Kyiv"), reasoning="Kyiv is in Spain."), "llm/reasoning_failed"),
    (xlam_row(8, "[slow] Weather in Riga?", weather("Riga")), "kept"),
    (xlam_row(9, "[http500] Weather in Oulu?", weather("Oulu")), "kept"),
    (xlam_row(10, "[garbage] Weather in Pisa?", weather("Pisa")), "llm/judge_unparseable"),
    (xlam_row(11, "[garbage-once] Weather in Bari?", weather("Bari")), "kept"),
    (xlam_row(12, "[down] Weather in Graz?", weather("Graz")), "llm/judge_error"),
    (xlam_row(13, "[html] Weather in Linz?", weather("Linz")), "llm/judge_error"),
    (xlam_row(14, "[teacher-garbage] Weather in Bonn?", weather("Bonn")), "llm/judge_unparseable"),
    (xlam_row(15, "[fix-to-broken] Weather in Gent?", weather("Oslo")), "ast/unknown_argument"),
    (xlam_row(16, "[fix-format] Weather in Nice?", '[{"name": "get_weather", "arguments": "city=Nice"}]'), "kept"),
]


def fault_script(request) -> Reply:
    marker = request.user.split("user: [", 1)[1].split("]", 1)[0]
    task = task_of(request)
    shows = request.user.rsplit("Answer", 1)[-1]
    teacher = Reply("<think>The user wants the weather; the city comes from the request.</think>\n[calls]")
    if marker == "slow" and task == "query_tools" and request.seen == 0:
        return Reply("<judge>True</judge>", delay_s=6.0)
    if marker == "http500" and request.seen < 2:
        return Reply(status=500)
    if marker == "down":
        return Reply(status=503)
    if marker == "html":
        return Reply(raw_body=b"<html><body>502 Bad Gateway</body></html>")
    if marker == "garbage" or (marker == "garbage-once" and request.body.get("seed") is None):
        return Reply("I would rather not say.")
    if task == "teacher":
        return Reply("Weather, city from the request. [get_weather(city='Bonn')]") if marker == "teacher-garbage" else teacher
    if marker == "reject-query" and task == "query_tools":
        return Reply("No tool books tables. <judge>False</judge>")
    if marker == "bad-reasoning" and task == "reasoning":
        return Reply("Kyiv is not in Spain. <judge>False</judge>")
    if task == "calls":
        if marker == "fix-calls" and "city='Oslo'" in shows:
            return Reply("The city is Bergen. <judge>False</judge><NewFC>[get_weather(city='Bergen')]</NewFC>")
        if marker == "fix-unparseable" and "could not be read" in shows:
            return Reply('<judge>False</judge><NewFC>[{"name": "get_weather", "arguments": {"city": "Lima"}}]</NewFC>')
        if marker == "no-fix":
            return Reply("The city is wrong. <judge>False</judge>")
        if marker == "fix-loop":
            return Reply(f"<judge>False</judge><NewFC>[get_weather(city='Turku{request.seen}{len(shows)}')]</NewFC>")
        if marker == "fix-to-broken" and "city='Oslo'" in shows:
            return Reply("<judge>False</judge><NewFC>[get_weather(city='Gent', country='BE')]</NewFC>")
    if task == "format" and marker == "fix-format":
        return Reply("Not Python syntax. <judge>False</judge><NewFC>[get_weather(city='Nice')]</NewFC>")
    return Reply("<judge>True</judge>")


def test_judge_faults_end_each_sample_where_they_should(tmp_path):
    path = tmp_path / "faults.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row, _ in FAULT_ROWS))
    out = tmp_path / "out"
    with ChatServer(fault_script) as server:
        report = prepare(out, f"input.path={path}", *judge_at(server, "judge.timeout_s=2.0", "judge.max_retries=2"),
                         "pipeline.max_rounds=2", "pipeline.attempts=3")
    assert outcome_by_id(out) == {row["id"]: expected for row, expected in FAULT_ROWS}
    kept = {row["id"]: row for row in read_jsonl(out / "train.jsonl")}
    assert kept["r3"]["calls"] == weather("Bergen") and kept["r3"]["meta"]["prepare"]["regenerated"] == 1
    assert kept["r4"]["calls"] == weather("Lima") and kept["r16"]["calls"] == weather("Nice")
    assert kept["r3"]["reasoning"].startswith("The user wants the weather")
    rejected = {row["id"]: row for row in read_jsonl(out / "rejected.jsonl")}
    assert "after 2 regeneration round" in rejected["r6"]["detail"]
    assert "no usable correction" in rejected["r5"]["detail"]
    assert rejected["r12"]["detail"].startswith("check query_tools: http_503")
    assert "bad_response" in rejected["r13"]["detail"]
    assert rejected["r14"]["detail"].startswith("teacher: no <think>")
    assert "'country' is not declared" in rejected["r15"]["detail"]

    def asked(marker, task=None):
        return server.count(lambda r: f"user: [{marker}]" in r.user and (task is None or task_of(r) == task))

    assert asked("reject-query") == 1  # nothing is asked after a failed check 2
    assert asked("bad-reasoning", "teacher") == 0  # the input's reasoning is judged, not rewritten
    assert asked("fix-loop", "calls") == 3  # max_rounds=2: the first ask and two regenerations
    assert asked("http500") == 4 * 3  # checks 2, 4, 3 and the teacher: each two 500s, then answered
    assert asked("garbage", "query_tools") == 3  # pipeline.attempts
    assert asked("down") == 3  # 1 + judge.max_retries
    judge = report["judge"]
    assert judge["retried"]["http_500"] == 4 * 2 and judge["retried"]["timeout"] >= 1
    assert judge["errors"] == {"http_503": 1, "bad_response": 1}
    assert judge["unparseable"] >= 3 + 1 + 3
    assert report["stages"]["llm"]["notes"]["calls_regenerated"] == 4  # r3, r4, r15, r16 (r6 never passed)
    assert report["accounted"] and report["kept"] + report["rejected"] == len(FAULT_ROWS)


def test_ast_first_spends_nothing_on_broken_samples(tmp_path):
    with ChatServer(pass_all) as server:
        report = prepare(tmp_path, f"input.path={MIXED}", "pipeline.stages=[ast,llm,ast]", *judge_at(server))
    asked_about = {json.dumps(r["messages"]) for r in server.requests}
    assert not any("Forecast for Oslo" in text or "Flights from OSL." in text for text in asked_about)
    assert report["rejected_by_reason"]["ast/wrong_type"] == 4 and report["stages"]["ast_2"]["rejected"] == {}
    assert report["kept"] == 8


def test_ast_only_needs_no_judge(tmp_path):
    report = prepare(tmp_path, f"input.path={MIXED}", "pipeline.stages=[ast]", "judge.model=unused")
    assert report["judge"] is None and report["kept"] == 8 and report["rejected"] == 10
    assert not (tmp_path / "judge_cache.sqlite").exists()


def test_jsonl_input_with_unreadable_calls_and_repeated_ids(tmp_path):
    tools = [{"name": "f", "parameters": {"type": "dict", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}]
    good = {"id": "a", "tools": tools, "messages": [{"role": "user", "content": "f of 1"}],
            "calls": [{"name": "f", "arguments": {"x": 1}}], "reasoning": "x is 1."}
    rows = [good, {**good, "id": "b", "calls": [{"name": "f", "arguments": "x=1"}]}, {**good},  # repeated id a
            {**good, "id": "c", "calls": [{"name": "f", "arguments": {"x": "1"}}]}, {"id": "d", "tools": tools}]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with ChatServer(pass_all) as server:
        report = prepare(tmp_path / "out", f"input.path={path}", "input.format=jsonl", *judge_at(server))
    kept = [(row["id"], "kept") for row in read_jsonl(tmp_path / "out" / "train.jsonl")]
    rejected = [(row["id"], f"{row['stage']}/{row['reason']}") for row in read_jsonl(tmp_path / "out" / "rejected.jsonl")]
    assert kept + rejected == [("a", "kept"), ("b", "ast/unparseable_answer"), ("a", "input/duplicate_id"),
                               ("c", "ast/wrong_type"), ("d", "input/malformed_row")]  # the second "a" is the duplicate
    assert report["samples"] == 5 and report["accounted"]
    kept = read_jsonl(tmp_path / "out" / "train.jsonl")[0]
    assert kept["reasoning"] == "x is 1." and kept["meta"]["prepare"]["reasoning"] == "input"


def test_bfcl_input(tmp_path):
    with ChatServer(pass_all) as server:
        report = prepare(tmp_path, f"input.path={BFCL_DATA}", "input.format=bfcl", "input.categories=[simple_python,multiple]",
                         "input.limit=6", *judge_at(server))
    assert report["samples"] == 6 and report["accounted"]
    kept = read_jsonl(tmp_path / "train.jsonl")
    assert kept and all(row["possible_answer"] for row in kept)  # BFCL's grading kept when the calls are


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "funcall.prepare_data", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("make_input,needle", [
    (lambda d: d / "missing.jsonl", "missing.jsonl: no such file"),
    (lambda d: (d / "bad.jsonl").write_text('{"id": 1, "query": "q", "tools": "[]", "answers": "[]"}\n{"id": 2,\n')
     and d / "bad.jsonl", "bad.jsonl:2: invalid JSON"),
    (lambda d: d / "missing.jsonl", None),  # a missing judge.model is a config error too
])
def test_bad_input_is_one_line_exit_2_and_leaves_the_output_dir_alone(tmp_path, make_input, needle):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.jsonl").write_text("from an earlier run\n")
    path = make_input(tmp_path)
    judge = ["judge.model=m"] if needle else []
    proc = run_cli(f"input.path={path}", f"output_dir={out}", *judge)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert (needle or "judge.model") in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["train.jsonl"]
    assert (out / "train.jsonl").read_text() == "from an earlier run\n"
    assert not (REPO / "outputs" / "prepare_data").exists()


def test_transformers_backend_with_the_tiny_model(tmp_path, tiny_model_dir):
    report = prepare(tmp_path, f"input.path={MIXED}", "input.limit=5", "judge=transformers",
                     f"judge.model_path={tiny_model_dir}", "judge.batch_size=4", "pipeline.attempts=2",
                     "pipeline.max_tokens=12", "pipeline.teacher_max_tokens=12")
    assert report["accounted"] and report["samples"] == 5
    assert report["judge"]["backend"].endswith("TransformersJudge") and report["judge"]["sent"] > 0
    llm_reasons = report["stages"]["llm"]["rejected"]
    assert set(llm_reasons) <= {"judge_unparseable", "judge_error"} and llm_reasons.get("judge_unparseable", 0) >= 1
    assert report["judge"]["unparseable"] >= 2
