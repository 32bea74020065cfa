"""Multi-turn SFT: a task is one token sequence laid out as the RL rollout lays out its episode, the
loss on the assistant's steps only; the targets replay through BFCL's turn protocol and checker;
BFCL-format folders load; `python -m funcall.train data=multi_turn_synthetic` trains."""
from __future__ import annotations

import json
import math
from functools import cache

import pytest

from conftest import read_metrics, run_train
from funcall.agents.multi_turn import MultiTurn
from funcall.agents.single_turn import SingleTurn
from funcall.bfcl.multi_turn import check_multi_turn
from funcall.data.chat_continuation import continuation_ids
from funcall.data.multi_turn_source import BFCLMultiTurnSource, MultiTurnSyntheticSource, multi_turn_task
from funcall.data.multi_turn_synthetic import generate
from funcall.data.multi_turn_tokenize import encode_multi_turn_sft, replay
from funcall.data.prompts import PromptStyle, render_prompt
from funcall.data.schema import Example
from funcall.data.spans import PROMPT, THINK
from funcall.data.synthetic import SyntheticTask
from funcall.envs.bfcl_env import BFCLEnvironment
from funcall.envs.conversation import ADDITIONAL_FUNCTIONS
from funcall.utils.errors import ConfigError, DataError

EOT = "<|im_end|>"  # the tiny model's (Qwen2) chat template closes a message with it
COMPACT = PromptStyle("think_answer", "compact")
NO_CUT = 10**6
BY_CATEGORY = {"base": [0, 2, 3], "miss_func": [1, 4, 7], "miss_param": [5, 6, 13]}  # train tasks of seed 0


@cache
def tok():
    from transformers import AutoTokenizer

    from funcall.models.tiny import TinySpec, ensure_tiny_model

    t = AutoTokenizer.from_pretrained(ensure_tiny_model(TinySpec()))
    assert EOT in t.chat_template
    return t


def task_example(i: int) -> Example:
    return MultiTurnSyntheticSource(seed=0, train_size=100, eval_size=4).train()[i]


def runs(enc) -> tuple[list[list[int]], list[list[int]]]:
    """The maximal runs of target ids and of prompt ids, in order."""
    targets, prompts, cur, cur_is_target = [], [], [], None
    for t, s in zip(enc.input_ids, enc.spans):
        is_target = s != PROMPT
        if cur and is_target != cur_is_target:
            (targets if cur_is_target else prompts).append(cur)
            cur = []
        cur.append(t)
        cur_is_target = is_target
    (targets if cur_is_target else prompts).append(cur)
    return targets, prompts


def step_texts(entry: dict) -> list[list[str]]:
    """Turns -> the assistant step texts, written here from the task's steps and reasoning."""
    out = []
    for steps, reasoning in zip(entry["steps"], entry["reasoning"]):
        texts = [f"<think>{why}</think><answer>[{', '.join(step)}]</answer>" for step, why in zip(steps, reasoning)]
        out.append(texts + [f"<think>{reasoning[0] if not steps else 'The request is done.'}</think><answer>[]</answer>"])
    return out


def test_a_hand_checked_task_trains_on_its_steps_and_sees_results_and_users_as_prompt():
    ex = task_example(0)
    entry, truth = multi_turn_task(ex)
    # checked by hand: look the ticket up, edit it with the id read from the result; then close it
    assert entry["steps"] == [[["get_user_tickets()"], ["edit_ticket(ticket_id=5251, updates={'priority': 5})"]],
                              [["close_ticket(ticket_id=5251)"]]]
    assert truth == [["get_user_tickets()", "edit_ticket(ticket_id=5251, updates={'priority': 5})"],
                     ["close_ticket(ticket_id=5251)"]]
    enc = encode_multi_turn_sft(tok(), ex, COMPACT, NO_CUT)
    assert not enc.truncated and enc.spans[:enc.prompt_len] == [PROMPT] * enc.prompt_len
    assert enc.spans[enc.prompt_len] != PROMPT
    targets, prompts = runs(enc)
    expected = [t for turn in step_texts(entry) for t in turn]
    assert len(expected) == 5
    assert [tok().decode(r) for r in targets] == [t + EOT for t in expected]
    # the <think> span is exactly the reasoning, the rest (answer + end of turn) is the call span
    think = [t for t, s in zip(enc.input_ids, enc.spans) if s == THINK]
    assert tok().decode(think) == "".join(t[:t.index("</think>") + len("</think>")] for t in expected)
    # every user message and tool result is context
    prompt_text = [tok().decode(r) for r in prompts]
    env = BFCLEnvironment()
    env.reset(entry)
    results = [r for steps in entry["steps"] for step in steps for r in env.execute(step)]
    assert len(results) == 3 and "5251" in results[0]
    for text in [m["content"] for turn in entry["question"] for m in turn] + results:
        assert any(text in p for p in prompt_text), text
        assert not any(text in tok().decode(r) for r in targets)
    assert len(prompts) == len(targets)  # prompt, then a continuation after every step but the last


