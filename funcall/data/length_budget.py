"""Token budgets: an example over its budget is an error or is skipped and counted, never cut.

The obvious way to fit a budget is to cut: RL used to keep a prompt's last ``max_length``
tokens, which on BFCL's long tool lists removed the functions themselves (the policy was then
trained on prompts that began mid-instruction), and SFT cut prompt + target at the end, the
target first. A cut example is a different example, so here it is one of two things, chosen by
``trainer.overlong``:

* ``error`` (the default): a one-line `DataError` naming the example, its length, the budget and
  the option that sets it;
* ``skip``: the example is replaced by a stand-in drawn from the data (`draw_fitting`), the run
  counts it (``data/skipped_long_*`` per step, summed in ``summary.json``) and warns once.

Replacing rather than dropping keeps every rank's batch the size the loop and DeepSpeed were
built for. The stand-ins are a pure function of where the skip happened
(`funcall.data.sampler.GlobalSampler.stand_in`), so a resumed run draws the same ones.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from funcall.logging.console import log
from funcall.utils.errors import DataError

T = TypeVar("T")
MAX_DRAWS = 64  # draws for one slot before the data is judged not to fit at all (with 90% of it over, a slot fails once in ~800)


class LengthBudget:
    """At most ``limit`` tokens (None: no limit) for ``what`` (e.g. "prompt"), set by ``option``
    (``note``: how the limit was derived when the option is unset); skips are counted in ``metric``."""

    def __init__(self, limit: int | None, option: str, overlong: str = "error", what: str = "prompt",
                 metric: str = "data/skipped_long_prompts", note: str | None = None):
        self.limit, self.option, self.overlong, self.what, self.metric = limit, option, overlong, what, metric
        self.source = option if note is None else f"{option}; unset, so {note}"
        self.warned = False

    def fits(self, example_id: str, n_tokens: int) -> bool:
        """True if it fits; False to skip it (``skip``); raises `DataError` (``error``)."""
        if self.limit is None or n_tokens <= self.limit:
            return True
        where = f"{n_tokens} tokens, over the {self.limit}-token budget ({self.source})"
        if self.overlong == "error":
            raise DataError(f"example {example_id}: its {self.what} has {where}; nothing is ever cut: raise "
                            f"{self.option}, or skip such examples with trainer.overlong=skip")
        if not self.warned:
            log.warning(f"skipping examples whose {self.what} is over the budget, the first: {example_id} ({where}); "
                        f"counted in {self.metric} (trainer.overlong=skip)")
            self.warned = True
        return False


def draw_fitting(indices: list[int], encode: Callable[[int], T], length: Callable[[T], int], budget: LengthBudget,
                 stand_in: Callable[[int, int], int], name: Callable[[int], str]) -> tuple[list[T], int]:
    """``encode(i)`` for each dataset index, an over-budget one replaced by ``stand_in(slot,
    attempt)`` until one fits; returns the encoded items (as many as ``indices``, in order) and
    how many draws were skipped. ``name(i)`` is the example's id for messages."""
    kept, skipped = [], 0
    for slot, index in enumerate(indices):
        for attempt in range(MAX_DRAWS):
            item = encode(index)
            if budget.fits(name(index), length(item)):
                kept.append(item)
                break
            skipped += 1
            index = stand_in(slot, attempt)
        else:
            raise DataError(f"{MAX_DRAWS} examples drawn in a row have a {budget.what} over the {budget.limit}-token "
                            f"budget ({budget.option}): nearly all of the data is longer; raise {budget.option}")
    return kept, skipped
