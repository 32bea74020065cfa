"""The judge's and the teacher's prompts, in our own words.

Each judged check of FunReason's refinement (docs/methods.md, section 2) is its own short request: the
system message says what to check and how to answer (`<judge>True</judge>` / `<judge>False</judge>`,
plus a corrected call list in `<NewFC>...</NewFC>` for checks 4 and 5); the user message shows the
tools (one JSON document per line), the conversation, and the answer (calls in BFCL's Python
syntax, as they will be trained on; or the answer as given, when it does not parse), and for
check 3 the reasoning. The first line of every system message names the task (`TITLES`), which
also lets a scripted test server tell the requests apart.

The teacher request asks for the reasoning that leads from the request to given calls, inside
`<think>...</think>`; `score_messages` is the RL reward's request (a score in `<score>...</score>`).
"""
from __future__ import annotations

import json

from funcall.calls.python_syntax import render_python_calls

CHECKS = ("query_tools", "reasoning", "calls", "format")  # FunReason's checks 2-5 (check 1 is read from the data)

TITLES = {
    "query_tools": "Check 2 of 5: can the tools answer the request?",
    "reasoning": "Check 3 of 5: does the reasoning lead to the answer?",
    "calls": "Check 4 of 5: are the functions and arguments right?",
    "format": "Check 5 of 5: is the answer in the required format?",
    "teacher": "Write the reasoning behind a function call.",
    "score": "Grade a function-calling reply.",
}

_VERDICT = "End your reply with <judge>True</judge> if so, or <judge>False</judge> if not."
_CORRECTION = ("End your reply with <judge>True</judge> if so. If not, end it with <judge>False</judge> "
               "followed by the corrected answer inside <NewFC></NewFC>, written as a Python list of "
               "calls with keyword arguments, for example <NewFC>[get_weather(city='Oslo', days=3)]</NewFC>.")

SYSTEM = {
    "query_tools": (
        "You review training data for a model that answers requests by calling functions. Decide two "
        "things: can the listed tools do what the user asks, and can the value of every argument in the "
        "answer be read from the conversation or reasonably inferred from it (or is the parameter's "
        "documented default)? Think it through briefly. " + _VERDICT),
    "reasoning": (
        "You review training data for a model that reasons before calling functions. Decide whether the "
        "reasoning leads step by step to exactly the given answer: it picks the tools the answer calls, "
        "takes each argument value from the conversation, and says nothing the answer contradicts. "
        "Think it through briefly. " + _VERDICT),
    "calls": (
        "You review training data for a model that answers requests by calling functions. Decide whether "
        "the answer calls the right functions, with the right argument names and the right values for "
        "this request: no needed call missing, no call too many, no value changed or invented. "
        "Think it through briefly. " + _CORRECTION),
    "format": (
        "You review training data for a model that answers requests by calling functions. The answer must "
        "be a Python list of calls, [function_name(argument=value, ...)], with keyword arguments only, "
        "argument names unquoted, strings in quotes, and numbers, booleans, lists and dicts written as "
        "Python literals. Decide whether the answer is written that way. " + _CORRECTION +
        " Keep the same functions and values when you rewrite it."),
}

TEACHER_SYSTEM = (
    "You write the reasoning a careful assistant goes through before calling functions. You are given "
    "the tools, the conversation, and the calls that answer it. Inside <think></think>, write the steps "
    "that lead to those calls: which tool fits the request and why, the value of each argument and "
    "where in the request it comes from, and a check that every required argument is present. Write as "
    "the assistant thinking, without saying the calls were given to you. After </think>, repeat the calls.")

SCORE_SYSTEM = (
    "You grade a reply of a model that answers requests by calling functions. You are given the tools, "
    "the request, the reference calls (for each argument, the list of acceptable values; \"\" means the "
    "argument may be left out) and the model's reply. Judge the calls in the reply: the right functions, "
    "argument names and values for the request, as the reference does it. Ignore style. Give a score from "
    "0 to 1: 1 when the calls do what the reference does, 0 when the functions are wrong or nothing can be "
    "read as a call, partial credit in between. End your reply with the score inside <score></score>, "
    "for example <score>0.5</score>.")


def tools_block(tools: list) -> str:
    return "\n".join(json.dumps(tool, ensure_ascii=False, sort_keys=True) for tool in tools) or "(no tools)"


def conversation_block(messages: list[dict]) -> str:
    lines = []
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        lines.append(f"{message.get('role', 'user')}: {text}")
    return "\n".join(lines)


def answer_block(calls: list[dict] | None, raw_answer: str | None) -> str:
    if calls is None:
        return f"Answer (as given; it could not be read as function calls):\n{raw_answer}"
    return f"Answer:\n{render_python_calls(calls)}"


def _system(task: str, body: str) -> dict:
    return {"role": "system", "content": f"{TITLES[task]}\n{body}"}


def check_messages(check: str, tools: list, messages: list[dict], calls: list[dict] | None,
                   raw_answer: str | None = None, reasoning: str | None = None) -> list[dict]:
    parts = [f"Tools:\n{tools_block(tools)}", f"Conversation:\n{conversation_block(messages)}"]
    if check == "reasoning":
        parts.append(f"Reasoning:\n{reasoning or ''}")
    parts.append(answer_block(calls, raw_answer))
    return [_system(check, SYSTEM[check]), {"role": "user", "content": "\n\n".join(parts)}]


def teacher_messages(tools: list, messages: list[dict], calls: list[dict]) -> list[dict]:
    user = "\n\n".join([f"Tools:\n{tools_block(tools)}", f"Conversation:\n{conversation_block(messages)}",
                        f"Calls:\n{render_python_calls(calls)}"])
    return [_system("teacher", TEACHER_SYSTEM), {"role": "user", "content": user}]


def score_messages(tools: list, request_text: str, reference: object, completion: str) -> list[dict]:
    user = "\n\n".join([f"Tools:\n{tools_block(tools)}", f"Request:\n{request_text}",
                        f"Reference calls:\n{json.dumps(reference, ensure_ascii=False, default=str)}",
                        f"Reply:\n{completion}"])
    return [_system("score", SCORE_SYSTEM), {"role": "user", "content": user}]
