"""The manual stays true to the code: the site builds strictly, README's commands run as written,
and every repository path and config option that README or docs/ names exists.

How it departs from the obvious:
- README's commands are not run for real (minutes each): a Hydra app (`funcall.train`,
  `evaluate`, `prepare_data`) is run with the same arguments plus `--cfg job`, which composes the
  whole config, so a renamed option or group option fails, and exits before training; any other
  `funcall` module is run with `--help`. `torchrun`/`deepspeed` launchers become plain `python`,
  environment assignments are kept. `make X` must name a Makefile target.
- Config options are checked against the union of many compositions, not one: a key such as
  `loss.alpha` exists only under `loss=srml`, `rollout.engine.kv_cache_memory_gib` only under
  `rollout=vllm`. The union is every option of every group composed on top of a preset of its
  kind (and every preset alone), for the three roots train.yaml, evaluate.yaml and
  prepare_data.yaml. Only code (backtick spans and fenced blocks) is read, never prose.
- Links between docs pages are MkDocs's to check (`--strict`, anchors included); links in
  README, which MkDocs does not build, are checked here.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, ListConfig

from funcall.utils.hydra_setup import register_resolvers

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "funcall" / "conf"
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").rglob("*.md"))
HYDRA_APPS = {"funcall.train", "funcall.evaluate", "funcall.prepare_data"}
LAUNCHERS = {"torchrun", "deepspeed"}
PATH_PREFIXES = ("funcall/", "conf/", "tests/", "experiments/", "docs/", "sweeps/", "requirements/")
# Names a page gives to a user's own files, not shipped ones: `--config-dir mine` with
# `mine/experiment/my_grpo.yaml` (docs/configs.md). Nothing else is skipped.
USER_OPTIONS = {"my_grpo"}
# Groups whose options are composed only into a sub-node, not chosen at the root.
NOT_ROOT_GROUPS = {"warm_start", "scale_recipe", "hydra"}

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FILE_NAME = re.compile(r"\.(py|ya?ml|jsonl?|md|txt|png|gz|sqlite|log|safetensors|bin)$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OPTION = re.compile(r"^([+~]*)([a-z_][a-z0-9_]*)((?:\.[A-Za-z0-9_@]+)*)(?:=(.*))?$")


def fenced_blocks(text: str, lang: str | None = None) -> list[str]:
    return [body for tag, body in FENCE.findall(text) if lang is None or tag == lang]


def code_texts(path: Path) -> list[str]:
    """Every backtick span and fenced block of a page: where options and paths are written."""
    text = path.read_text()
    blocks = fenced_blocks(text)
    prose = FENCE.sub("", text)
    return blocks + CODE_SPAN.findall(prose)


def command_lines(block: str) -> list[str]:
    """A bash block's commands, `\\` continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    lines = [shlex.split(line, comments=True) for line in joined.splitlines()]
    return [shlex.join(tokens) for tokens in lines if tokens]


# ---- the site ---------------------------------------------------------------------------------

