"""The multi-turn episode rewards on hand-built episodes of synthetic tasks: the intended steps,
a wrong last turn, empty output, calls in an empty-truth turn, per-turn verdicts past a failed
turn, hostile output executing nothing, and the mix of the two from its YAML."""
from __future__ import annotations

import time

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import REPO
from funcall.bfcl.multi_turn import check_multi_turn, turn_verdicts
from funcall.data.multi_turn_synthetic import generate
from funcall.envs.bfcl_env import BFCLEnvironment
from funcall.envs.episode import EpisodeResult
from funcall.rewards.multi_turn import MultiTurnStateReward, MultiTurnTurnsReward

TIMEOUT_S = 2.0
MATH = 3       # base, MathAPI + TwitterAPI, four turns of one call each: mean, multiply, percentage, post_tweet
MISS_PARAM = 6  # miss_param, TicketAPI, three turns: ticket_login, [] (the vague request), create_ticket


def task(i: int) -> tuple[dict, list[list[str]]]:
    return generate(0, "train", i)


def intended(entry: dict) -> list:
    return [[list(step) for step in turn] for turn in entry["steps"]]


def episode(i: int, output=None) -> EpisodeResult:
    entry, truth = task(i)
    return EpisodeResult(entry=entry, ground_truth=truth, output=intended(entry) if output is None else output)


def score(reward, *episodes: EpisodeResult) -> list:
    return reward(prompts=[""] * len(episodes), completions=[""] * len(episodes), episode=list(episodes), category=["x"] * len(episodes))


@pytest.fixture(scope="module")
def state():
    reward = MultiTurnStateReward(timeout_s=TIMEOUT_S)
    yield reward
    reward.close()


@pytest.fixture(scope="module")
def strict():
    reward = MultiTurnStateReward(strict_empty_turns=True, timeout_s=TIMEOUT_S)
    yield reward
    reward.close()


@pytest.fixture(scope="module")
def turns():
    reward = MultiTurnTurnsReward(timeout_s=TIMEOUT_S)
    yield reward
    reward.close()


def test_the_tasks_are_the_ones_the_tests_assume():
    entry, truth = task(MATH)
    assert entry["category"] == "base" and "MathAPI" in entry["involved_classes"]
    assert [len(t) for t in truth] == [1, 1, 1, 1] and truth[3][0].startswith("post_tweet(")
    entry, truth = task(MISS_PARAM)
    assert entry["category"] == "miss_param" and [len(t) for t in truth] == [1, 0, 1]


def test_names_and_a_missing_episode_column(state, turns):
    assert state.__name__ == "multi_turn_state" and turns.__name__ == "multi_turn_turns"
    for reward in (state, turns):
        with pytest.raises(ValueError, match="multi-turn data") as info:
            reward(prompts=[""], completions=[""], tools=[[]])
        assert "\n" not in str(info.value) and "data=multi_turn_synthetic" in str(info.value)


def test_the_intended_steps_score_one(state, strict, turns):
    episodes = [episode(i) for i in (0, 1, MATH, 5, MISS_PARAM, 10)]
    assert score(state, *episodes) == [1.0] * 6
    assert score(strict, *episodes) == [1.0] * 6
    assert score(turns, *episodes) == [1.0] * 6


def test_a_wrong_argument_in_the_last_turn(state, turns):
    entry, truth = task(MATH)
    output = intended(entry)
    output[3] = [["post_tweet(content='The result is 1', tags=[], mentions=[])"]]
    ep = episode(MATH, output)
    assert score(state, ep) == [0.0]
    assert score(turns, ep) == [3 / 4]  # four checked turns, the first three right


def test_empty_output_scores_zero(state, turns):
    entry, truth = task(MATH)
    for output in ([], [[] for _ in truth], [[[""]] for _ in truth]):
        assert score(state, episode(MATH, output)) == [0.0]
        assert score(turns, episode(MATH, output)) == [0.0]


