"""BFCL's format-sensitivity task as training data: ``data=bfcl_format_sensitivity``.

An example is one (entry, configuration) pair of ``eval=bfcl_format_sensitivity``: an entry named
in ``BFCL_v4_format_sensitivity.json`` asked under one of bfcl-eval's 26 prompt configurations
(`funcall.data.bfcl_formats.CONFIGS`), its id ``<entry id>@<configuration number>``, its ground
truth the entry's possible answer, its configuration in ``meta["format_sensitivity"]``. The prompt
is the eval's, from the same code (`funcall.data.bfcl_formats.prompt_text`), so ``data.prompt`` is
`FormatSensitivityPrompts`: a `PromptStyle` that renders each example in its own configuration
(overriding the style's rendering, `funcall.data.prompts`), reads answers with the eval's decoder
(`funcall.data.bfcl_format_decode`), and hands the held-out evaluation the rule of
``reward=format_sensitivity`` (`funcall.rewards.format_sensitivity`), built from ``data.prompt.reward``.

Held-in / held-out: by entry, a seeded shuffle of the entry ids, ``eval_size`` entries (at most a
fifth): an entry held out is held out under every configuration, so a run never trains on a
held-out question in another format. The SFT target is the ground truth written as the
configuration asks (`funcall.data.bfcl_formats.render_answer`) with no reasoning, since the
configurations ask for the calls and nothing else: the first acceptable value of each argument,
optional ones left out, as ``data=bfcl`` does, and (unlike ``data=bfcl``'s `example_from_entry`)
inside dict values too, where BFCL lists the options of every key (`first_answer`), so that every
target passes the AST checker.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from funcall.bfcl.data import load_category
from funcall.calls.limits import ParseFailure
from funcall.calls.parse_stats import CALLS, NO_CALL, UNPARSEABLE
from funcall.data.bfcl_format_decode import decode_answer
from funcall.data.bfcl_formats import CONFIGS, IDS_FILE, parse_config, prompt_text, render_answer
from funcall.data.bfcl_source import example_from_entry
from funcall.data.files import FileSource
from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.data.tokenize import Encoded, encode_target
from funcall.utils.errors import ConfigError, DataError

__all__ = ["BFCLFormatSensitivitySource", "FormatSensitivityPrompts", "config_of", "first_answer"]
META_KEY = "format_sensitivity"  # meta[META_KEY]: the example's configuration string


def config_of(meta: Any) -> str:
    """The configuration an example's ``meta`` names (a one-line error when it names none)."""
    config = meta.get(META_KEY) if isinstance(meta, dict) else None
    if config not in CONFIGS:
        raise ConfigError(f"an example without a format-sensitivity configuration in meta[{META_KEY!r}]: "
                          "this reward and data.prompt need data=bfcl_format_sensitivity")
    return config


def _first_option(option: Any) -> Any:
    """A concrete value of one BFCL option: dict keys take their first option (a key whose first
    option is ``""`` may be omitted and is), recursively, also inside lists."""
    if isinstance(option, dict):
        return {key: _first_option(options[0] if isinstance(options, list) else options)
                for key, options in option.items() if not (isinstance(options, list) and (not options or options[0] == ""))}
    if isinstance(option, list):
        return [_first_option(item) for item in option]
    return option


def first_answer(possible_answer: list[dict]) -> list[dict]:
    """Calls (``{"name", "arguments"}``) that pass BFCL's checker for ``possible_answer``."""
    return [{"name": name, "arguments": _first_option(options)}
            for call in possible_answer or [] for name, options in call.items()]


