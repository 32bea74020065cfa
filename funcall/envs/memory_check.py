"""BFCL's agentic checker (memory and web search): the verdict the release gives, without ``eval``.

The rules (``eval_runner._evaluate_single_agentic_entry``, then ``agentic_checker``):

1. The model result must be a list of exactly one turn (agentic questions are single-turn),
   else ``agentic:inference_error``.
2. Each step's text is decoded as the prompting handlers decode it for execution
   (``default_decode_execute_prompting``: `funcall.calls.python_syntax.prompting_output_pairs`, then the
   execution strings, `execution_list`); a step that does not decode, or decodes to no call, is a
   message. The last message is the answer; with none, ``agentic:no_last_message``.
3. The answer and each possible answer are standardised (``,./-_*^()`` removed, lower case,
   ``'`` -> ``"``); valid iff some standardised possible answer occurs in the standardised answer
   between word boundaries (``\\b...\\b``), else ``agentic:answer_not_found``.

How it differs from the release: its decoder ``eval``s binary operators and lambdas in
arguments; here arithmetic is computed by `funcall.calls.python_syntax` within bounds (a lambda
never decodes there either: the release's own code raises on it), and text longer than the
parser's limits is a message, not a call. ``execution_list`` fails where the release's
``parse_nested_value`` raises (an empty ``{}`` argument value), so such a step is a message too.
A step that is not a string is a message (the release's decoder raises on it).
"""
from __future__ import annotations

import re
from typing import Any

from funcall.calls.limits import ParseFailure
from funcall.calls.python_syntax import prompting_output_pairs

INFERENCE_ERROR = "agentic:inference_error"
NO_LAST_MESSAGE = "agentic:no_last_message"
ANSWER_NOT_FOUND = "agentic:answer_not_found"
_PUNCTUATION = re.compile(r"[\,\.\/\-\_\*\^\(\)]")


def standardize(text: str) -> str:
    """``agentic_checker.standardize_string``."""
    return _PUNCTUATION.sub("", text).lower().replace("'", '"')


class _NotExecutable(Exception):
    pass


def _nested(value: Any) -> str:
    """``parse_nested_value``: a dict of dicts is a nested call, another dict a literal, else repr."""
    if isinstance(value, dict):
        if all(isinstance(v, dict) for v in value.values()):
            if not value:
                raise _NotExecutable("an empty dict argument")  # the release: IndexError
            name = next(iter(value))
            return f"{name}({', '.join(f'{k}={_nested(v)}' for k, v in value[name].items())})"
        return "{" + ", ".join(f"'{k}': {_nested(v)}" for k, v in value.items()) + "}"
    return repr(value)


def execution_list(decoded: list[dict]) -> list[str] | None:
    """``decoded_output_to_execution_list``; None where the release raises."""
    try:
        return [f"{name}({', '.join(f'{k}={_nested(v)}' for k, v in args.items())})"
                for call in decoded for name, args in call.items()]
    except (_NotExecutable, RecursionError, AttributeError):
        return None


def is_call_step(text: Any) -> bool:
    """Whether the handler's ``decode_execute`` gives a non-empty call list for this step."""
    if not isinstance(text, str):  # the release's decoder calls str methods on it: an exception, a message
        return False
    pairs = prompting_output_pairs(text)
    if isinstance(pairs, ParseFailure):
        return False
    calls = execution_list([{name: arguments} for name, arguments in pairs])
    return bool(calls) and not (len(calls) == 1 and not calls[0])


def check_answer(answer: Any, possible_answers: list[str]) -> dict:
    """``agentic_checker``: {valid, error_type, error_message}."""
    if isinstance(answer, list):
        answer = answer[0]
    answer = answer if isinstance(answer, str) else str(answer)
    found = standardize(answer)
    for possible in possible_answers:
        if re.search(rf"\b{re.escape(standardize(possible))}\b", found):
            return {"valid": True, "error_type": None, "error_message": ""}
    return {"valid": False, "error_type": ANSWER_NOT_FOUND,
            "error_message": "None of the expected answers were found in the model response."}


def check_agentic(model_result: Any, possible_answers: list[str]) -> dict:
    """The verdict for one entry; ``model_result`` is turns -> steps -> the step's text."""
    if not isinstance(model_result, list) or len(model_result) != 1:
        return {"valid": False, "error_type": INFERENCE_ERROR, "last_message": None,
                "error_message": "Error during inference phase. Model did not output a list of model responses."}
    last = None
    for step in model_result[0]:
        if not is_call_step(step):
            last = step
    if not last:  # the release tests truthiness: an empty last message counts as none
        return {"valid": False, "error_type": NO_LAST_MESSAGE, "last_message": last,
                "error_message": "Cannot find the last chat message that is not a function call."}
    return {**check_answer(last, possible_answers), "last_message": last}
