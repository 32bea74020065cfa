"""Token-in/token-out on the real Qwen3 chat template (issue 27, item 3).

The multi-turn rollout tests of `test_multi_turn_rollout` run on the tiny default's ChatML
template, which writes history back as it was. Qwen3's does not: it drops the ``<think>`` of the
assistant turns before the last user query and renders tool results as ``<tool_response>`` in a
user turn. Here an episode with tool results and a second user turn is played on the Qwen3
tokenizer and template (`funcall.models.random_qwen`): the trained sequence is exactly the prompt,
the sampled ids and the template's continuations, the loss mask covers exactly the sampled ids,
and re-rendering the finished conversation with the template gives other ids, so a loop that
re-rendered would train on a context the policy never saw.
"""
from __future__ import annotations

import pytest
from test_multi_turn_rollout import STYLE, ScriptedEngine, base_task, expected_sequence, intended_texts, play, tagged
from transformers import AutoTokenizer

from funcall.data.prompts import chat_messages


@pytest.fixture(scope="module")
def tok():
    from funcall.models.random_qwen import RandomQwenSpec

    return AutoTokenizer.from_pretrained(RandomQwenSpec().ensure())


@pytest.fixture(scope="module")
def episode(tok):
    entry, truth = base_task()
    texts = intended_texts(entry)
    traj, _ = play(tok, [(entry, truth)], [texts], group=1)
    return entry, truth, tagged(texts, 0), traj  # the texts as sampled (play tags row 0's first answer)


def test_the_trained_sequence_holds_exactly_the_sampled_ids_and_the_mask_covers_exactly_them(tok, episode):
    from funcall.bfcl.multi_turn import check_multi_turn
    from funcall.envs.bfcl_env import BFCLEnvironment

    entry, truth, texts, traj = episode
    want, sampled = expected_sequence(tok, entry, texts)
    assert traj.prompt_ids[0] + traj.completion_ids[0] == want
    p = len(traj.prompt_ids[0])
    mask = [0.0] * len(want)
    for start, n in sampled:
        mask[start:start + n] = [1.0] * n
    assert traj.completion_mask[0, :len(want) - p].tolist() == mask[p:]
    ep = traj.columns['episode'][0]
    assert ep.ended_by == "completed" and check_multi_turn(entry, truth, ep.output, BFCLEnvironment)["valid"]
    # the episode has tool results and a second user turn, all of them context (unmasked), in Qwen3's layout
    context = tok.decode([t for t, m in zip(traj.completion_ids[0], mask[p:]) if not m])
    results = [r for turn in ep.turns for m in turn for r in m.get("results", [])]
    assert results and len(entry["question"]) >= 2
    assert context.count("<tool_response>") == len(results) and all(r.strip()[:40] in context for r in results)
    # every sampled <think> is trained on: the ids of <think> lie under the mask as often as steps were sampled
    think_id = tok.convert_tokens_to_ids("<think>")
    trained = [t for t, m in zip(traj.completion_ids[0], mask[p:]) if m]
    assert trained.count(think_id) == len(texts)


def test_re_rendering_the_conversation_with_qwen3s_template_gives_other_ids(tok, episode):
    """Qwen3's template rewrites history (the earlier turns' ``<think>`` is dropped): the sequence
    funcall trains on is not what re-rendering gives, and the difference is that reasoning."""
    entry, _, texts, traj = episode
    ours = traj.prompt_ids[0] + traj.completion_ids[0]
    messages = []
    for m in (m for turn in traj.columns['episode'][0].turns for m in turn):
        messages.append({"role": m["role"], "content": m["content"]})
        messages += [{"role": "tool", "content": r} for r in m.get("results", [])]
    msgs, tools = chat_messages(entry["function"], messages, STYLE)
    rendered = tok(tok.apply_chat_template(msgs, tools=tools, tokenize=False), add_special_tokens=False)["input_ids"]
    assert rendered[:len(ours)] != ours
    first_reasoning = texts[0].split("</think>")[0].removeprefix("<think>")
    assert first_reasoning in tok.decode(ours) and first_reasoning not in tok.decode(rendered)
    think_id = tok.convert_tokens_to_ids("<think>")
    assert ours.count(think_id) > rendered.count(think_id)


class RecordingEngine(ScriptedEngine):
    """The scripted engine, keeping every prompt it was given."""

    def __init__(self, tok, texts):
        super().__init__(tok, texts)
        self.prompts: list[list[int]] = []

    def generate(self, prompts, **kwargs):
        self.prompts += [list(p) for p in prompts]
        return super().generate(prompts, **kwargs)


def test_evaluation_continues_conversations_as_training_does(tok, episode):
    """BFCL multi-turn evaluation (the episode driver with greedy steps, as `BFCLMultiTurnEval` and
    the held-out evaluation run it) gives the model, at every step, exactly the context a training
    episode built for the same answers: the first prompt, the answers' ids, and the template's
    continuations; nothing re-rendered (which on Qwen3 drops earlier reasoning)."""
    from funcall.envs.conversation import Conversation
    from funcall.envs.worker import EnvPool
    from funcall.eval.task import GreedySteps
    from funcall.rollout.episode_driver import open_episode, play

    entry, _, texts, traj = episode
    engine = RecordingEngine(tok, [texts])
    with EnvPool(timeout_s=5) as pool:
        c = Conversation(entry=entry, env=pool.open())
        play([open_episode(c, tok, STYLE)], GreedySteps(engine, batch_size=4, max_new_tokens=300), tok, STYLE,
             max_steps_per_turn=5)
        c.env.close()
    trained = traj.prompt_ids[0] + traj.completion_ids[0]
    assert c.output == traj.columns['episode'][0].output and len(engine.prompts) == len(texts)
    for prompt in engine.prompts:  # every step's context is a prefix of the trained sequence
        assert trained[:len(prompt)] == prompt
    assert engine.prompts[-1] + tok(texts[-1], add_special_tokens=False)["input_ids"] + [engine.eot] == trained
