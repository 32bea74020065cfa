"""BFCL single-turn evaluation: decode model text, check it against the ground truth, score.

`check(category, functions, possible_answer, decoded_output) -> Verdict` gives the official
checker's verdict; `decode_text(text, category)` decodes prompting-model text as BFCL does;
`load_category(data_dir, category)` reads BFCL's files; `summarize(per_category)` aggregates.
Importing this package loads only the standard library (no torch, transformers or numpy), and each
name's module only on first use (the CLI, `python -m funcall.bfcl`, needs neither data nor scores).
"""

import importlib

_MODULE_OF = {
    "SINGLE_TURN_CATEGORIES": "checker", "Verdict": "checker", "check": "checker",
    "Entry": "data", "load_category": "data", "decode_text": "decode", "summarize": "scores",
}

__all__ = ["SINGLE_TURN_CATEGORIES", "Entry", "Verdict", "check", "decode_text", "load_category", "summarize"]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
