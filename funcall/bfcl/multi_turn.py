"""BFCL's multi-turn checker: the verdict the official release gives, quirks included.

The rules (``eval_runner._evaluate_single_multi_turn_entry``, then ``multi_turn_checker``):

1. ``model_output`` is turns -> steps -> call strings. Not a list: ``multi_turn:inference_error``.
   A different number of turns than the ground truth: ``multi_turn:force_terminated``.
2. In each turn, empty steps (no call, or one empty string) are dropped; so are steps that are
   not lists of strings (BFCL drops the steps it cannot decode).
3. Turn by turn, the model's steps and then the ground truth's calls are executed on two
   instance sets that carry over between turns. Calls that fail give error strings as results.
4. A turn whose ground truth is empty is not checked (the release imports its irrelevance check
   but never calls it), but its calls still ran, so they can fail a later turn.
5. Otherwise the turn fails with ``multi_turn:empty_turn_model_response`` if the model made no
   step, with ``multi_turn:instance_state_mismatch`` unless every public attribute of every
   ground-truth instance equals the model's, and with ``multi_turn:execution_response_mismatch``
   unless the ground truth's results are an unordered sub-multiset of all the model's results so
   far (earlier turns included). All turns passing is valid; the first failed turn is the verdict.

`turn_verdicts` gives rule 5 per turn instead, going on past a failed turn (the per-turn reward
`funcall.rewards.multi_turn` reads it); both run the one turn loop, `_turns`.

How it differs from the release: calls are executed by `funcall.envs` (parsed, never ``eval``ed;
in a child process when the environments come from `funcall.envs.worker.EnvPool`), and nothing
is kept in module globals, so two checks of one entry never share state. ``make_env`` returns a
fresh `funcall.envs.base.Environment` each time it is called.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from funcall.envs.base import Environment

FORCE_TERMINATED = "multi_turn:force_terminated"


def empty_step(step: Any) -> bool:
    """BFCL's ``is_empty_execute_response``: no call, or a single empty call string."""
    return isinstance(step, list) and (len(step) == 0 or (len(step) == 1 and len(step[0]) == 0))


def decoded_steps(turn: Any) -> list[list[str]]:
    """The steps of one turn BFCL would keep: lists of strings that are not empty."""
    if not isinstance(turn, list):
        return []
    return [step for step in turn if isinstance(step, list) and all(isinstance(c, str) for c in step)
            and not empty_step(step)]


def verdict(valid: bool, error_type: str | None = None, message: str = "", **details) -> dict:
    return {"valid": valid, "error_type": error_type, "error_message": message, **details}


def check_multi_turn(entry: dict, ground_truth: list[list[str]], model_output: Any,
                     make_env: Callable[[], Environment]) -> dict:
    """The release's verdict for ``model_output`` on ``entry`` (module docstring)."""
    if not isinstance(model_output, list):
        return verdict(False, "multi_turn:inference_error", "the model output is not a list of turns")
    if len(model_output) != len(ground_truth):
        return verdict(False, FORCE_TERMINATED, f"{len(model_output)} turns in the model output, "
                                                f"{len(ground_truth)} in the ground truth")
    model_env, truth_env = make_env(), make_env()
    try:
        return _check_turns(entry, ground_truth, model_output, model_env, truth_env)
    finally:
        model_env.close()
        truth_env.close()


def turn_verdicts(entry: dict, ground_truth: list[list[str]], model_output: Any,
                  make_env: Callable[[], Environment]) -> list[bool | None]:
    """Per turn, whether it passes the per-turn checks of rule 5 (None: empty ground truth, not
    checked), going on past a failed turn, both instance sets carrying on as in rule 3. An output
    that is not a list fails every checked turn; turns missing from a short output are empty
    (so they fail when checked) and turns beyond the ground truth's are ignored."""
    if not isinstance(model_output, list):
        return [None if not calls else False for calls in ground_truth]
    model_output = list(model_output[:len(ground_truth)]) + [[]] * (len(ground_truth) - len(model_output))
    model_env, truth_env = make_env(), make_env()
    try:
        return [None if v is None else v["valid"] for v in _turns(entry, ground_truth, model_output, model_env, truth_env)]
    finally:
        model_env.close()
        truth_env.close()


def _check_turns(entry: dict, ground_truth: list[list[str]], model_output: list, model_env: Environment,
                 truth_env: Environment) -> dict:
    for turn_verdict in _turns(entry, ground_truth, model_output, model_env, truth_env):
        if turn_verdict is not None and not turn_verdict["valid"]:
            return turn_verdict  # the generator is lazy: nothing after the first failed turn runs
    return verdict(True)


def _turns(entry: dict, ground_truth: list[list[str]], model_output: list, model_env: Environment,
           truth_env: Environment) -> Iterator[dict | None]:
    """Rules 2-5 turn by turn: each turn's verdict, None for a turn that is not checked."""
    model_env.reset(entry)
    truth_env.reset(entry)
    all_model_results: list[str] = []
    for turn, (truth_calls, raw_turn) in enumerate(zip(ground_truth, model_output)):
        steps = decoded_steps(raw_turn)
        for step in steps:
            all_model_results.extend(model_env.execute(step))
        truth_results = truth_env.execute(list(truth_calls))
        if not truth_calls:
            yield None
        elif not steps:
            yield verdict(False, "multi_turn:empty_turn_model_response", f"Model response list is empty for turn {turn}")
        elif differences := state_differences(model_env.state(), truth_env.state()):
            yield verdict(False, "multi_turn:instance_state_mismatch",
                          f"the model's instances differ from the ground truth's after turn {turn}", differences=differences)
        elif missing := missing_results(truth_results, all_model_results):
            yield verdict(False, "multi_turn:execution_response_mismatch",
                          f"results of the ground truth missing from the model's so far, turn {turn}", missing=missing)
        else:
            yield verdict(True)


def state_differences(model: dict[str, dict], truth: dict[str, dict]) -> dict[str, list[str]]:
    """Per class, the public attributes of the ground truth's instance whose values the model's
    instance does not have (BFCL's ``state_checker``: the ground truth's attributes, ``!=``)."""
    out = {}
    for name, attributes in truth.items():
        theirs = model.get(name, {})
        changed = [attr for attr, value in attributes.items() if attr not in theirs or theirs[attr] != value]
        if changed:
            out[name] = changed
    return out


def missing_results(truth_results: list[str], model_results: list[str]) -> list[str]:
    """The ground truth's results not found in the model's, each model result used once
    (BFCL's ``_is_subsequence_unordered``)."""
    pool = list(model_results)
    missing = []
    for item in truth_results:
        try:
            pool.remove(item)
        except ValueError:
            missing.append(item)
    return missing
