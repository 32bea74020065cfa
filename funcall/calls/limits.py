"""Bounds applied to untrusted model output before and while it is parsed.

Every parser in funcall.calls and funcall.bfcl takes a `Limits`; the defaults are generous for
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
