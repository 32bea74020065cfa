"""BFCL's memory backends (``MemoryAPI_kv``, ``MemoryAPI_rec_sum``, ``MemoryAPI_vector``) as an
environment: the official classes, their methods called with parsed, type-checked arguments.

`MemoryEnvironment` is `funcall.envs.bfcl_env.BFCLEnvironment` (the same parsing, dispatch to the
docs' methods, type checks and result rendering; never ``eval``) over one memory class. How it
departs from BFCL's loading (``MemoryAPI._prepare_snapshot``, which reads and writes JSON files
under the result folder): the memory an entry starts with is its ``memory_snapshot``, the JSON
BFCL's ``_flush_memory_to_local_file`` would have written (None: empty, as a chain's first
entry), loaded as ``_load_scenario`` loads the file; and ``state()`` gives back that JSON (passed
through ``json`` as the file would be) with ``context``, the text ``_dump_core_memory_to_context``
puts into the next system prompt. Nothing is written to disk but the empty result/ and score/
folders importing ``bfcl_eval.utils`` makes, under ``$BFCL_PROJECT_ROOT`` (a scratch folder).

``memory_vector`` imports sentence-transformers and faiss and loads ``all-MiniLM-L6-v2`` when its
module is imported; here that happens only in the environment process, from the local folder in
``$FUNCALL_MEMORY_EMBEDDING_MODEL`` (the name resolves to a link to it in a scratch folder, so
nothing is fetched).
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import json
import os
import sys
import tempfile
from typing import Any

from funcall.envs.bfcl_env import BFCLEnvironment

MEMORY_CLASSES = ("MemoryAPI_kv", "MemoryAPI_rec_sum", "MemoryAPI_vector")
MODULE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.memory_{}"
EMBEDDING_ENV = "FUNCALL_MEMORY_EMBEDDING_MODEL"
EMBEDDING_NAME = "all-MiniLM-L6-v2"  # the name memory_vector asks SentenceTransformer for


def is_memory_entry(entry: Any) -> bool:
    return isinstance(entry, dict) and any(name in MEMORY_CLASSES for name in entry.get("involved_classes") or ())


@contextlib.contextmanager
def _embedding_model_as_name():
    """While memory_vector is imported: cwd = a scratch folder where EMBEDDING_NAME links to the model."""
    folder = os.environ.get(EMBEDDING_ENV)
    if not folder:
        raise RuntimeError(f"memory_vector needs its embedding model: {EMBEDDING_ENV} is not set")
    before = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.symlink(os.path.abspath(folder), os.path.join(scratch, EMBEDDING_NAME))
        os.chdir(scratch)
        try:
            yield
        finally:
            os.chdir(before)


def memory_class(name: str) -> type:
    if name not in MEMORY_CLASSES:
        raise ValueError(f"unknown memory class {name!r}")
    # bfcl_eval.utils (imported by the classes) makes result/ and score/ folders under this root
    os.environ.setdefault("BFCL_PROJECT_ROOT", os.path.join(tempfile.gettempdir(), "funcall-bfcl-eval-root"))
    module_name = MODULE.format(name[len("MemoryAPI_"):])
    if name == "MemoryAPI_vector" and module_name not in sys.modules:
        with _embedding_model_as_name():
            return getattr(importlib.import_module(module_name), name)
    return getattr(importlib.import_module(module_name), name)


def load_snapshot(instance: Any, snapshot: dict | None) -> None:
    """Fill ``instance`` from a snapshot as its ``_load_scenario`` fills it from the file."""
    if not snapshot:
        return
    if hasattr(instance, "memory"):  # rec_sum
        if not isinstance(snapshot["memory"], str):
            raise ValueError(f"Memory data should be a string, but got {type(snapshot['memory'])} instead.")
        instance.memory = copy.deepcopy(snapshot["memory"])
    elif hasattr(instance.core_memory, "load_from_snapshot"):  # vector
        instance.core_memory.load_from_snapshot(snapshot["core_memory"])
        instance.archival_memory.load_from_snapshot(snapshot["archival_memory"])
    else:  # kv
        instance.core_memory = copy.deepcopy(snapshot["core_memory"])
        instance.archival_memory = copy.deepcopy(snapshot["archival_memory"])


def snapshot_of(instance: Any) -> dict:
    """The JSON ``_flush_memory_to_local_file`` writes, read back as ``json.load`` would."""
    if hasattr(instance, "memory"):
        data = {"memory": instance.memory}
    elif hasattr(instance.core_memory, "export"):
        data = {"core_memory": instance.core_memory.export(), "archival_memory": instance.archival_memory.export()}
    else:
        data = {"core_memory": instance.core_memory, "archival_memory": instance.archival_memory}
    return json.loads(json.dumps(data))


class MemoryEnvironment(BFCLEnvironment):
    """`funcall.envs.base.Environment` over one BFCL memory backend (module docstring)."""

    def reset(self, entry: dict) -> list[dict]:
        self.entry = entry
        (name,) = [n for n in entry["involved_classes"] if n in MEMORY_CLASSES]
        instance = memory_class(name)()
        load_snapshot(instance, entry.get("memory_snapshot"))
        self.instances = {name: instance}
        docs = list(entry.get("function") or [])
        self.params = {d["name"]: d.get("parameters") or {} for d in docs}
        self.methods = {n: m for n, m in inspect.getmembers(instance, predicate=inspect.ismethod)
                        if not n.startswith("_") and n in self.params}
        return docs

    def state(self) -> dict[str, dict[str, Any]]:
        return {name: {"snapshot": snapshot_of(instance), "context": instance._dump_core_memory_to_context()}
                for name, instance in self.instances.items()}
