"""funcall as a user installs it: a built wheel in a fresh virtualenv, run from an empty folder.

The editable install of `make install` hides packaging mistakes (configs found through the
repository tree, files never declared as package data). This test builds the wheel the way a
user or an index would (``pip wheel .``, network only for the build backend from the package
registry), installs it next to the pinned CPU torch into a new venv, and runs two entry points
from a folder with nothing in it: a 2-step SFT run (which composes ``funcall/conf`` from inside
the installed package and builds the tiny model) and the BFCL checker's command line.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def sh(cmd: list[str], cwd: Path, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The python of a fresh venv holding the wheel built from this checkout."""
    root = tmp_path_factory.mktemp("package")
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root / "dist"), str(REPO)], root, 600)
    wheels = list((root / "dist").glob("funcall-*.whl"))
    assert len(wheels) == 1, wheels
    sh([sys.executable, "-m", "venv", str(root / "venv")], root, 120)
    python = root / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt")]
    sh([*pip, "torch==2.13.0"], root, 900)
    sh([*pip, str(wheels[0])], root, 1200)
    return python


def test_wheel_carries_the_config_tree(installed):
    where = sh([str(installed), "-c", "import funcall, pathlib; print(pathlib.Path(funcall.__file__).parent)"], installed.parent, 60)
    package = Path(where.stdout.strip())
    assert REPO not in package.parents, f"imported the checkout, not the wheel: {package}"
    shipped = sorted(p.relative_to(package / "conf") for p in (package / "conf").rglob("*.yaml"))
    ours = sorted(p.relative_to(REPO / "funcall" / "conf") for p in (REPO / "funcall" / "conf").rglob("*.yaml"))
    assert shipped == ours


def test_sft_and_checker_run_from_an_empty_folder(installed, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"FUNCALL_CACHE": str(tmp_path / "cache"), "WANDB_MODE": "offline", "PYTHONPATH": ""}
    sh([str(installed), "-m", "funcall.train", "+experiment=sft", "trainer.max_steps=2", "trainer.eval_size=4",
        "trainer.eval_max_new_tokens=8", "logger=none", "hydra.run.dir=run"], empty, 900, env)
    summary = json.loads((empty / "run" / "summary.json").read_text())
    assert summary["step"] == 2
    assert len((empty / "run" / "metrics.jsonl").read_text().splitlines()) >= 2

    row = {"category": "simple_python", "id": "simple_python_0",
           "question": {"question": [[{"role": "user", "content": "area of a 10 by 5 triangle"}]],
                        "function": [{"name": "triangle_area", "parameters": {"type": "dict", "required": ["base", "height"],
                                      "properties": {"base": {"type": "integer"}, "height": {"type": "integer"}}}}]},
           "possible_answer": [{"triangle_area": {"base": [10], "height": [5]}}]}
    rows = [{**row, "model_output": [{"triangle_area": {"base": 10, "height": 5}}]},
            {**row, "id": "simple_python_1", "model_output": [{"triangle_area": {"base": 5, "height": 10}}]}]
    (empty / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sh([str(installed), "-m", "funcall.bfcl", "check", "--input", "in.jsonl", "--output", "out.jsonl"], empty, 120, env)
    verdicts = [json.loads(line) for line in (empty / "out.jsonl").read_text().splitlines()]
    assert [v["valid"] for v in verdicts] == [True, False]
