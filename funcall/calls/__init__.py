"""Function-call formats: render targets and parse model output, with `ast`/`json` only.

A call is the canonical dict `{"name": str, "arguments": dict}`. Public surface:
`render_completion`, `parse_completion`, `think_span`, `answer_span`, `FORMATS` (formats.py);
`parse_python_calls`, `render_python_calls` (python_syntax.py); `to_bfcl`, `from_bfcl`
(canonical.py); `Limits`, `ParseFailure` (limits.py). Nothing here executes model output.

The names are loaded on first use, so that a process that only needs one module (the BFCL
checker's CLI imports funcall.calls.python_syntax) does not pay for the others at start-up.
"""

import importlib

_MODULE_OF = {
    "from_bfcl": "canonical", "to_bfcl": "canonical",
    "FORMATS": "formats", "ParsedCompletion": "formats", "answer_span": "formats", "parse_completion": "formats",
    "render_completion": "formats", "think_span": "formats",
    "DEFAULT_LIMITS": "limits", "Limits": "limits",
    "ParseFailure": "limits", "parse_python_calls": "python_syntax", "render_python_calls": "python_syntax",
}

__all__ = [
    "DEFAULT_LIMITS", "FORMATS", "Limits", "ParseFailure", "ParsedCompletion", "answer_span", "from_bfcl",
    "parse_completion", "parse_python_calls", "render_completion", "render_python_calls", "think_span", "to_bfcl",
]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
