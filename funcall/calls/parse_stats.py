"""Did an answer parse, and did it call anything: the counts behind ``*/unparseable`` and ``*/no_call_frac``.

Every answer (a single-turn completion, or one policy step of a multi-turn episode) has exactly
one `outcome` in its run's answer format (`funcall.calls.formats.parse_completion`):

  unparseable  it did not parse: it is not in the format (``format_ok`` false: a missing or
               repeated tag, text outside the structure, no ``<think>`` in funreason, ...) or its
               calls part fails to parse (``calls is None``: not a list of calls, bad JSON, a
               ``<tool_call>`` left open, an answer too long to read, ...);
  no_call      it is in the format and its calls part parsed to no call at all (``calls == []``);
  calls        it is in the format and parsed to at least one call.

``ParsedCompletion.error`` is None exactly when the answer parsed (the parser names the first
structure or call problem it finds), so a record that kept only the error (a BFCL row's
``parse_error``, a multi-turn conversation's step) has the same outcome (`record_outcome`).

How it differs from the obvious test (``calls is None``, or a reward of 0): an answer whose calls
parse but whose structure is wrong counts as unparseable, as the format reward sees it; and the
formats say "no call" differently: plain prose is ``no_call`` in hermes and openai (that is how
those formats answer without a call) but ``unparseable`` in the Python-syntax formats (no call is
``[]`` there). A hermes policy that writes its calls as prose, outside ``<tool_call>`` tags,
therefore shows in ``no_call_frac``, not in ``unparseable``: watch both. Entries that were never
run have no answer and no outcome: callers leave them out of both shares.
"""
from __future__ import annotations

from collections.abc import Iterable

from funcall.calls.formats import ParsedCompletion, parse_completion

UNPARSEABLE, NO_CALL, CALLS = "unparseable", "no_call", "calls"


def outcome(parsed: ParsedCompletion) -> str:
    """``unparseable``, ``no_call`` or ``calls`` (module docstring)."""
    if not parsed.format_ok or parsed.calls is None:
        return UNPARSEABLE
    return CALLS if parsed.calls else NO_CALL


def text_outcome(text: str, answer_format: str) -> str:
    """The `outcome` of a completion's text in ``answer_format``."""
    return outcome(parse_completion(text, answer_format))


def record_outcome(calls: list, parse_error: str | None) -> str:
    """The `outcome` of an answer of which only its decoded calls and its parse error were kept."""
    if parse_error is not None:
        return UNPARSEABLE
    return CALLS if calls else NO_CALL


def step_outcomes(turns: list[list[dict]]) -> list[str]:
    """The outcome of each policy step of a multi-turn conversation, from its log (turns -> messages;
    `funcall.envs.conversation.Conversation` records each step's ``calls`` and ``parse_error``)."""
    return [record_outcome(m["calls"], m["parse_error"]) for turn in turns for m in turn if m.get("role") == "assistant"]


def parse_counts(outcomes: Iterable[str]) -> dict[str, int]:
    """``{"n", "unparseable", "no_call"}``: the answers, those that did not parse, those with no call."""
    seen = list(outcomes)
    return {"n": len(seen), UNPARSEABLE: seen.count(UNPARSEABLE), NO_CALL: seen.count(NO_CALL)}


def parse_shares(counts: dict[str, float], prefix: str) -> dict[str, float]:
    """``<prefix>/unparseable`` and ``<prefix>/no_call_frac``: shares of the ``n`` answers counted
    (0.0 when there is none)."""
    n = max(counts["n"], 1)
    return {f"{prefix}/unparseable": counts[UNPARSEABLE] / n, f"{prefix}/no_call_frac": counts[NO_CALL] / n}
