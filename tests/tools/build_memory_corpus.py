"""Build the labelled memory (agentic) corpus: perturbed responses, each with the official checker's verdict.

    .venv/bin/python tests/tools/build_memory_corpus.py [--per-entry 4] [--seed 0]

For every question of ``BFCL_v4_memory.json`` (the installed ``bfcl-eval`` data), model results
(turns -> steps -> raw step text, as a prompting handler records them) are made from its possible
answers and perturbed: the answer in BFCL's answer format, after memory calls, in other case and
punctuation, glued inside a longer word, replaced by "I do not know", followed by a call (the
earlier message is the last one), calls only, an empty last message, two turns or none, a call
with an empty-dict argument (the release's execution list raises on it), a call on an attribute
(`__import__('os').system(...)`), a bare call without brackets, a fenced call, a list of calls.
Each row is judged by the release's own ``_evaluate_single_agentic_entry`` (its source read from
the installed ``eval_runner.py`` and run with the official ``agentic_checker``,
``default_decode_execute_prompting`` and ``is_empty_execute_response``: importing ``eval_runner``
itself pulls in every model SDK), in the venv of `experiments/benchmarks/bfcl_official.py`.
Output: ``tests/data/bfcl/memory_conformance.jsonl.gz``, one row per result: ``id``, ``kind``,
``model_result``, ``possible_answers``, ``valid``, ``error_type``.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "experiments" / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from bfcl_official import ensure_venv  # noqa: E402

from funcall.envs.bfcl_data import installed_bfcl_data, read_jsonl  # noqa: E402
from tools.labelled_corpus import write_corpus  # noqa: E402

OUT = REPO / "tests" / "data" / "bfcl" / "memory_conformance.jsonl.gz"

LABELLER = r'''
import ast, json, sys, types
from collections import defaultdict
from pathlib import Path

class _PromptingModel:
    underscore_to_dot = False
stub = types.ModuleType("bfcl_eval.constants.model_config")
stub.MODEL_CONFIG_MAPPING = defaultdict(_PromptingModel)
sys.modules["bfcl_eval.constants.model_config"] = stub
import bfcl_eval.eval_checker as checker_pkg
from bfcl_eval.eval_checker.agentic_eval.agentic_checker import agentic_checker
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import is_empty_execute_response
from bfcl_eval.model_handler.utils import default_decode_execute_prompting

source = (Path(checker_pkg.__file__).parent / "eval_runner.py").read_text()
tree = ast.parse(source)
(function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_evaluate_single_agentic_entry"]
namespace = {"agentic_checker": agentic_checker, "is_empty_execute_response": is_empty_execute_response,
             "BaseHandler": object}
exec(compile(ast.Module(body=[function], type_ignores=[]), "eval_runner.py", "exec"), namespace)
evaluate = namespace["_evaluate_single_agentic_entry"]

class Handler:
    def decode_execute(self, result, has_tool_call_tag):
        return default_decode_execute_prompting(result, has_tool_call_tag)

rows = json.load(open(sys.argv[1]))
out = []
for row in rows:
    verdict = evaluate(Handler(), row["id"], row["model_result"], row["possible_answers"], {"question": []}, "m", "memory")
    out.append({"valid": bool(verdict["valid"]), "error_type": None if verdict["valid"] else verdict["error"]["error_type"]})
json.dump(out, open(sys.argv[2], "w"))
'''


def answer(text: str) -> str:
    return "{'answer': " + repr(text) + ", 'context': 'I stored it in my memory earlier.'}"


def perturb(kind: str, truth: list[str], rng: random.Random) -> list | None:
    """A model result (turns -> steps -> text) made from the possible answers, or None if ``kind`` does not apply."""
    right = rng.choice(truth)
    call = "[core_memory_retrieve(key='user_profile')]"
    made = {
        "answer": [[answer(right)]],
        "calls_then_answer": [[call, "[archival_memory_key_search(query='profile', k=3)]", answer(right)]],
        "case_and_punctuation": [[answer(right.upper().replace(" ", " - ") + ".")]],
        "inside_a_word": [[answer("x" + right.replace(" ", "") + "yz")]],
        "do_not_know": [[answer("I do not know")]],
        "answer_then_call": [[answer(right), call]],
        "wrong_then_right_then_call": [[answer("I do not know"), answer(right), call]],
        "calls_only": [[call, "core_memory_list_keys()"]],
        "empty_last_message": [[answer(right), ""]],
        "two_turns": [[answer(right)], [answer(right)]],
        "no_turn": [],
        "empty_dict_argument": [["[core_memory_add(key='k', value={})]", answer("nothing")]],
        "attribute_call": [[answer(right), "__import__('os').system('echo hacked')"]],
        "bare_call": [[answer(right), "memory_retrieve()"]],
        "fenced_call": [["```python\n[memory_retrieve()]\n```", answer(right)]],
        "prose_with_answer": [[f"Sure! From memory, the answer is {right}."]],
        "empty_list": [[answer(right), "[]"]],
        "quoted_answer": [[f"'{right}'"]],
    }
    return made.get(kind)


KINDS = ("calls_then_answer", "case_and_punctuation", "inside_a_word", "do_not_know", "answer_then_call",
         "wrong_then_right_then_call", "calls_only", "empty_last_message", "two_turns", "no_turn",
         "empty_dict_argument", "attribute_call", "bare_call", "fenced_call", "prose_with_answer", "empty_list",
         "quoted_answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-entry", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_dir = installed_bfcl_data()
    if data_dir is None:
        sys.exit("error: no installed bfcl-eval data (make install)")
    rng = random.Random(args.seed)
    truths = {a["id"]: a["ground_truth"] for a in read_jsonl(Path(data_dir) / "possible_answer" / "BFCL_v4_memory.json")}
    rows = []
    for entry in read_jsonl(Path(data_dir) / "BFCL_v4_memory.json"):
        truth = truths[entry["id"]]
        for kind in ["answer", *rng.sample(KINDS, args.per_entry)]:
            rows.append({"id": entry["id"], "kind": kind, "model_result": perturb(kind, truth, rng), "possible_answers": truth})
    python = ensure_venv()
    with tempfile.TemporaryDirectory() as tmp:  # the official code makes folders where it is told to
        job, result, script = Path(tmp, "job.json"), Path(tmp, "labels.json"), Path(tmp, "label.py")
        job.write_text(json.dumps(rows))
        script.write_text(LABELLER)
        subprocess.run([str(python), str(script), str(job), str(result)], cwd=tmp, check=True,
                       env={"BFCL_PROJECT_ROOT": tmp, "PATH": "/usr/bin:/bin"})
        labels = json.loads(result.read_text())
    write_corpus(rows, labels, OUT)


if __name__ == "__main__":
    main()
