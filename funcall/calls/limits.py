"""Bounds applied to untrusted model output before and while it is parsed.

Every parser in funcall.calls and funcall.bfcl takes a `Limits`; the defaults are generous for
real function calls (a BFCL answer is a few hundred characters) and small enough that a hostile
completion cannot make a reward function or the checker slow or memory-hungry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_chars: int = 64 * 1024  # input text longer than this is refused (`too_long`)
    max_depth: int = 100  # nesting of brackets/calls deeper than this is refused (`depth`)
    max_int_bits: int = 4096  # integer results of constant arithmetic (`numeric`)
    max_sequence_len: int = 100_000  # str/list/tuple results of constant arithmetic (`numeric`)


DEFAULT_LIMITS = Limits()