def independent_ids(entry: dict, style: PromptStyle) -> list[int]:
    """The episode's ids built here from the chat-template pieces, as a rollout appends them."""
    t = tok()
    ids = t(render_prompt(t, entry["function"], entry["question"][0], style), add_special_tokens=False)["input_ids"]
    env = BFCLEnvironment()
    env.reset(entry)
    texts = step_texts(entry)
    n_turns = len(entry["question"])
    for k, steps in enumerate(entry["steps"]):
        for j, text in enumerate(texts[k]):
            ids += t(text + EOT, add_special_tokens=False)["input_ids"]
            if j < len(steps):
                new = [{"role": "tool", "content": r} for r in env.execute(steps[j])]
            elif k + 1 < n_turns:
                offered = (entry.get("missed_function") or {}).get(str(k + 1))
                new = ([{"role": "user", "content": "\n".join(json.dumps(d) for d in offered) + "\n" + ADDITIONAL_FUNCTIONS}]
                       if offered else entry["question"][k + 1])
            else:
                continue
            ids += continuation_ids(t, new, style, closed_with=EOT)
    return ids


@pytest.mark.parametrize("i,style", [*((i, COMPACT) for i in range(10)), (1, PromptStyle("think_answer", "json"))])
def test_the_sequence_is_the_rollouts_layout_built_piece_by_piece(i, style):
    ex = task_example(i)
    enc = encode_multi_turn_sft(tok(), ex, style, NO_CUT)
    assert enc.input_ids == independent_ids(multi_turn_task(ex)[0], style)


def test_one_target_run_per_step_plus_a_closing_step_per_turn_and_truncation():
    for i in range(30):
        ex = task_example(i)
        entry = multi_turn_task(ex)[0]
        enc = encode_multi_turn_sft(tok(), ex, COMPACT, NO_CUT)
        assert len(runs(enc)[0]) == sum(len(steps) + 1 for steps in entry["steps"]), entry["id"]
        cut = encode_multi_turn_sft(tok(), ex, COMPACT, 300)
        assert cut.truncated == (len(enc.input_ids) > 300) and cut.input_ids == enc.input_ids[:300]
        assert cut.spans == enc.spans[:300] and cut.prompt_len == enc.prompt_len
    for single in SyntheticTask(seed=0).train()[:5]:  # the single-turn agent loop encodes with encode_sft
        assert multi_turn_task(single) is None
        assert SingleTurn().encode_sft(tok(), single, COMPACT, 512) == COMPACT.encode_sft(tok(), single, 512)


@pytest.mark.parametrize("category", sorted(BY_CATEGORY))
def test_the_replayed_targets_pass_the_multi_turn_checker(category):
    for i in BY_CATEGORY[category]:
        ex = task_example(i)
        entry, truth = multi_turn_task(ex)
        assert ex.category == f"multi_turn_{category}" == f"multi_turn_{entry['category']}"
        assert ex.tools == entry["function"] and ex.messages == entry["question"][0] and ex.calls == []
        for fmt in ("think_answer", "python"):
            conv, steps = replay(json.loads(json.dumps(entry)), truth, fmt)
            assert conv.done and len(conv.output) == len(truth)
            assert [[c for step in turn for c in step] for turn in conv.output] == truth
            assert check_multi_turn(entry, truth, conv.output, BFCLEnvironment)["valid"], (entry["id"], fmt)
    held = MultiTurnSyntheticSource(seed=0, eval_size=3).held_out()
    assert [e.id for e in held] == [generate(0, "heldout", i)[0]["id"] for i in range(3)]


