"""Data from a dataset repository: ``data.path`` / ``input.path`` as a local dataset folder or a Hub id.

The folders are real dataset repositories made here with `datasets` (parquet shards under
``data/``, or a JSONL file with a README card) and read by the real ``load_dataset``, the code
path a Hub id takes once downloaded. The Hub itself is unreachable on the test machine, which
is what the error test relies on.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from conftest import BFCL_DATA, REPO, read_metrics, run_train
from funcall.data.bfcl_source import BFCLSource
from funcall.data.files import jsonl_source, xlam_source
from funcall.data.hub import looks_like_dataset_id
from funcall.utils.errors import ConfigError, DataError

TOOL = {"name": "get_weather", "description": "Weather of a city.",
        "parameters": {"city": {"type": "str", "description": "the city"},
                       "unit": {"type": "str, optional", "description": "c or f", "default": "c"}}}


def xlam_row(i: int, split: str) -> dict:
    city = f"{split}-city-{i}"
    return {"id": f"{split}-{i}", "query": f"What is the weather in {city}?", "tools": json.dumps([TOOL]),
            "answers": json.dumps([{"name": "get_weather", "arguments": {"city": city}}])}


def xlam_folder(root: Path, n_train: int = 40, n_test: int = 10) -> Path:
    """A dataset repository in the Hub's layout: ``data/<split>-00000-of-00001.parquet``."""
    (root / "data").mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        datasets.Dataset.from_list([xlam_row(i, split) for i in range(n)]).to_parquet(
            str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def test_an_xlam_dataset_folder_loads_the_split_asked_for(tmp_path):
    folder = xlam_folder(tmp_path / "my_ds")
    train = xlam_source(str(folder), split="train", eval_size=0)
    assert sorted(e.id for e in train.train()) == sorted(f"train-{i}" for i in range(40))
    example = next(e for e in train.train() if e.id == "train-3")
    assert example.calls == [{"name": "get_weather", "arguments": {"city": "train-city-3"}}]
    assert example.tools[0]["parameters"]["required"] == ["city"]  # xLAM's informal types read as from a file
    test = xlam_source(str(folder), split="test", eval_size=0)
    assert sorted(e.id for e in test.train()) == sorted(f"test-{i}" for i in range(10))
    assert len(xlam_source(str(folder), split="train[:5]", eval_size=0).train()) == 5  # slices are load_dataset's
    with pytest.raises(ConfigError, match="data.path=.*split=validation"):
        xlam_source(str(folder), split="validation")


def test_a_file_is_still_read_as_a_file_and_a_missing_one_says_so(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(xlam_row(i, "f")) + "\n" for i in range(10)))
    assert len(xlam_source(str(path), eval_size=0).train()) == 10
    for missing in (tmp_path / "nope.jsonl", "data/nope.json", "./nope"):
        with pytest.raises(DataError, match="no such file"):
            xlam_source(str(missing))
    assert looks_like_dataset_id("Salesforce/xlam-function-calling-60k") and looks_like_dataset_id("squad")
    assert not looks_like_dataset_id("/abs/folder") and not looks_like_dataset_id("a/b/c")


def test_nested_objects_of_a_jsonl_dataset_keep_only_their_own_keys(tmp_path):
    """Arrow gives every struct in a column the union of the keys; the rows read back do not."""
    folder = tmp_path / "ours"
    folder.mkdir()
    rows = [{"id": "a", "tools": [{"name": "f", "parameters": {"type": "dict", "properties": {"x": {"type": "integer"}}}}],
             "messages": [{"role": "user", "content": "f of 1"}], "calls": [{"name": "f", "arguments": {"x": 1}}]},
            {"id": "b", "tools": [{"name": "g", "parameters": {"type": "dict", "properties": {"y": {"type": "string"}}}}],
             "messages": [{"role": "user", "content": "g of z"}], "calls": [{"name": "g", "arguments": {"y": "z"}}]}]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows * 5))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# a function-calling dataset\n")
    examples = {e.id: e for e in jsonl_source(str(folder), eval_size=0).train()}
    assert examples["a"].calls == [{"name": "f", "arguments": {"x": 1}}]
    assert examples["b"].calls == [{"name": "g", "arguments": {"y": "z"}}]
    assert examples["b"].tools[0]["parameters"]["properties"] == {"y": {"type": "string"}}


