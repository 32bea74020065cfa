"""BFCL's multi-turn environments, executed without ``eval``: one fresh instance set per episode.

`BFCLEnvironment` is the official classes (GorillaFileSystem, MathAPI, ...) of an entry's
``involved_classes``, loaded from its ``initial_config`` as BFCL's executor loads them (a deep
copy of the class's config, ``long_context`` for the long_context category). How it differs from
BFCL's executor (``multi_turn_utils.execute_multi_turn_func_call``):

* A call string is parsed (`funcall.envs.calls.parse_env_call`: a plain name, literal arguments),
  never evaluated. It is dispatched only to a public method named in the entry's tool docs (a
  name defined by several classes goes to the last one, as BFCL's mapping does); anything else
  is an error result. Arguments are checked against the docs' types (string, integer, float,
  boolean, array, dict; ``None`` for an optional one) before the method runs.
* The instances belong to this object: no module globals keyed by model and entry, nothing
  shared between episodes, two environments of one entry never see each other's state.
* A result is rendered as BFCL renders it (a string as is, a dict as JSON, anything else
  ``str``), cut to ``max_result_chars``; an exception is the result
  ``"Error during execution: <message>"``, as in BFCL, never raised.
Time is bounded one level up: `funcall.envs.worker` runs environments in a child process.
"""
from __future__ import annotations

import copy
import inspect
import json
from typing import Any

from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure
from funcall.calls.types import kind
from funcall.envs.bfcl_data import environment_class, is_stateless
from funcall.envs.calls import parse_env_call

ERROR = "Error during execution: "
BLOCKED = ("kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run")  # BFCL refuses these names too
MAX_INT = 2**63  # larger integer arguments are refused
OTHER_KINDS = {"string": str, "array": (list, tuple), "tuple": (list, tuple), "dict": dict}


def category_of(entry_id: str) -> str:
    return entry_id.rsplit("_", 1)[0]


def render_result(value: Any) -> str:
    """A method's return value as BFCL's executor writes it into the conversation."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _fits(declared: str | None, value: Any) -> bool:
    k = kind(declared) if declared is not None else "any"
    if k in (None, "any"):
        return True
    if isinstance(value, bool):
        return k == "boolean"
    if isinstance(value, int):
        return k in ("integer", "number") and abs(value) < MAX_INT
    if isinstance(value, float):
        return k == "number" and value == value and abs(value) != float("inf")
    expected = OTHER_KINDS.get(k)
    return expected is not None and isinstance(value, expected)


class BFCLEnvironment:
    """`funcall.envs.base.Environment` over BFCL's classes (module docstring)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, max_result_chars: int = 64 * 1024):
        self.limits = limits
        self.max_result_chars = max_result_chars
        self.entry: dict = {}
        self.instances: dict[str, Any] = {}
        self.methods: dict[str, Any] = {}
        self.params: dict[str, dict] = {}

    def reset(self, entry: dict) -> list[dict]:
        self.entry = entry
        long_context = any(word in category_of(str(entry["id"])) for word in ("long_context", "composite"))
        config = entry.get("initial_config") or {}
        self.instances, self.methods = {}, {}
        for name in entry["involved_classes"]:
            instance = environment_class(name)()
            if not is_stateless(name):
                instance._load_scenario(copy.deepcopy(config.get(name, {})), long_context=long_context)
            self.instances[name] = instance
            for method_name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
                if not method_name.startswith("_"):
                    self.methods[method_name] = method
        docs = list(entry.get("function") or []) + [d for ds in (entry.get("missed_function") or {}).values() for d in ds]
        self.params = {d["name"]: d.get("parameters") or {} for d in docs}
        self.methods = {name: method for name, method in self.methods.items() if name in self.params}
        return list(entry.get("function") or [])

    def tools(self, turn: int) -> list[dict]:
        return list((self.entry.get("missed_function") or {}).get(str(turn), []))

    def execute(self, calls: list[str]) -> list[str]:
        return [self.run(call) for call in calls]

    def run(self, text: str) -> str:
        """One call string -> its result string (errors included)."""
        call = parse_env_call(text, self.limits)
        if isinstance(call, ParseFailure):
            return f"{ERROR}{call.message or call.code}"
        if call.name in BLOCKED:
            return f"{ERROR}Function call {call.name} is not allowed."
        method = self.methods.get(call.name)
        if method is None:
            return f"{ERROR}name '{call.name}' is not defined"
        refused = self.check_arguments(call.name, method, call.args, call.kwargs)
        if refused:
            return f"{ERROR}{refused}"
        try:
            result = render_result(method(*call.args, **call.kwargs))
        except Exception as exc:  # noqa: BLE001 - a failing call is a result, as in BFCL
            result = f"{ERROR}{exc}"
        return result if len(result) <= self.max_result_chars else result[: self.max_result_chars] + " ...[cut]"

    def check_arguments(self, name: str, method, args: tuple, kwargs: dict) -> str | None:
        """Why the arguments do not fit the docs' types, or None. Arguments that do not bind to
        the signature are left to the call itself (Python's TypeError, as BFCL reports it)."""
        try:
            bound = inspect.signature(method).bind(*args, **kwargs).arguments
        except TypeError:
            return None
        schema = self.params.get(name, {})
        properties, required = schema.get("properties") or {}, set(schema.get("required") or [])
        for param, value in bound.items():
            declared = (properties.get(param) or {}).get("type")
            if value is None and param not in required:
                continue
            if not _fits(declared, value):
                return f"argument {param!r} of {name} must be of type {declared}, got {type(value).__name__}"
        return None

    def close(self) -> None:
        self.instances, self.methods = {}, {}

    def state(self) -> dict[str, dict[str, Any]]:
        return {name: {k: copy.deepcopy(v) for k, v in vars(instance).items() if not k.startswith("_")}
                for name, instance in self.instances.items()}
