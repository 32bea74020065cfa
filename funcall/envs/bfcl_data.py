"""BFCL's multi-turn material as the installed ``bfcl-eval`` package ships it: entries, ground truth,
tool docs, and the eight environment classes.

The package is located with ``importlib.util.find_spec`` and its data read as files; its classes
are imported by the module paths of its own ``executable_backend_config`` (which imports nothing
else). Nothing here imports ``bfcl_eval.constants.eval_config`` (which creates ``result/`` and
``score/`` folders in the working directory) or its executor (which ``eval``s model output).

The entries are returned as BFCL's inference prepares them (``populate_test_cases_with_predefined_functions``):
``function`` holds the docs of every involved class, minus the miss_func ones, which move to
``missed_function[turn]`` as docs (they are offered at that turn). ``excluded_function`` is left
as it is: the release reads it nowhere.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
from functools import cache
from pathlib import Path

from funcall.utils.errors import ConfigError, DataError

MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
CLASSES = ("GorillaFileSystem", "MathAPI", "MessageAPI", "TwitterAPI", "TicketAPI", "TradingBot", "TravelAPI",
           "VehicleControlAPI")
INSTALL_HINT = "pip install --no-deps bfcl-eval==2026.3.23 mpmath (make install does it)"


def package_dir() -> Path | None:
    """The folder of an installed ``bfcl_eval`` package (found, not imported), or None."""
    try:
        spec = importlib.util.find_spec("bfcl_eval")
    except (ImportError, ValueError):
        return None
    roots = list(spec.submodule_search_locations or []) if spec else []
    return Path(roots[0]) if roots else None


def installed_bfcl_data() -> str | None:
    """The data folder of an installed ``bfcl_eval``: the first of ``<package>/data`` or
    ``<package>`` that holds ``BFCL_v4_*.json``; None without one."""
    root = package_dir()
    for folder in (root / "data", root) if root else ():
        if folder.is_dir() and any(folder.glob("BFCL_v4_*.json")):
            return str(folder)
    return None


def _backend():
    try:
        return importlib.import_module("bfcl_eval.constants.executable_backend_config")
    except ImportError:
        raise ConfigError(f"BFCL multi-turn needs the bfcl-eval package: {INSTALL_HINT}") from None


def environment_class(name: str) -> type:
    """The official class of a multi-turn environment (``GorillaFileSystem``, ...)."""
    if name not in CLASSES:
        raise DataError(f"unknown BFCL environment class {name!r} (one of {', '.join(CLASSES)})")
    module = importlib.import_module(_backend().CLASS_FILE_PATH_MAPPING[name])
    return getattr(module, name)


def is_stateless(name: str) -> bool:
    return name in _backend().STATELESS_CLASSES


def read_jsonl(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None


@cache
def _class_docs(data_dir: str, name: str) -> tuple[dict, ...]:
    doc_file = Path(data_dir) / "multi_turn_func_doc" / _backend().MULTI_TURN_FUNC_DOC_FILE_MAPPING[name]
    return tuple(read_jsonl(doc_file))


def tool_docs(data_dir: str, classes: list[str]) -> list[dict]:
    """The docs of every function of ``classes``, in BFCL's order (class by class, file order)."""
    return [dict(doc) for name in classes for doc in _class_docs(str(data_dir), name)]


def prepare_entry(entry: dict, data_dir: str) -> dict:
    """``entry`` with ``function`` and the miss_func ``missed_function`` docs filled in (module docstring)."""
    entry = dict(entry)
    docs = tool_docs(data_dir, list(entry["involved_classes"]))
    missed = {}
    for turn, names in (entry.get("missed_function") or {}).items():
        missed[str(turn)] = []
        for name in names:
            for i, doc in enumerate(docs):
                if doc["name"] == name:
                    missed[str(turn)].append(docs.pop(i))
                    break
    entry["function"] = docs
    if "missed_function" in entry:
        entry["missed_function"] = missed
    return entry


def load_multi_turn(data_dir: str | Path, category: str, limit: int | None = None) -> list[tuple[dict, list]]:
    """``(entry, ground_truth)`` pairs of one multi-turn category, prepared, in file order."""
    if category not in MULTI_TURN_CATEGORIES:
        raise ConfigError(f"unknown multi-turn category {category!r}; choose from {', '.join(MULTI_TURN_CATEGORIES)}")
    data_dir = Path(data_dir)
    entries = read_jsonl(data_dir / f"BFCL_v4_{category}.json")
    answers = {a["id"]: a["ground_truth"] for a in read_jsonl(data_dir / "possible_answer" / f"BFCL_v4_{category}.json")}
    pairs = []
    for entry in entries[:limit] if limit is not None else entries:
        if entry.get("id") not in answers:
            raise DataError(f"{data_dir / 'possible_answer'}/BFCL_v4_{category}.json: no ground truth for {entry.get('id')!r}")
        pairs.append((prepare_entry(entry, str(data_dir)), answers[entry["id"]]))
    return pairs


def register_bfcl_data_resolver() -> None:
    """``${funcall.bfcl_data:}`` in configs: `installed_bfcl_data` (the default ``data_dir`` of the
    BFCL eval tasks and of ``data=bfcl_memory`` / ``data=bfcl_format_sensitivity``). Every entry
    point that composes those configs registers it (train, evaluate, plan)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("funcall.bfcl_data"):
        OmegaConf.register_new_resolver("funcall.bfcl_data", installed_bfcl_data)
