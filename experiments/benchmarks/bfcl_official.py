"""The official BFCL checker (`bfcl-eval`), run in its own venv, as a labeller and as a speed baseline.

Two roles:
  * `ensure_venv()` (imported by the corpus builder and the speed benchmark, run with the project's
    Python): creates ~/.cache/funcall/bfcl-venv (override with $FUNCALL_BFCL_VENV) with
    `bfcl-eval==2026.3.23` installed WITHOUT its dependencies, plus the only packages its checker
    path imports: tree-sitter 0.21.3, tree-sitter-java 0.21.0, tree-sitter-javascript 0.21.4,
    filelock, tenacity. No torch, no model SDKs; bfcl-eval is never a dependency of funcall.
  * `python bfcl_official.py IN.jsonl OUT.jsonl` (run with that venv's Python): reads rows in the
    format of `python -m funcall.bfcl check` and writes `{"id", "valid", "error_type"}` per row, doing
    what bfcl-eval's `_evaluate_single_ast_entry` / `_evaluate_single_relevance_entry` do: the
    prompting decoder `default_decode_ast_prompting` (or the given decoded output, as FC handlers
    return it), `is_function_calling_format_output`, `is_empty_output`, and `ast_checker`.
    Those functions are imported from bfcl-eval unchanged; only `bfcl_eval.constants.model_config`
    is replaced by a stub (its real import pulls in every model SDK), whose single use in the
    checker is the `underscore_to_dot` flag, False here (prompting models). An exception inside
    `ast_checker` (the official runner would crash) is labelled `error_type: "exception"`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BFCL_EVAL_VERSION = "2026.3.23"
CHECKER_PACKAGES = [
    "tree_sitter==0.21.3", "tree-sitter-java==0.21.0", "tree-sitter-javascript==0.21.4",
    "filelock==3.20.0", "tenacity==9.2.1",
]


def venv_dir() -> Path:
    return Path(os.environ.get("FUNCALL_BFCL_VENV", Path.home() / ".cache" / "funcall" / "bfcl-venv"))


def ensure_venv() -> Path:
    """Path of the venv's python, creating and filling the venv on first use."""
    python = venv_dir() / "bin" / "python"
    probe = "import bfcl_eval, tree_sitter_java, tree_sitter_javascript, filelock, tenacity"
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True, check=False).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", venv_dir()], check=True)
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", f"bfcl-eval=={BFCL_EVAL_VERSION}"], check=True)
    subprocess.run([*pip, *CHECKER_PACKAGES], check=True)
    subprocess.run([python, "-c", probe], check=True)
    return python


def _load_official():
    import types
    from collections import defaultdict

    class _PromptingModel:
        underscore_to_dot = False

    stub = types.ModuleType("bfcl_eval.constants.model_config")
    stub.MODEL_CONFIG_MAPPING = defaultdict(_PromptingModel)
    sys.modules["bfcl_eval.constants.model_config"] = stub
    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting
    from bfcl_eval.utils import (
        is_empty_output,
        is_function_calling_format_output,
        is_java,
        is_js,
    )

    def label(row: dict) -> dict:
        category = row["category"]
        text, decoded = row.get("model_output_text"), row.get("model_output")
        if "irrelevance" in category:
            try:
                if decoded is None:
                    decoded = default_decode_ast_prompting(text, ReturnFormat.PYTHON)
                found_call = not is_empty_output(decoded)
            except Exception:  # noqa: BLE001  (as the official runner)
                found_call = False
            return {"valid": not found_call, "error_type": "irrelevance_error:decoder_success" if found_call else None}
        if is_java(category):
            language, return_format = Language.JAVA, ReturnFormat.JAVA
        elif is_js(category):
            language, return_format = Language.JAVASCRIPT, ReturnFormat.JAVASCRIPT
        else:
            language, return_format = Language.PYTHON, ReturnFormat.PYTHON
        if decoded is None:
            try:
                decoded = default_decode_ast_prompting(text, return_format)
            except Exception:  # noqa: BLE001  (as the official runner)
                return {"valid": False, "error_type": "ast_decoder:decoder_failed"}
        if not is_function_calling_format_output(decoded):
            return {"valid": False, "error_type": "ast_decoder:decoder_wrong_output_format"}
        try:
            result = ast_checker(row["question"]["function"], decoded, row["possible_answer"], language, category, "prompting-model")
        except Exception:  # noqa: BLE001  (as the official runner)
            return {"valid": False, "error_type": "exception"}
        return {"valid": result["valid"], "error_type": None if result["valid"] else result["error_type"]}

    return label


def main(input_path: str, output_path: str) -> None:
    label = _load_official()
    with open(input_path) as source, open(output_path, "w") as sink:
        for line in source:
            row = json.loads(line)
            verdict = label(row)
            sink.write(json.dumps({"id": row.get("id"), **verdict}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