def test_site_builds_strictly(tmp_path):
    """`mkdocs build --strict`: a broken link, a missing anchor or a page left out of the nav fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html")}
    for page in PAGES:
        rel = page.relative_to(REPO / "docs").with_suffix("").as_posix()
        expected = "index.html" if rel == "index" else f"{rel}/index.html"
        assert expected in built, f"{page} was not built"


def test_readme_links_resolve():
    targets = [t for t in LINK.findall(README.read_text()) if not re.match(r"[a-z]+:|#", t)]
    assert targets, "README links nowhere"
    missing = [t for t in targets if not (REPO / t.split("#")[0]).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


# ---- README's commands ------------------------------------------------------------------------

def readme_commands() -> list[str]:
    return [line for block in fenced_blocks(README.read_text(), "bash") for line in command_lines(block)]


def makefile_targets() -> set[str]:
    names = re.findall(r"^([A-Za-z][\w-]*(?:[ \t]+[A-Za-z][\w-]*)*)[ \t]*:(?!=)", (REPO / "Makefile").read_text(), re.M)
    return {name for group in names for name in group.split()}


def as_check(line: str) -> tuple[list[str], dict[str, str]] | None:
    """The command that checks a README line without running it, or None for lines of other tools."""
    tokens = shlex.split(line)
    env = {}
    while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):
        key, value = tokens.pop(0).split("=", 1)
        env[key] = value
    if not tokens or "-m" not in tokens:
        return None
    program = Path(tokens[0]).name
    if not (program.startswith("python") or program in LAUNCHERS):
        return None
    at = tokens.index("-m")
    module, args = tokens[at + 1], tokens[at + 2:]
    if not module.startswith("funcall"):
        return None
    if module in HYDRA_APPS:
        return [sys.executable, "-m", module, *args, "--cfg", "job"], env
    subcommand = args[:1] if args and not args[0].startswith("-") else []
    return [sys.executable, "-m", module, *subcommand, "--help"], env


def test_readme_commands_run_as_written(tmp_path):
    lines = readme_commands()
    make_lines = [line for line in lines if line.startswith("make ")]
    checks = [(line, as_check(line)) for line in lines]
    checks = [(line, check) for line, check in checks if check]
    assert make_lines and checks, "README has no make or funcall commands in its bash blocks"
    targets = makefile_targets()
    for line in make_lines:
        target = shlex.split(line)[1]
        assert target in targets, f"README runs `{line}`, but the Makefile has no target {target!r}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for line, (cmd, extra_env) in checks:
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={**env, **extra_env})
        assert proc.returncode == 0, f"README's `{line}` fails:\n{proc.stderr[-2000:]}"


# ---- stale references: paths --------------------------------------------------------------------

def repository_paths(path: Path) -> set[str]:
    found = set()
    for text in code_texts(path):
        for token in re.split(r"[\s,;()\"']+", text):
            token = token.rstrip(".:")
            if token.startswith(PATH_PREFIXES) and not re.search(r"[<>*{}\[\]$]|\.\.\.|…", token):
                found.add(token.split("#")[0].split("=")[0])
    return found


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(REPO).as_posix())
def test_named_repository_paths_exist(page):
    missing = sorted(p for p in repository_paths(page) if not (REPO / p).exists())
    assert not missing, f"{page.name} names files that do not exist: {missing}"


def test_path_check_sees_the_manuals_paths():
    """The scan finds what the pages name (a scan that finds nothing would pass every page)."""
    named = set().union(*(repository_paths(p) for p in [README, *PAGES]))
    assert {"funcall/utils/instantiate.py", "experiments/LOG.md", "conf/train.yaml"} <= named


# ---- stale references: config options ------------------------------------------------------------

def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def flat_keys(node, prefix: str = "") -> set[str]:
    """Every dotted key of a composed config; an empty mapping stands for 'any key below'."""
    keys = set()
    if isinstance(node, DictConfig):
        if not node.keys():
            keys.add(prefix + ".*")
        for key in node:
            child = node._get_node(key)
            name = f"{prefix}.{key}" if prefix else str(key)
            keys.add(name)
            keys |= flat_keys(child, name)
    elif isinstance(node, ListConfig):
        for index in range(len(node)):
            keys |= flat_keys(node._get_node(index), prefix)
    return keys


def root_variants() -> dict[str, list[list[str]]]:
    """Override lists whose compositions, together, hold every option of every group at least once.

    Round i picks every group's i-th option (cycling) in one composition: as many compositions as
    the largest group has options, not one per option (composition is most of this test's time)."""
    presets = group_options("experiment")
    train = [[]] + [[f"+experiment={p}"] for p in presets]
    # a reward added into the mix (docs/prepare_data.md's LLM-judge reward)
    train.append(["+experiment=entropy_grpo", "reward=mix", "+reward@reward.rewards.llm_judge=llm_judge"])
    groups = {g: group_options(g) for g in ("model", "agent", "data", "loss", "optim", "trainer", "rollout",
                                           "reward", "advantage", "deepspeed", "logger", "humaneval", "scale")}
    for i in range(max(len(options) for options in groups.values())):
        train.append(["+experiment=entropy_grpo"] + [f"{g}={opts[i % len(opts)]}" for g, opts in groups.items()])
    evaluate = [[f"eval={option}", f"rollout={rollout}"]
                for option in group_options("eval") for rollout in group_options("rollout")]
    prepare = [[f"judge={option}"] for option in group_options("judge")]
    return {"train": train, "evaluate": evaluate, "prepare_data": prepare}


@lru_cache(maxsize=1)
def known_keys() -> frozenset[str]:
    register_resolvers()
    keys = set()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for root, variants in root_variants().items():
            for overrides in variants:
                cfg = compose(config_name=root, overrides=overrides, return_hydra_config=True)
                keys |= flat_keys(cfg)
    return frozenset(keys)


def option_mentions(path: Path) -> list[tuple[str, str | None]]:
    """(dotted key or group, chosen option or None) for every override-like token in the page's code.

    A dotted key with a leading `+` adds a key (`++data.source.eval_mix=...`) and is not looked up."""
    roots = {key.split(".")[0] for key in known_keys()}
    found = []
    for text in code_texts(path):
        for token in shlex.split(text, comments=True) if _shlex_ok(text) else text.split():
            match = OPTION.match(token)
            if not match or FILE_NAME.search(token.split("=")[0]):
                continue  # `optim.py` is a file, not the option `optim.py`
            prefix, root, rest, value = match.groups()
            if root not in roots or (rest and prefix.startswith("+")):
                continue  # `+a.b=1` and `++a.b=1` add a key: it need not exist
            found.append((root + rest, value))
    return found


def _shlex_ok(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    return True


def key_exists(key: str, keys: frozenset[str]) -> bool:
    parts = key.split(".")
    return key in keys or any(".".join(parts[:i]) + ".*" in keys for i in range(1, len(parts)))


def bad_choice(group: str, value: str) -> list[str]:
    """The options named in `group=a|b,c` that the group lacks (placeholders in capitals skipped)."""
    names = [n.strip("[]()'\" ") for n in re.split(r"[|,]", value)]
    names = [n for n in names if n and not re.search(r"[A-Z<.$]", n) and n not in USER_OPTIONS]
    return [n for n in names if n not in group_options(group)]


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(REPO).as_posix())
def test_named_config_options_exist(page):
    keys = known_keys()
    problems = []
    for key, value in option_mentions(page):
        group = key.split("@")[0]
        if "." not in key and (CONF / group).is_dir() and group not in NOT_ROOT_GROUPS:
            problems += [f"{group}={name}" for name in bad_choice(group, value or "")]
        elif "." in key and not key_exists(key.split("@")[0], keys):
            problems.append(key)
    assert not problems, f"{page.name} names options no config has: {sorted(set(problems))}"


def test_option_check_sees_the_manuals_options():
    """The scan reads what the pages write, and its key set knows option-only keys."""
    mentioned = {key for page in [README, *PAGES] for key, _ in option_mentions(page)}
    assert {"trainer.max_steps", "rollout.temperature", "model.lora.r"} <= mentioned
    keys = known_keys()
    assert key_exists("loss.alpha", keys) and key_exists("rollout.engine.kv_cache_memory_gib", keys)
    assert not key_exists("trainer.no_such_option", keys)
