"""What every parser of untrusted model output shares: its bounds and the failure it returns.

Every parser in funcall.calls and funcall.bfcl takes a `Limits` and returns a `ParseFailure`
(never raises) when the text breaks them or is not what it parses; the defaults are generous for
real function calls (a BFCL answer is a few hundred characters) and small enough that a hostile
completion cannot make a reward function or the checker slow or memory-hungry.
"""

from __future__ import annotations

from collections import namedtuple

_FIELDS = ("max_chars", "max_depth", "max_int_bits", "max_sequence_len")
_DEFAULTS = (64 * 1024, 100, 4096, 100_000)


class Limits(namedtuple("Limits", _FIELDS, defaults=_DEFAULTS)):
    """Immutable bounds, e.g. `Limits(max_depth=50)`:
      max_chars         input text longer than this is refused (`too_long`), default 64 Ki
      max_depth         nesting of brackets/calls deeper than this is refused (`depth`), default 100
      max_int_bits      integer results of constant arithmetic (`numeric`), default 4096
      max_sequence_len  str/list/tuple results of constant arithmetic (`numeric`), default 100,000
    (A named tuple rather than a frozen dataclass: importing dataclasses costs the BFCL checker's
    CLI ~6 ms of start-up.)"""

    __slots__ = ()


DEFAULT_LIMITS = Limits()


class ParseFailure:
    """Why a text is not a call list. `code` is one of: too_long, syntax, not_a_call, depth,
    numeric, unsupported. (Written out rather than a dataclass: importing dataclasses costs the
    BFCL checker's CLI ~6 ms of start-up.)"""

    __slots__ = ("code", "message")

    def __init__(self, code: str, message: str = ""):
        self.code, self.message = code, message

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.code, self.message) == (other.code, other.message)

    __hash__ = None  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return f"ParseFailure(code={self.code!r}, message={self.message!r})"

    def __bool__(self) -> bool:  # a failure is falsy, so `if not result:` reads naturally
        return False
