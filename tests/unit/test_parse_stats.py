"""`funcall.calls.parse_stats`: which answers did not parse, which parsed to no call, in every format;
the counts the RL step (single- and multi-turn) and the held-out evaluation make of them."""
from __future__ import annotations

import pytest
import torch

from funcall.calls import FORMATS, parse_completion, render_completion
from funcall.calls.limits import DEFAULT_LIMITS
from funcall.calls.parse_stats import (
    CALLS,
    NO_CALL,
    UNPARSEABLE,
    outcome,
    parse_counts,
    parse_shares,
    record_outcome,
    step_outcomes,
    text_outcome,
)

CALL = [{"name": "f", "arguments": {"a": 1}}]
HERMES = '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>'
OPENAI = '[{"type": "function", "function": {"name": "f", "arguments": "{\\"a\\": 1}"}}]'

CASES = [  # (format, completion, outcome): hand-written, what a policy really writes
    ("think_answer", "<think>r</think><answer>[f(a=1)]</answer>", CALLS),
    ("think_answer", "<think>r</think><answer>[]</answer>", NO_CALL),
    ("think_answer", "<think>r</think><answer>Nothing fits.</answer>", UNPARSEABLE),  # prose is not a call list
    ("think_answer", "<think>r</think><answer>f(a=1</answer>", UNPARSEABLE),  # the calls part fails
    ("think_answer", "<think>r</think>[f(a=1)]", UNPARSEABLE),  # no <answer>
    ("think_answer", "<think>r</think><answer>[f(a=1)]</answer> trailing", UNPARSEABLE),  # calls parse, format not
    ("think_answer", "<think>r", UNPARSEABLE),  # cut by the token budget
    ("funreason", "<think>r</think>\n\n[f(a=1)]", CALLS),
    ("funreason", "<think>r</think>\n\n[]", NO_CALL),
    ("funreason", "[f(a=1)]", UNPARSEABLE),  # funreason requires the think block
    ("funreason", "<think>r</think>\n\nSorry, no function fits.", UNPARSEABLE),
    ("python", "[f(a=1)]", CALLS),
    ("python", "<think>r</think>\n\n[f(a=1)]", CALLS),  # the optional think block
    ("python", "[]", NO_CALL),
    ("python", "No tool fits.", UNPARSEABLE),  # in Python syntax, prose is no answer
    ("python", "<think>a</think><think>b</think>[f()]", UNPARSEABLE),
    ("hermes", HERMES, CALLS),
    ("hermes", "<think>r</think>\n\n" + HERMES + "\n" + HERMES, CALLS),
    ("hermes", "No tool fits.", NO_CALL),  # prose is how hermes answers without a call
    ("hermes", "f(a=1)", NO_CALL),  # a call written as prose: parsed, to no call (no_call_frac shows it)
    ("hermes", HERMES[:-len("</tool_call>")], UNPARSEABLE),  # left open
    ("hermes", '<tool_call>\n{"name": "f", "arguments": {"a": 1</tool_call>', UNPARSEABLE),  # bad JSON
    ("hermes", "Sure. " + HERMES, UNPARSEABLE),  # text outside the tags
    ("openai", OPENAI, CALLS),
    ("openai", "[]", NO_CALL),
    ("openai", "No tool fits.", NO_CALL),
    ("openai", OPENAI.replace('1}"', '1"'), UNPARSEABLE),  # its arguments are not JSON
]


@pytest.mark.parametrize("fmt,text,expected", CASES, ids=[f"{f}:{t[:40]}" for f, t, _ in CASES])
def test_each_format_s_answers_parse_to_calls_to_no_call_or_not_at_all(fmt, text, expected):
    parsed = parse_completion(text, fmt)
    assert outcome(parsed) == text_outcome(text, fmt) == expected
    # the parse error alone says the same (what a BFCL row and a multi-turn step keep)
    calls = parsed.calls or []
    assert record_outcome(calls, parsed.error) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_format_s_own_targets_parse_and_the_oddities_do_not(fmt):
    assert text_outcome("".join(render_completion("r", CALL, fmt)), fmt) == CALLS
    assert text_outcome("".join(render_completion("r", [], fmt)), fmt) == NO_CALL
    assert text_outcome("x" * (DEFAULT_LIMITS.max_chars + 1), fmt) == UNPARSEABLE  # too long to read
    assert outcome(parse_completion(None, fmt)) == UNPARSEABLE  # not text


def test_counts_and_shares():
    counts = parse_counts([CALLS, NO_CALL, UNPARSEABLE, UNPARSEABLE])
    assert counts == {"n": 4, UNPARSEABLE: 2, NO_CALL: 1}
    assert parse_shares(counts, "rollout") == {"rollout/unparseable": 0.5, "rollout/no_call_frac": 0.25}
    assert parse_shares(parse_counts([]), "eval") == {"eval/unparseable": 0.0, "eval/no_call_frac": 0.0}


def conversation():
    from funcall.data.multi_turn_synthetic import generate
    from funcall.envs.bfcl_env import BFCLEnvironment
    from funcall.envs.conversation import Conversation

    entry = next(e for e, _ in (generate(0, "train", i) for i in range(200)) if len(e["question"]) >= 2)
    c = Conversation(entry=entry, env=BFCLEnvironment())
    c.env.reset(entry)
    c.start_turn()
    return c


def test_a_conversation_records_each_step_s_parse_and_the_steps_are_counted():
    c = conversation()
    c.take("<think>x</think><answer>[ls(a=True)]</answer>", "think_answer", 5)  # a call: the turn goes on
    c.take("<think>x</think> I will list the files", "think_answer", 5)  # does not parse: ends turn 1
    c.take("<think>x</think><answer>[]</answer>", "think_answer", 5)  # no call: ends turn 2
    assert [m["parse_error"] for turn in c.log for m in turn if m["role"] == "assistant"] == [None, "missing_answer", None]
    assert step_outcomes(c.log) == [CALLS, UNPARSEABLE, NO_CALL]


def test_the_single_turn_agent_loop_counts_completions_that_do_not_parse():
    from funcall.agents.single_turn import SingleTurn
    from funcall.rollout.trajectory import Trajectory

    texts = ["<think>r</think><answer>[f(a=1)]</answer>", "<think>r</think><answer>[]</answer>", "[f(a=1)]", "<think>r"]
    ones = torch.ones((4, 3))
    traj = Trajectory(prompt_ids=[[1, 2]] * 4, completion_ids=[[5, 6, 7]] * 4, texts=texts, completion_mask=ones,
                      think_mask=torch.zeros((4, 3)), old_logps=None, entropies=ones, group=2)
    row = SingleTurn().metrics(traj, "think_answer")
    assert row["rollout/unparseable"] == 0.5 and row["rollout/no_call_frac"] == 0.25
    row = SingleTurn().metrics(traj, "python")
    assert row["rollout/unparseable"] == 0.75 and row["rollout/no_call_frac"] == 0.0  # one run's format decides
