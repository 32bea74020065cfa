"""BFCL v4's memory categories as the installed ``bfcl-eval`` ships them: questions, answers, the
prerequisite conversations, and the prompts its inference adds.

A memory category is a backend (``memory_kv``, ``memory_rec_sum``, ``memory_vector``) over the
155 questions of ``BFCL_v4_memory.json``. Each question belongs to a scenario (customer, finance,
healthcare, notetaker, student) whose prerequisite conversations
(``memory_prereq_conversation/memory_<scenario>.json``) are played first, in file order, each
starting from the memory the previous one left; every question then starts from the memory the
last one left (BFCL's snapshot files; the questions themselves write nothing back). Entries are
prepared as BFCL's ``process_memory_test_case`` and ``process_agentic_test_case`` prepare them:
ids ``memory_kv_prereq_15-finance-0`` / ``memory_kv_0-customer-0``, ``involved_classes``
``[MemoryAPI_kv]``, the backend's function docs, and the agentic answer-format system message
opening each question. The memory system prompt (`with_memory_prompt`) is added when the entry
starts, from the memory it starts with, as BFCL's ``add_memory_instruction_system_prompt`` does.

How it departs from BFCL: no snapshot files; the memory travels as the entry's
``memory_snapshot`` (the JSON BFCL would have written, `funcall.envs.memory_env`). The prompt
texts are imported from ``bfcl_eval.constants.default_prompts`` (plain constants), never copied.
"""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from funcall.envs.bfcl_data import read_jsonl
from funcall.utils.errors import ConfigError, DataError

BACKENDS = ("kv", "rec_sum", "vector")
MEMORY_CATEGORIES = tuple(f"memory_{b}" for b in BACKENDS)
SCENARIOS = ("customer", "finance", "healthcare", "notetaker", "student")


def prompts():
    """bfcl-eval's prompt constants (module ``bfcl_eval.constants.default_prompts``)."""
    try:
        return importlib.import_module("bfcl_eval.constants.default_prompts")
    except ImportError:
        raise ConfigError("BFCL memory needs the bfcl-eval package: pip install --no-deps bfcl-eval==2026.3.23") from None


def class_name(category: str) -> str:
    return f"MemoryAPI_{category[len('memory_'):]}"


@dataclass
class MemoryCategory:
    """One backend's work: the prerequisite chain of each scenario, then the questions."""

    category: str
    chains: dict[str, list[dict]] = field(default_factory=dict)  # scenario -> prerequisite entries, in order
    questions: list[tuple[dict, list[str]]] = field(default_factory=list)  # (entry, possible answers)


def _docs(data_dir: Path, name: str) -> list[dict]:
    return read_jsonl(data_dir / "multi_turn_func_doc" / f"memory_{name[len('MemoryAPI_'):]}.json")


def load_memory(data_dir: str | Path, category: str, limit: int | None = None,
                scenarios: tuple[str, ...] | list[str] = SCENARIOS) -> MemoryCategory:
    """The first ``limit`` questions of ``category`` (file order) among ``scenarios``, with the
    prerequisite chains of the scenarios they need."""
    if category not in MEMORY_CATEGORIES:
        raise ConfigError(f"unknown memory category {category!r}; choose from {', '.join(MEMORY_CATEGORIES)}")
    data_dir = Path(data_dir)
    name = class_name(category)
    docs = _docs(data_dir, name)
    answers = {a["id"]: a["ground_truth"] for a in read_jsonl(data_dir / "possible_answer" / "BFCL_v4_memory.json")}
    agentic = prompts().ADDITIONAL_SYSTEM_PROMPT_FOR_AGENTIC_RESPONSE_FORMAT
    out = MemoryCategory(category)
    for entry in read_jsonl(data_dir / "BFCL_v4_memory.json"):
        if entry.get("scenario") not in scenarios or (limit is not None and len(out.questions) >= limit):
            continue
        if entry.get("id") not in answers:
            raise DataError(f"{data_dir}/possible_answer/BFCL_v4_memory.json: no ground truth for {entry.get('id')!r}")
        truth = answers[entry["id"]]
        entry = copy.deepcopy(entry)
        entry.update(id=entry["id"].replace("memory", category), involved_classes=[name], function=copy.deepcopy(docs))
        entry["question"][0].insert(0, {"role": "system", "content": agentic})
        out.questions.append((entry, truth))
        out.chains.setdefault(entry["scenario"], [])
    for scenario in out.chains:
        prereq = read_jsonl(data_dir / "memory_prereq_conversation" / f"memory_{scenario}.json")
        for entry in prereq:
            entry.update(id=entry["id"].replace("memory", category), involved_classes=[name], function=copy.deepcopy(docs))
        out.chains[scenario] = prereq
    return out


def with_memory_prompt(entry: dict, memory_content: str) -> dict:
    """``entry`` with BFCL's memory system prompt (scenario setting + the memory it starts with)
    opening its first turn, before a system message already there (``add_memory_instruction_system_prompt``)."""
    p = prompts()
    template = p.MEMORY_BACKEND_INSTRUCTION_UNIFIED if "rec_sum" in entry["id"] else p.MEMORY_BACKEND_INSTRUCTION_CORE_ARCHIVAL
    text = template.format(scenario_setting=p.MEMORY_AGENT_SETTINGS[entry["scenario"]], memory_content=memory_content)
    entry = copy.deepcopy(entry)
    first = entry["question"][0]
    if first and first[0].get("role") == "system":
        first[0]["content"] = text + "\n\n" + first[0]["content"]
    else:
        first.insert(0, {"role": "system", "content": text})
    return entry
