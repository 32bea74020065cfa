"""funcall.envs: BFCL's environments over the official classes, calls parsed (never evaluated),
dispatched to documented public methods only, typed, bounded, one fresh instance set per episode."""
from __future__ import annotations

import json
import time

from funcall.calls.limits import ParseFailure
from funcall.envs.bfcl_data import installed_bfcl_data, load_multi_turn, tool_docs
from funcall.envs.bfcl_env import ERROR, BFCLEnvironment, render_result
from funcall.envs.calls import EnvCall, parse_env_call
from funcall.envs.worker import EnvPool

DATA = installed_bfcl_data()  # make install puts bfcl-eval (--no-deps) in the environment


def base_entry(index: int = 0) -> tuple[dict, list]:
    return load_multi_turn(DATA, "multi_turn_base", limit=index + 1)[index]


def with_math(entry: dict) -> dict:
    return {**entry, "involved_classes": [*entry["involved_classes"], "MathAPI"],
            "function": entry["function"] + tool_docs(DATA, ["MathAPI"])}


def test_call_strings_are_parsed_into_literals():
    assert parse_env_call("sort('a.txt')") == EnvCall("sort", ("a.txt",), {})
    assert parse_env_call(" mean(numbers=[1, 2.5, -3], scale=2*3) ") == EnvCall("mean", (), {"numbers": [1, 2.5, -3], "scale": 6})
    assert parse_env_call("f(d={'k': (1, None)}, b=True)") == EnvCall("f", (), {"d": {"k": (1, None)}, "b": True})
    for hostile, reason in [("os.system('ls')", "plain function name"), ("cd(folder=__import__('os').getcwd())", "Call"),
                            ("cd(folder=x)", "Name"), ("_load_scenario({})", "private"), ("f(*args)", "*arguments"),
                            ("f(**kw)", "**arguments"), ("cd.__class__", "not a function call"),
                            ("f(a=lambda: 1)", "Lambda"), ("[" * 100_000, ""), ("f(a='" + "x" * 200_000 + "')", "characters")]:
        failure = parse_env_call(hostile)
        assert isinstance(failure, ParseFailure), hostile
        assert reason in f"{failure.code} {failure.message}", (hostile, failure)
    assert isinstance(parse_env_call(42), ParseFailure)


def test_results_are_rendered_as_bfcl_renders_them():
    assert render_result("x") == "x" and render_result({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert render_result(3) == "3" and render_result({"o": object()}).startswith("{'o': <object")


def test_a_base_entry_runs_its_ground_truth_and_reports_public_state():
    entry, truth = base_entry()
    env = BFCLEnvironment()
    docs = env.reset(entry)
    assert {d["name"] for d in docs} >= {"cd", "mkdir", "mv", "grep", "sort", "diff"}
    assert env.execute(truth[0]) == ['{"current_working_directory": "document"}', "None",
                                     '{"result": "\'final_report.pdf\' moved to \'temp/final_report.pdf\'"}']
    state = env.state()
    assert set(state) == set(entry["involved_classes"]) and not any(k.startswith("_") for s in state.values() for k in s)


def test_calls_outside_the_docs_and_mistyped_arguments_are_error_results():
    entry, _ = base_entry()
    env = BFCLEnvironment()
    env.reset(entry)
    results = env.execute(["undefined_tool(a=1)", "cd(folder=3)", "exit()", "cd(folder='document', extra=1)", "pwd()"])
    assert results[0] == f"{ERROR}name 'undefined_tool' is not defined"
    assert results[1] == f"{ERROR}argument 'folder' of cd must be of type string, got int"
    assert results[2] == f"{ERROR}Function call exit is not allowed."
    assert results[3].startswith(ERROR) and "unexpected keyword argument 'extra'" in results[3]  # Python's own message
    assert results[4] == '{"current_working_directory": "/workspace"}'  # nothing above changed the state


def test_two_episodes_of_one_entry_share_nothing():
    entry, _ = base_entry()
    first, second = BFCLEnvironment(), BFCLEnvironment()
    first.reset(entry)
    second.reset(entry)
    first.execute(["cd(folder='document')", "mkdir(dir_name='mine')"])
    assert second.execute(["pwd()"]) == ['{"current_working_directory": "/workspace"}']
    assert first.state() != second.state()
    third = BFCLEnvironment()
    third.reset(entry)  # a new episode starts from the initial config, not from what the others did
    assert third.state() == second.state()


def test_a_runaway_call_is_stopped_and_the_episode_goes_on(tmp_path):
    entry = with_math(base_entry()[0])
    with EnvPool(timeout_s=1.0) as pool:
        env = pool.open()
        env.reset(entry)
        assert env.execute(["cd(folder='document')"]) == ['{"current_working_directory": "document"}']
        started = time.time()
        assert env.execute(["power(base=2**62, exponent=2**62)"]) == [f"{ERROR}timed out after 1 s"]
        assert time.time() - started < 5 and pool.restarts == 1
        # the episode was rebuilt by replaying its calls: still in document/, still working
        assert env.execute(["pwd()", "add(a=1, b=2)"]) == ['{"current_working_directory": "/workspace/document"}',
                                                            '{"result": 3}']
        env.close()


def test_hostile_calls_execute_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sentinel = tmp_path / "pwned"
    entry = with_math(base_entry()[0])
    hostile = [f"__import__('os').system('touch {sentinel}')", f"open('{sentinel}', 'w')",
               f"exec(\"open('{sentinel}', 'w')\")", f"cd(folder=open('{sentinel}', 'w').name)",
               "().__class__.__bases__[0].__subclasses__()", "ls.__self__._load_scenario({})", "_load_scenario({})",
               "globals()", "breakpoint()", "[" * 100_000, "cd(folder='" + "a" * 3_000_000 + "')",
               "ls(a=[i for i in range(10**9)])", f"mean(numbers=[{sentinel!s}])"]
    with EnvPool(timeout_s=5.0) as pool:
        env = pool.open()
        env.reset(entry)
        results = env.execute(hostile)
        assert all(r.startswith(ERROR) for r in results), results
        assert pool.restarts == 0 and env.execute(["pwd()"]) == ['{"current_working_directory": "/workspace"}']
    assert not sentinel.exists() and not list(tmp_path.iterdir())


def test_miss_func_docs_are_withheld_until_their_turn():
    entry, _ = load_multi_turn(DATA, "multi_turn_miss_func", limit=1)[0]
    env = BFCLEnvironment()
    offered = {d["name"] for d in env.reset(entry)}
    withheld = {turn: [d["name"] for d in docs] for turn, docs in entry["missed_function"].items()}
    assert withheld == {"3": ["sort"]} and "sort" not in offered
    assert [d["name"] for d in env.tools(3)] == ["sort"] and env.tools(1) == []
    assert json.loads(env.execute(["sort(file_name='x')"])[0]) == {"error": "sort: x: No such file or directory"}  # BFCL runs it too
