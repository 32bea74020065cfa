"""A pipeline killed midway leaves no output that looks complete, and the same command run again asks
the judge only what it had not answered before (the rest comes from the reply cache)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from hydra import compose, initialize_config_dir

from conftest import REPO
from funcall.judges.cache import ReplyCache
from funcall.judges.scripted_server import ChatServer, Reply, body_key, pass_all
from funcall.prepare_data import CONF_DIR, run

MIXED = REPO / "tests" / "data" / "prepare" / "xlam_mixed.json"
ANSWERED_BEFORE_KILL = 25


def overrides(server: ChatServer, out_dir) -> list[str]:
    # One request at a time, so "answered before the kill" is exact.
    return [f"input.path={MIXED}", "input.format=xlam", f"output_dir={out_dir}", f"judge.base_url={server.url}",
            "judge.model=scripted-judge", "judge.api_key_env=null", "judge.concurrency=1", "pipeline.concurrency=1",
            "pipeline.progress=false"]


def test_killed_run_resumes_asking_only_what_was_not_answered(tmp_path):
    out = tmp_path / "out"
    reached, release = threading.Event(), threading.Event()
    lock = threading.Lock()
    seen = []

    def stall_after_k(request):
        with lock:
            seen.append(request.key)
            n = len(seen)
        if n > ANSWERED_BEFORE_KILL:
            reached.set()
            release.wait(60)
            return Reply(status=503)
        return pass_all(request)

    with ChatServer(stall_after_k) as first:
        proc = subprocess.Popen([sys.executable, "-m", "funcall.prepare_data", *overrides(first, out)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
        try:
            assert reached.wait(120), proc.stderr.read().decode() if proc.poll() is not None else "no request"
        finally:
            proc.kill()
            proc.wait(30)
            release.set()
        answered_first = {body_key(body) for body in first.requests[:ANSWERED_BEFORE_KILL]}
    assert proc.returncode != 0
    left = sorted(p.name for p in out.iterdir())
    assert not {"train.jsonl", "rejected.jsonl", "report.json", "dataset"} & set(left), left  # nothing looks complete
    cache = ReplyCache(out / "judge_cache.sqlite")
    assert len(cache) == ANSWERED_BEFORE_KILL
    cache.close()

    with ChatServer(pass_all) as second:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            report = run(compose(config_name="prepare_data", overrides=overrides(second, out)))
        asked_again = {body_key(body) for body in second.requests}
    assert not asked_again & answered_first
    assert len(second.requests) == len(asked_again) == report["judge"]["requests"] - ANSWERED_BEFORE_KILL
    assert report["judge"]["cache_hits"] == ANSWERED_BEFORE_KILL and report["judge"]["sent"] == len(second.requests)

    expected = {str(row["id"]): row["expect"] for row in json.loads(MIXED.read_text())}
    outcomes = {json.loads(line)["id"]: "kept" for line in (out / "train.jsonl").read_text().splitlines()}
    outcomes.update({row["id"]: f"{row['stage']}/{row['reason']}" for row in
                     map(json.loads, (out / "rejected.jsonl").read_text().splitlines())})
    assert outcomes == expected and report["accounted"]
