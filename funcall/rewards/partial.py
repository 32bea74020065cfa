"""ToolRL-style partial-credit reward (arXiv 2504.13958): R = R_format + R_correct.

R_format is 1 when the structure is right (see FormatReward), else 0. R_correct = 6 * S / S_max - 3
lies in [-3, 3]:
  S     = Jaccard(predicted tool names, expected tool names)
          + for each expected call, the best not-yet-used prediction with the same name:
            Jaccard(its argument keys, the expected keys) + number of expected parameters it matches
  S_max = 1 + sum over expected calls of (1 + number of expected parameters)
Choices made where ToolRL leaves room (documented here, pinned by tests):
  * names are compared as multisets, so a duplicated or missing call lowers the name term;
  * an expected parameter "matches" when the predicted value is one of its acceptable values
    (plain ==), or when it is omitted and "" (omittable) is acceptable; the expected key set is the
    non-omittable parameters plus the omittable ones the prediction gives;
  * predictions are matched to expected calls greedily, in expected order, each used once;
  * an unparseable answer (or a malformed ground truth) gets R_correct = -3; for a no-call sample (empty ground truth) an empty
    prediction or a plain-text reply scores S = S_max, any call scores S = 0.
Normalisation: `scale_to_unit=True` maps R from [-3, 4] to [0, 1] as (R + 3) / 7.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from funcall.calls.formats import parse_completion
from funcall.rewards.ast_match import structure_ok
from funcall.rewards.base import completion_text


def _jaccard(a: Counter | set, b: Counter | set) -> float:
    if isinstance(a, Counter):
        union, inter = sum((a | b).values()), sum((a & b).values())
    else:
        union, inter = len(a | b), len(a & b)
    return 1.0 if union == 0 else inter / union


def _accepts(options: Any, value: Any) -> bool:
    try:
        return isinstance(options, list) and value in options and value != ""
    except Exception:  # noqa: BLE001  odd values compare as "no match"
        return False


def call_score(prediction: dict, expected: dict) -> float:
    """Jaccard of argument keys plus the number of expected parameters matched."""
    arguments = prediction.get("arguments") or {}
    omittable = {k for k, options in expected.items() if isinstance(options, list) and "" in options}
    expected_keys = (set(expected) - omittable) | (omittable & set(arguments))
    matches = sum(
        (key in arguments and _accepts(options, arguments[key])) or (key not in arguments and key in omittable)
        for key, options in expected.items()
    )
    return _jaccard(set(arguments), expected_keys) + matches


def correctness_score(predicted: list[dict] | None, ground_truth: list[dict] | None) -> tuple[float, float]:
    """(S, S_max) for canonical predicted calls against a BFCL ground truth `[{name: {param: [options]}}]`."""
    expected = [(name, params) for item in ground_truth or [] for name, params in item.items()]
    if not expected:
        return (1.0 if not predicted else 0.0), 1.0
    maximum = 1.0 + sum(1 + len(params) for _, params in expected)
    if predicted is None:
        return 0.0, maximum
    score = _jaccard(Counter(call["name"] for call in predicted), Counter(name for name, _ in expected))
    unused = list(predicted)
    for name, params in expected:
        candidates = [call for call in unused if call["name"] == name]
        if candidates:
            best = max(candidates, key=lambda call: call_score(call, params))
            score += call_score(best, params)
            unused.remove(best)
    return score, maximum


class PartialReward:
    def __init__(self, answer_format: str = "think_answer", require_think: bool = True, scale_to_unit: bool = False, name: str = "partial"):
        parse_completion("", answer_format)  # fail fast on an unknown format
        self.answer_format = answer_format
        self.require_think = require_think
        self.scale_to_unit = scale_to_unit
        self.__name__ = name

    def score(self, completion: Any, possible_answer: Any) -> float:
        parsed = parse_completion(completion_text(completion), self.answer_format)
        format_reward = 1.0 if structure_ok(parsed, self.require_think) and parsed.calls is not None else 0.0
        calls = parsed.calls
        if calls is None and not possible_answer and parsed.answer is not None:
            calls = []  # a plain-text reply is the right behaviour when no call is expected
        correct = -3.0
        if calls is not None:
            try:
                score, maximum = correctness_score(calls, possible_answer)
                correct = 6.0 * score / maximum - 3.0
            except Exception:  # noqa: BLE001  a malformed ground truth scores as wrong, it does not stop training
                correct = -3.0
        total = format_reward + correct
        return (total + 3.0) / 7.0 if self.scale_to_unit else total

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        answers = columns.get("possible_answer") or [None] * len(completions)
        return [self.score(completion, answers[i] if i < len(answers) else None) for i, completion in enumerate(completions)]
