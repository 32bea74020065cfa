"""`json.loads` for the CLI's input rows, parsing a repeated `question` only once.

Each row carries its BFCL entry (`question`: the messages and the function docs, most of the row's
bytes), and rows of the same entry usually come together (several model outputs per prompt). A
`RowReader` remembers the raw text of the last `question` value and what it parsed to; when the
next line holds the same text, that text is replaced by the token `-Infinity` before the rest of
the line is parsed, and the remembered value is put back where the token lands. The result is
the same dict `json.loads(line)` gives, because:
  * the remembered text is a complete JSON object or array, so a parser reads exactly that text
    there, whatever follows, and the rest of the line parses the same way around it;
  * the replacement is used only when the token comes out as the row's top-level `question` and
    the line itself has no `-Infinity` anywhere (so the token can only be the one put in);
  * anything else (no match, bad JSON, a different layout) goes to `json.loads(line)` itself, with
    its own error messages.
The shared value is never modified: the checker only reads the function docs.
"""

from __future__ import annotations

import json
import re
from typing import Any

_KEY = re.compile(r'"question"[ \t\n\r]*:[ \t\n\r]*')
_TOKEN = "-Infinity"
_PROBE_CHARS = 256  # a question repeated from the line before is parsed once it starts the same way


class _Placeholder:
    pass


_PLACEHOLDER = _Placeholder()


_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), _TOKEN: _PLACEHOLDER}  # json's, but the token
_DECODER = json.JSONDecoder(parse_constant=_CONSTANTS.__getitem__)
_PLAIN = json.JSONDecoder()
_TRAILING_SPACE = re.compile(r"[ \t\n\r]*")  # json's whitespace
_NOTHING = object()


def _whole_value(line: str, decoder: json.JSONDecoder) -> Any:
    """The value `line` holds from its first character to its end (json's whitespace after it
    allowed), read by the decoder's C scanner; _NOTHING when that is not so (bad JSON included).
    This is json.loads without its ~0.6 us of Python-level checks per row."""
    try:
        value, end = decoder.scan_once(line, 0)
    except (StopIteration, ValueError):
        return _NOTHING
    if end != len(line) and _TRAILING_SPACE.match(line, end).end() != len(line):
        return _NOTHING
    return value


def _loads(line: str) -> Any:
    """json.loads(line), with its errors."""
    value = _whole_value(line, _PLAIN)
    return json.loads(line) if value is _NOTHING else value


class RowReader:
    def __init__(self) -> None:
        self._text = ""  # raw text of a `question` value (an object or array) met in two rows in a row ...
        self._value: Any = None  # ... and what it parsed to
        self._line, self._start = "", 0  # the last line parsed in full, and where its question starts

    def load(self, line: str) -> Any:
        """json.loads(line); raises what it raises."""
        key = _KEY.search(line)
        if key is None:
            return _loads(line)
        start = key.end()
        if not (self._text and line.startswith(self._text, start)) and not self._learn(line, start):
            self._line, self._start = line, start
            return _loads(line)
        end = start + len(self._text)
        if line.find(_TOKEN, 0, start) < 0 and line.find(_TOKEN, end) < 0:
            row = _whole_value(line[:start] + _TOKEN + line[end:], _DECODER)
            if type(row) is dict and row.get("question") is _PLACEHOLDER:
                row["question"] = self._value
                return row
        return _loads(line)

    def _learn(self, line: str, start: int) -> bool:
        """Whether the question at `start` repeats the one of the last line parsed in full; if so,
        remembers its text and value. (A row whose question is new costs only this comparison.)"""
        previous, previous_start = self._line, self._start
        if not previous or not line.startswith(previous[previous_start : previous_start + _PROBE_CHARS], start):
            return False
        try:
            value, end = _PLAIN.raw_decode(previous, previous_start)  # the JSON value there and where it ends
        except ValueError:
            return False
        text = previous[previous_start:end]
        if (type(value) is not dict and type(value) is not list) or _TOKEN in text or not line.startswith(text, start):
            return False
        self._text, self._value = text, value
        return True