def test_bfcl_entries_as_a_dataset_equal_the_bfcl_folder(tmp_path):
    categories = ["simple_python", "irrelevance"]
    rows = []
    for category in categories:
        questions = [json.loads(x) for x in (BFCL_DATA / f"BFCL_v4_{category}.json").read_text().splitlines()][:30]
        answers = {}
        if category != "irrelevance":
            answer_file = BFCL_DATA / "possible_answer" / f"BFCL_v4_{category}.json"
            answers = {a["id"]: a["ground_truth"] for a in map(json.loads, answer_file.read_text().splitlines())}
        rows += [{"id": q["id"], "question": json.dumps(q["question"]), "function": json.dumps(q["function"]),
                  "ground_truth": json.dumps(answers[q["id"]]) if q["id"] in answers else None} for q in questions]
    folder = tmp_path / "bfcl_ds"
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    from_ds = {e.id: e for e in BFCLSource(str(folder), categories, eval_size=0).train()}
    from_files = {e.id: e for e in BFCLSource(str(BFCL_DATA), categories, eval_size=0).train()}
    assert len(from_ds) == 60 and all(from_ds[k] == from_files[k] for k in from_ds)
    only_simple = BFCLSource(str(folder), ["simple_python"], eval_size=0).train()
    assert len(only_simple) == 30 and {e.category for e in only_simple} == {"simple_python"}


def test_sft_trains_on_a_dataset_folder(tmp_path):
    folder = xlam_folder(tmp_path / "my_ds")
    run = tmp_path / "run"
    run_train(["+experiment=sft", "data=xlam", f"data.path={folder}", "data.split=train", "trainer.max_steps=2",
               "trainer.eval_size=4", "trainer.eval_max_new_tokens=8", "trainer.micro_batch_size=4", "logger=none"],
              run, env={"HF_DATASETS_CACHE": str(tmp_path / "hf_cache")})
    rows = read_metrics(run)
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 2 and "eval/ast_accuracy" in summary
    config = (run / ".hydra" / "config.yaml").read_text()
    assert f"path: {folder}" in config and "split: train" in config


def test_prepare_data_reads_a_dataset_folder(tmp_path):
    from hydra import compose, initialize_config_dir

    from funcall.prepare_data import CONF_DIR, run

    folder = xlam_folder(tmp_path / "my_ds", n_train=6, n_test=3)
    out = tmp_path / "prepared"
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="prepare_data", overrides=[
            f"input.path={folder}", "input.format=xlam", "input.split=test", "pipeline.stages=[ast]",
            f"output_dir={out}", "pipeline.progress=false"])
    report = run(cfg)
    assert report["samples"] == 3 and report["kept"] == 3 and report["accounted"]
    kept = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in kept) == ["test-0", "test-1", "test-2"]


@pytest.mark.parametrize("offline", ["0", "1"])
def test_an_unreachable_hub_is_one_line_naming_data_path(tmp_path, offline):
    run = tmp_path / "run"
    # a closed local port stands in for the Hub, so the test means the same on a machine with a network
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": offline, "HF_DATASETS_CACHE": str(tmp_path / "c"),
           "HF_ENDPOINT": "http://127.0.0.1:9"}
    cmd = [sys.executable, "-m", "funcall.train", "+experiment=sft", "data=xlam", "data.path=nobody/no-such-dataset",
           "trainer.max_steps=1", "logger=none", f"hydra.run.dir={run}"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    took = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Retrying" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "data.path=nobody/no-such-dataset" in errors[0] and "could not be reached" in errors[0]
    assert not (run / "metrics.jsonl").exists()
    assert took < 240, took  # the process start-up (torch, DeepSpeed) is most of it; no Hub retries
