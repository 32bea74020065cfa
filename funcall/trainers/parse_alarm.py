"""A warning when an RL run's completions stop parsing: ``rollout/unparseable`` high for N steps in a row.

A run whose completions never parse in its answer format still logs a reward and trains on: the
format's floor, or worse a reward near 0.93 when the data is mostly no-call prompts and the
reward reads "nothing parsed" as "no call". Nothing fails. `UnparseableAlarm` is fed each step's
``rollout/unparseable`` (`funcall.calls.parse_stats`) and returns a warning the step a streak of
``steps`` consecutive steps at or above ``share`` completes, then stays quiet until a step goes
below ``share`` and a new streak starts: once per streak, not once per step. The RL loop
(`funcall.trainers.rl`) feeds it the mean over ranks, the value the step's row logs, and warns
on rank 0 through the ``funcall`` logger (console and ``train.log``).

How it differs from a check on one step: a single step where nothing parses is normal early in a
run (a cold policy, a few prompts); a streak is not. ``steps: 0`` (or ``unparseable_alarm: null``)
turns it off.
"""
from __future__ import annotations

ALARM_KEYS = ("steps", "share")  # trainer.unparseable_alarm.*


class UnparseableAlarm:
    def __init__(self, steps: int, share: float, answer_format: str):
        self.steps, self.share, self.answer_format = int(steps), float(share), answer_format
        self.streak, self.first = 0, 0  # consecutive steps at or above share, and the first of them

    @classmethod
    def from_config(cls, cfg, answer_format: str) -> UnparseableAlarm | None:
        """The alarm of ``trainer.unparseable_alarm`` (checked by `funcall.trainers.rl_settings.RLSettings.check`); None when off."""
        if not cfg or not int(cfg["steps"]):
            return None
        return cls(cfg["steps"], cfg["share"], answer_format)

    def update(self, step: int, unparseable: float) -> str | None:
        """Step ``step``'s share of completions that did not parse -> the warning, on the step a
        streak reaches ``steps``; None otherwise."""
        if unparseable < self.share:
            self.streak = 0
            return None
        self.streak += 1
        if self.streak == 1:
            self.first = step
        if self.streak != self.steps:
            return None
        return (f"rollout/unparseable >= {self.share:g} for {self.steps} steps in a row (steps {self.first}-{step}, "
                f"{unparseable:.0%} at the last): the policy's completions do not parse in the answer format "
                f"{self.answer_format!r}, so its rewards say nothing about its calls; compare the rollout/samples "
                "table with data.prompt.answer_format (trainer.unparseable_alarm)")