def write_bfcl_folder(folder, indices, strip=("steps", "reasoning", "replies", "function", "category")):
    """BFCL's own file layout, from synthetic base tasks written as BFCL ships entries."""
    (folder / "possible_answer").mkdir(parents=True)
    entries, answers = [], []
    for i in indices:
        entry, truth = generate(0, "train", i)
        entries.append({k: v for k, v in entry.items() if k not in strip})
        answers.append({"id": entry["id"], "ground_truth": truth})
    (folder / "BFCL_v4_multi_turn_base.json").write_text("".join(json.dumps(e) + "\n" for e in entries))
    (folder / "possible_answer" / "BFCL_v4_multi_turn_base.json").write_text("".join(json.dumps(a) + "\n" for a in answers))
    return [generate(0, "train", i) for i in indices]


def test_a_bfcl_format_folder_loads_encodes_and_replays(tmp_path):
    originals = {e["id"]: (e, truth) for e, truth in write_bfcl_folder(tmp_path / "mt", BY_CATEGORY["base"] + [10, 11])}
    source = BFCLMultiTurnSource(str(tmp_path / "mt"), ["multi_turn_base"], eval_size=1, seed=0)
    train, held = source.train(), source.held_out()
    assert len(train) == 4 and len(held) == 1
    assert sorted(e.id for e in train + held) == sorted(originals)
    assert [e.id for e in BFCLMultiTurnSource(str(tmp_path / "mt"), ["multi_turn_base"], eval_size=1, seed=0).held_out()] \
        == [held[0].id]
    for ex in train + held:
        entry, truth = multi_turn_task(ex)
        original, original_truth = originals[ex.id]
        assert truth == original_truth and ex.category == "multi_turn_base"
        assert entry["function"] == original["function"]  # the docs, from the installed bfcl-eval
        enc = MultiTurn().encode_sft(tok(), ex, PromptStyle("think_answer", "json"), NO_CUT)
        targets = [tok().decode(r) for r in runs(enc)[0]]
        assert len(targets) == sum(2 if turn else 1 for turn in truth)
        firsts = [t for t in targets if t.startswith("<think>So: ")]
        assert [f[f.index("<answer>[") + 9:f.index("]</answer>")] for f in firsts] == [", ".join(turn) for turn in truth if turn]
        conv, _ = replay(entry, truth, "think_answer")
        assert check_multi_turn(entry, truth, conv.output, BFCLEnvironment)["valid"]


def test_missing_folders_files_and_positional_calls_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError) as missing:
        BFCLMultiTurnSource(str(tmp_path / "nope"), ["multi_turn_base"], eval_size=1, seed=0)
    assert "data.path" in str(missing.value) and "\n" not in str(missing.value)
    write_bfcl_folder(tmp_path / "mt", [0])
    with pytest.raises(DataError) as no_file:
        BFCLMultiTurnSource(str(tmp_path / "mt"), ["multi_turn_base", "multi_turn_miss_func"], eval_size=1, seed=0)
    assert "data.path" in str(no_file.value) and "BFCL_v4_multi_turn_miss_func.json" in str(no_file.value)
    entry, truth = generate(0, "train", 0)
    positional = dict(entry, id="positional_0", steps=[[["get_user_tickets()"], ["edit_ticket(5251, updates={'priority': 5})"]],
                                                          [["close_ticket(ticket_id=5251)"]]])
    with pytest.raises(DataError, match="positional_0.*positional"):
        replay(positional, truth, "think_answer")


def test_multi_turn_sft_runs_through_hydra(tmp_path):
    run = tmp_path / "mt_sft"
    run_train(["+experiment=sft", "data=multi_turn_synthetic", "trainer.max_steps=2", "trainer.micro_batch_size=2",
               "trainer.max_length=1024", "trainer.overlong=skip", "trainer.eval_at_start=false", "trainer.eval_every=0", "trainer.eval_size=2",
               "trainer.eval_max_new_tokens=8", "trainer.export=false", "logger=none"], run)
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2] and all(math.isfinite(r["loss"]) for r in rows)
    proc = run_train(["+experiment=sft", "data=bfcl_multi_turn", f"data.path={tmp_path / 'nope'}", "logger=none"],
                     tmp_path / "err", check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(errors) == 1 and "data.path=" in errors[0] and "no such directory" in errors[0]