def _checked(data_dir: str, categories: list[str] | None, configs: list[str] | None, eval_size: int) -> dict:
    """The ids file's ``{category: [entry ids]}`` for the chosen categories, the options checked."""
    if not data_dir or not (Path(str(data_dir)) / IDS_FILE).is_file():
        raise ConfigError(f"data.path={data_dir}: no {IDS_FILE} there (bfcl-eval's data folder)")
    bad = [c for c in configs or [] if c not in CONFIGS]
    if bad or (configs is not None and not configs):
        raise ConfigError(f"data.source.configs: {bad[0] if bad else 'an empty list'!r} is not one of bfcl-eval's "
                          "26 configurations (null = all)")
    if isinstance(eval_size, bool) or not isinstance(eval_size, int) or eval_size < 0:
        raise ConfigError(f"data.source.eval_size={eval_size!r}: must be a number of entries >= 0")
    ids = json.loads((Path(str(data_dir)) / IDS_FILE).read_text())
    unknown = [c for c in categories or [] if c not in ids]
    if unknown or (categories is not None and not categories):
        raise ConfigError(f"data.source.categories: {unknown[0] if unknown else 'an empty list'!r}; choose from "
                          f"{', '.join(ids)} (null = all)")
    return {c: ids[c] for c in categories or ids}


class BFCLFormatSensitivitySource(FileSource):
    """Format-sensitivity (entry, configuration) pairs as examples (module docstring)."""

    def __init__(self, data_dir: str, categories: list[str] | None = None, configs: list[str] | None = None,
                 eval_size: int = 40, seed: int = 0):
        wanted = _checked(data_dir, list(categories) if categories is not None else None,
                          list(configs) if configs is not None else None, eval_size)
        entries = []
        for category, ids in wanted.items():
            try:
                listed = set(ids)
                entries += [e for e in load_category(data_dir, category) if e.id in listed]
            except (OSError, ValueError, KeyError) as exc:
                raise DataError(f"data.path={data_dir}: cannot read {category} ({exc})") from None
        order = sorted(e.id for e in entries)
        random.Random(int(seed)).shuffle(order)
        held = set(order[: min(int(eval_size), len(order) // 5)])
        chosen = [(CONFIGS.index(c), c) for c in (configs or CONFIGS)]
        train, heldout = [], []
        for entry in entries:
            base, calls = example_from_entry(entry), first_answer(entry.ground_truth)
            for number, config in chosen:
                example = replace(base, id=f"{entry.id}@{number}", calls=calls, meta={META_KEY: config})
                (heldout if entry.id in held else train).append(example)
        super().__init__(train, eval_examples=heldout, seed=int(seed))


@dataclass
class FormatSensitivityPrompts(PromptStyle):
    """``data.prompt`` of ``data=bfcl_format_sensitivity``: each example in its own configuration, as
    the eval renders it (`PromptStyle`'s ``prompt_ids``, ``encode_sft`` and ``outcome`` overridden,
    ``reward`` and ``format_reward`` made fields). ``answer_format`` and ``tool_style`` are unused by
    it (kept for the PromptStyle readers: the python-call format)."""

    answer_format: str = "python"
    reward: Any = None  # held-out correctness: reward=format_sensitivity's rule (the data config builds it)
    format_reward: Any = None  # held-out "decodes in its configuration": the same reward with check_calls=false

    def prompt_ids(self, tokenizer, example: Example) -> list[int]:
        text = prompt_text(tokenizer, config_of(example.meta), example.tools, example.category,
                           example.messages, self.system_role)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def target(self, example: Example) -> str:
        """The ground truth written as the example's configuration asks."""
        return render_answer(example.calls, config_of(example.meta))

    def encode_sft(self, tokenizer, example: Example, max_length: int) -> Encoded:
        """The prompt, then the target with no reasoning: every target token a `CALL`."""
        return encode_target(tokenizer, self.prompt_ids(tokenizer, example), "", self.target(example), max_length)

    def outcome(self, text: str, meta: dict) -> str:
        ret, tag, *_ = parse_config(config_of(meta))
        decoded = decode_answer(text, ret, tag)
        if isinstance(decoded, ParseFailure) or not isinstance(decoded, list):
            return UNPARSEABLE
        return CALLS if decoded else NO_CALL
