"""Function-call formats: render targets and parse model output, with `ast`/`json` only.

A call is the canonical dict `{"name": str, "arguments": dict}`. Public surface:
`render_completion`, `parse_completion`, `think_span`, `answer_span`, `FORMATS` (formats.py);
`parse_python_calls`, `render_python_calls` (python_syntax.py); `to_bfcl`, `from_bfcl`
(canonical.py); `Limits` (limits.py). Nothing here executes model output.
"""

from funcall.calls.canonical import from_bfcl, to_bfcl
from funcall.calls.formats import (
    FORMATS,
    ParsedCompletion,
    answer_span,
    parse_completion,
    render_completion,
    think_span,
)
from funcall.calls.limits import DEFAULT_LIMITS, Limits
from funcall.calls.python_syntax import (
    ParseFailure,
    parse_python_calls,
    render_python_calls,
)

__all__ = [
    "DEFAULT_LIMITS", "FORMATS", "Limits", "ParseFailure", "ParsedCompletion", "answer_span", "from_bfcl",
    "parse_completion", "parse_python_calls", "render_completion", "render_python_calls", "think_span", "to_bfcl",
]