def test_a_call_in_a_turn_whose_ground_truth_is_empty(state, strict, turns):
    entry, truth = task(MISS_PARAM)
    assert truth[1] == []
    output = intended(entry)
    output[1] = [["ticket_get_login_status()"]]  # asks instead of calling nothing; changes no state
    ep = episode(MISS_PARAM, output)
    # BFCL does not check turn 1; turn 2's state is unchanged by a read and its result is there
    assert score(state, ep) == [1.0]
    assert score(turns, ep) == [1.0]  # turns 0 and 2 checked, both pass
    assert score(strict, ep) == [0.0]
    # the ticket created a turn early: turn 2 then has no step
    output = intended(entry)
    output[1], output[2] = output[2], []
    ep = episode(MISS_PARAM, output)
    assert score(state, ep) == [0.0] and score(strict, ep) == [0.0]
    assert score(turns, ep) == [1 / 2]


def test_an_episode_without_checked_turns(turns):
    entry, truth = task(MISS_PARAM)
    ep = EpisodeResult(entry=entry, ground_truth=[[], [], []], output=[[], [], []])
    assert score(turns, ep) == [1.0]
    ep = EpisodeResult(entry=entry, ground_truth=[[], [], []], output=[[], [["ticket_get_login_status()"]], []])
    assert score(turns, ep) == [0.0]


def test_turn_verdicts_go_on_past_a_failed_turn():
    entry, truth = task(MATH)
    output = intended(entry)
    output[0] = [["mean(numbers=[1, 2, 3])"]]  # a different result; MathAPI keeps no state
    assert turn_verdicts(entry, truth, output, BFCLEnvironment) == [False, True, True, True]
    assert check_multi_turn(entry, truth, output, BFCLEnvironment)["error_type"] == "multi_turn:execution_response_mismatch"
    entry, truth = task(MISS_PARAM)
    assert turn_verdicts(entry, truth, intended(entry), BFCLEnvironment) == [True, None, True]
    assert turn_verdicts(entry, truth, {"not": "a list"}, BFCLEnvironment) == [False, None, False]
    assert turn_verdicts(entry, truth, intended(entry)[:1], BFCLEnvironment) == [True, None, False]  # a short output


def test_turn_verdicts_agree_with_the_checker():
    for i in range(12):
        entry, truth = task(i)
        for output in (intended(entry), intended(entry)[:-1] + [[]], [[]] + intended(entry)[1:]):
            verdicts = turn_verdicts(entry, truth, output, BFCLEnvironment)
            assert len(verdicts) == len(truth) and [v is None for v in verdicts] == [not t for t in truth]
            assert check_multi_turn(entry, truth, output, BFCLEnvironment)["valid"] == all(v is not False for v in verdicts)


def test_hostile_output_executes_nothing_and_a_runaway_call_is_cut(tmp_path, state, turns):
    entry, truth = task(MATH)
    assert any(d["name"] == "power" for d in entry["function"])
    marker = tmp_path / "pwned"
    hostile = [[f"__import__('os').system('touch {marker}')"], ["open('/etc/passwd').read()"],
               [f"exec('open(\"{marker}\", \"w\").close()')"], [f"os.system('touch {marker}')"],
               [f"open('{marker}', 'w').write('x')"]]
    output = [[*hostile, ["power(base=2**62, exponent=2**62)"]], hostile, hostile, hostile]
    for reward in (state, turns):
        restarts, start = reward.pool.restarts, time.monotonic()
        assert score(reward, episode(MATH, output)) == [0.0]
        assert time.monotonic() - start < 2 * TIMEOUT_S + 3  # the runaway call once, plus the replays
        assert reward.pool.restarts == restarts + 1  # it ran (not refused) and was killed
        assert not marker.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_mix_reports_both_components():
    mix = instantiate(OmegaConf.load(REPO / "funcall" / "conf" / "reward" / "multi_turn_mix.yaml"))
    entry, truth = task(MATH)
    wrong = intended(entry)
    wrong[3] = [["post_tweet(content='The result is 1', tags=[], mentions=[])"]]
    try:
        values = score(mix, episode(MATH), episode(MATH, wrong))
        assert mix.last_components == {"multi_turn_state": [1.0, 0.0], "multi_turn_turns": [1.0, 3 / 4]}
        assert values == pytest.approx([1.0 + 0.5 * 1.0, 0.0 + 0.5 * 3 / 4])
    finally:
        for reward in mix.functions:
            reward.close()
