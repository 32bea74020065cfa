"""BFCL v4 format sensitivity (``eval=bfcl_format_sensitivity``): one set of entries, 26 system prompts.

BFCL_v4_format_sensitivity.json names 200 single-turn entries; each is asked under the 26
configurations of `CONFIGS` (return format python/json/verbose_xml/concise_xml x a <TOOLCALL> tag
or not x function docs as python/xml/json, plus a markdown prompt and an "experimental" wording),
and the spread of accuracy over the configurations is the score. The system prompt is bfcl-eval's
text (`system_prompt`, the templates of ``bfcl_eval/constants/default_prompts.py`` and the doc
renderers of ``model_handler/utils.py``, rewritten here and tested equal to them for every
configuration); the chat template is the model's own. Answers are decoded as bfcl-eval decodes
them (`decode_answer`) and graded by funcall's AST checker (`funcall.bfcl.checker`); the report is
bfcl-eval's: accuracy per configuration, ``accuracy_max_delta`` (max - min) and ``accuracy_std``
(sample standard deviation), both in percentage points rounded to 2 decimals, ``accuracy_variance``.

Departures from bfcl-eval: nothing is ``eval``ed. bfcl-eval's XML and JSON decoders call
``ast.literal_eval`` on model text and ``ElementTree`` on it; here Python values go through the
bounded parser (`funcall.calls.python_syntax.parse_expression`) before ``literal_eval`` sees the
tree, XML with a ``<!`` (DOCTYPE, entities) is refused, and every input is capped in length. A
closed ``<think>`` block before the answer is dropped, as bfcl-eval's reasoning-model handlers do.
An over-long prompt is not run and counts as wrong (as in `funcall.eval.bfcl_eval`).
"""
from __future__ import annotations

import ast
import json
import re
import statistics
from pathlib import Path
from typing import Any

from funcall.bfcl.checker import Verdict, check
from funcall.bfcl.data import load_category
from funcall.bfcl.decode import decode_python
from funcall.bfcl.leaderboard import format_leaderboard
from funcall.calls.json_calls import load_json
from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure
from funcall.calls.python_syntax import bracketed, named_calls, parse_expression
from funcall.data.prompts import fold_roles
from funcall.dist import shard
from funcall.eval.bfcl_prompt import language_notes
from funcall.eval.bfcl_report import NOT_RUN, jsonable, with_leaderboard
from funcall.eval.task import Report, generate_in_step
from funcall.utils.atomic import write_json_atomic, write_jsonl_atomic
from funcall.utils.errors import ConfigError, DataError

IDS_FILE = "BFCL_v4_format_sensitivity.json"
CONFIGS = tuple(
    [f"ret_fmt={r}&tool_call_tag={t}&func_doc_fmt={d}&prompt_fmt=plaintext&style=classic"
     for r in ("python", "json", "verbose_xml", "concise_xml") for t in ("True", "False") for d in ("python", "xml", "json")]
    + ["ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=markdown&style=classic",
       "ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=experimental"])
CONFIG_PATTERN = re.compile(r"^ret_fmt=(python|json|verbose_xml|concise_xml)&tool_call_tag=(True|False)"
                            r"&func_doc_fmt=(python|xml|json)&prompt_fmt=(plaintext|markdown)&style=(classic|experimental)$")
_XML_TYPES = "The type fields of the parameters in your function calls must be one of: string, integer, float, boolean, array, dict, or tuple."
OUTPUT_FORMAT = {
    "python": "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]",
    "json": '```json\n[{"function":"func_name1","parameters":{"param1":"value1","param2":"value2"...}},{"function":"func_name2","parameters":{"param":"value"}}]\n```',  # noqa: E501
    "verbose_xml": '<functions><function name="func_name1"><params><param name="param1" value="value1" type="type1"/><param name="param2" value="value2" type="type2"/>...</params></function><function name="func_name2"><params><param name="param3" value="value3" type="type3"/></params></function></functions>',  # noqa: E501
    "concise_xml": '<functions><function name="func_name1"><param name="param1" type="type1">value1</param><param name="param2" type="type2">value2</param>...</function><function name="func_name2"><param name="param3" type="type3">value</param></function></functions>',  # noqa: E501
}
PARAM_TYPES = {"python": "", "json": "", "verbose_xml": _XML_TYPES, "concise_xml": _XML_TYPES}
STYLES = {
    "classic": {
        "persona": "You are an expert in composing functions.",
        "task": "You are given a question and a set of possible functions. Based on the question, you will need to make one or more function/tool calls to achieve the purpose. If none of the functions can be used, point it out. If the given question lacks the parameters required by the function, also point it out.",  # noqa: E501
        "tool_call_no_tag": "You should only return the function calls in your response.\n\nIf you decide to invoke any of the function(s), you MUST put it in the format of {output_format}. {param_types} You SHOULD NOT include any other text in the response.",  # noqa: E501
        "tool_call_with_tag": "You should only return the function calls in the <TOOLCALL> section. If you decide to invoke any of the function(s), you MUST put it in the format of <TOOLCALL>{output_format}</TOOLCALL>. {param_types} You SHOULD NOT include any other text in the response.",  # noqa: E501
        "multiturn_behavior": "At each turn, you should try your best to complete the tasks requested by the user within the current turn. Continue to output functions to call until you have fulfilled the user's request to the best of your ability. Once you have no more functions to call, the system will consider the current turn complete and proceed to the next turn or task.",  # noqa: E501
        "available_tools": "Here is a list of functions in {format} format that you can invoke.\n{functions}\n",
    },
    "experimental": {
        "persona": "You are an expert in generating structured function calls.",
        "task": "You are given a user query and a set of available functions. Your task is to produce one or more function/tool calls to fulfill the user's request. If no suitable function exists, or required parameters are missing, clearly indicate this.",  # noqa: E501
        "tool_call_no_tag": "Respond with only the function calls.\n\nYou MUST format it exactly as {output_format}. {param_types} Do NOT include any other text.",  # noqa: E501
        "tool_call_with_tag": "Return only the function calls enclosed in <TOOLCALL> tags.\n\nYou MUST format it exactly as <TOOLCALL>{output_format}</TOOLCALL>. {param_types} Do NOT include any other text.",  # noqa: E501
        "multiturn_behavior": "At every turn, aim to complete the user's tasks within that turn. Continue emitting function calls until the request is satisfied to the best of your ability. Once no more calls are needed, the system will proceed to the next turn.",  # noqa: E501
        "available_tools": "Below is a list of callable functions in the {format} style:\n{functions}\n",
    },
}
TEMPLATES = {
    "plaintext": "{persona}{task}\n\n{tool_call_format}\n\n{multiturn_behavior}\n\n{available_tools}",
    "markdown": "{persona}\n\n## Task\n{task}\n\n## Tool Call Format\n{tool_call_format}\n\n## Multi-turn Behavior\n{multiturn_behavior}\n\n## Available Tools\n{available_tools}",  # noqa: E501
}
TOOL_CALL_TAG = re.compile(r"<TOOLCALL>(.*?)</TOOLCALL>", re.DOTALL)
FUNCTIONS_XML = re.compile(r"<functions>(.*?)</functions>", re.DOTALL)
JSON_LIST = re.compile(r"\[.*\]", re.DOTALL)
JSON_CALLS = re.compile(r"\[\s*{.*?}\s*(?:,\s*{.*?}\s*)*\]", re.DOTALL)
PY_TYPES = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"}


def parse_config(config: str) -> tuple[str, bool, str, str, str]:
    """``ret_fmt=..&tool_call_tag=..&...`` -> (return format, tag?, doc format, prompt format, style)."""
    match = CONFIG_PATTERN.match(config)
    if not match:
        raise ValueError(f"not a format-sensitivity configuration: {config!r}")
    ret, tag, doc, prompt, style = match.groups()
    return ret, tag == "True", doc, prompt, style


# -- the system prompt, as bfcl-eval writes it -----------------------------------------------------

def _xml_param(name: str, meta: dict, required: list | None, level: int) -> str:
    indent = " " * level * 2
    kind, desc = meta.get("type", "string"), meta.get("description", "")
    if "enum" in meta:
        desc += f" Enum values: {meta['enum']}."
    if "items" in meta and "type" in meta["items"]:
        kind = f"{kind}[{meta['items']['type']}]"
    elif "additionalProperties" in meta:
        kind = f"{kind}[{meta['additionalProperties'].get('type', 'string')}]"
    attrs = [f'name="{name}", type="{kind}", required="{"true" if required is None or name in required else "false"}"']
    if "default" in meta:
        attrs.append(f'default="{meta["default"]!r}"')
    parts = [f"{indent}<param " + " ".join(attrs).replace(",", "") + ">\n", f"{indent}  <desc>{desc}</desc>\n"]
    if "properties" in meta:
        parts.append(f"{indent}  <params>\n")
        parts += [_xml_param(child, m, meta.get("required"), level + 2) for child, m in meta["properties"].items()]
        parts.append(f"{indent}  </params>\n")
    return "".join(parts) + f"{indent}</param>\n"


def _xml_docs(functions: list[dict]) -> str:
    blocks = []
    for fn in functions:
        params = fn["parameters"]
        body = "".join(_xml_param(p, m, params.get("required"), 2) for p, m in params.get("properties", {}).items())
        blocks.append(f'<function name="{fn["name"]}">\n  <desc>{fn.get("description", "")}</desc>\n'
                      f"  <params>\n{body}  </params>\n</function>\n")
    return "\n".join(blocks)


def _py_type(meta: dict) -> str:
    kind = meta.get("type", "string")
    if kind in PY_TYPES:
        return PY_TYPES[kind]
    if kind in ("array", "list", "tuple") and "items" in meta:
        return f"list[{_py_type(meta['items'])}]"
    if kind in ("object", "dict"):
        return f"dict[str, {_py_type(meta['additionalProperties'])}]" if "additionalProperties" in meta else "dict"
    return kind


def _py_param(name: str, meta: dict, depth: int = 0) -> list[str]:
    desc = meta.get("description", "") + (f" Enum values: {meta['enum']}." if "enum" in meta else "")
    default = f", default={meta['default']!r}" if "default" in meta else ""
    lines = [f"{' ' * (8 + 4 * depth)}{name} ({_py_type(meta)}{default}): {desc}\n"]
    for child, child_meta in meta.get("properties", {}).items():
        lines += _py_param(child, child_meta, depth + 1)
    return lines


def _python_docs(functions: list[dict]) -> str:
    docs = []
    for fn in functions:
        props = fn.get("parameters", {}).get("properties", {})
        lines = [f"# Function: {fn['name']}\n", '    """\n', f"    {fn.get('description', '')}\n\n"]
        if props:
            lines.append("    Args:\n")
            for name, meta in props.items():
                lines += _py_param(name, meta)
        lines.append('    """\n')
        docs += ["".join(lines), "\n"]
    return "\n\n".join(docs)


def system_prompt(config: str, functions: list[dict]) -> str:
    """bfcl-eval's ``formulate_system_prompt(config, functions)``, character for character."""
    ret, tag, doc, prompt, style = parse_config(config)
    docs = {"xml": _xml_docs, "python": _python_docs}.get(doc, lambda f: json.dumps(f, indent=4))(functions)
    words = STYLES[style]
    tool_call = words["tool_call_with_tag" if tag else "tool_call_no_tag"].format(
        output_format=OUTPUT_FORMAT[ret], param_types=PARAM_TYPES[ret])
    return TEMPLATES[prompt].format(persona=words["persona"], task=words["task"], tool_call_format=tool_call,
                                    multiturn_behavior=words["multiturn_behavior"],
                                    available_tools=words["available_tools"].format(format=doc, functions=docs))


def messages_for(config: str, functions: list[dict], question: list[dict]) -> list[dict]:
    """The first turn's messages with the system prompt put first, as bfcl-eval does (a question's
    own system message follows it after a blank line)."""
    messages = [dict(m) for m in question]
    text = system_prompt(config, functions)
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = text + "\n\n" + messages[0]["content"]
    else:
        messages.insert(0, {"role": "system", "content": text})
    return messages


# -- decoding, as bfcl-eval's default_decode_ast_prompting, without eval ---------------------------

def _literal(text: str, limits: Limits) -> Any:
    """``ast.literal_eval(text)`` on a tree the bounded parser built first (never on raw text)."""
    body = parse_expression(text.lstrip(" \t"), limits)
    if isinstance(body, ParseFailure):
        raise ValueError(body.message or body.code)
    return ast.literal_eval(body)


def _xml_value(raw: str, kind: str, limits: Limits) -> Any:
    if kind == "integer":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "boolean":
        return raw.lower() == "true"
    if kind == "null":
        return None
    if kind in ("array", "tuple", "object", "dict"):
        return _literal(raw, limits)
    return raw  # string, and any other type: the text as it is


def _xml_calls(text: str, verbose: bool, limits: Limits) -> list[dict]:
    import xml.etree.ElementTree as ET

    match = FUNCTIONS_XML.search(text)
    if not match:
        raise ValueError("no <functions> element")
    if "<!" in match.group(0):
        raise ValueError("XML declarations (DOCTYPE, ENTITY) are refused")
    calls = []
    for func in ET.fromstring(match.group(0)).findall("function"):
        container = func.find("params") if verbose else None
        params = {}
        for param in (container if container is not None else func).findall("param"):
            if verbose:
                raw, name = param.attrib.get("value", ""), param.attrib.get("name")
            else:
                raw, name = (param.text or "").strip(), param.attrib["name"]
            params[name] = _xml_value(raw, param.attrib.get("type", "string"), limits)
        calls.append({func.attrib["name"]: params})
    return calls


def _json_calls(text: str, limits: Limits) -> list[dict]:
    match = JSON_LIST.search(text)
    text = match.group(0) if match else text
    match = JSON_CALLS.search(text)
    value = load_json(match.group(0) if match else text, limits)
    if isinstance(value, ParseFailure):
        if value.code != "json":
            raise ValueError(value.message)
        return []  # bfcl-eval: undecodable JSON is an empty call list
    if not isinstance(value, (list, str, dict)):
        raise TypeError(f"{type(value).__name__} is not iterable")
    return [{item["function"]: item["parameters"]} for item in value if isinstance(item, dict)]


def decode_answer(text: str, return_format: str, tool_call_tag: bool, limits: Limits = DEFAULT_LIMITS) -> Any:
    """What bfcl-eval's checker receives for ``text`` under a configuration: calls, or a
    ParseFailure where bfcl-eval's decoder raises (its ``ast_decoder:decoder_failed``)."""
    if not isinstance(text, str) or len(text) > limits.max_chars:
        return ParseFailure("too_long", "answer longer than the parser's limit")
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if return_format == "python" and not tool_call_tag:
        return decode_python(text, limits)
    text = bracketed(text)
    if tool_call_tag:
        match = TOOL_CALL_TAG.search(text)
        if not match:
            return ParseFailure("syntax", "no <TOOLCALL> tag")
        text = match.group(1).strip()
    try:
        if return_format == "python":
            body = parse_expression(text.strip().strip("'"), limits)
            pairs = body if isinstance(body, ParseFailure) else named_calls(body, limits)
            return pairs if isinstance(pairs, ParseFailure) else [{name: args} for name, args in pairs]
        if return_format == "json":
            return _json_calls(text, limits)
        return _xml_calls(text, return_format == "verbose_xml", limits)
    except (ValueError, TypeError, KeyError, SyntaxError, AttributeError, RecursionError, MemoryError) as error:
        return ParseFailure("syntax", f"{type(error).__name__}: {str(error)[:200]}")


# -- the task ------------------------------------------------------------------------------------

class BFCLFormatSensitivityEval:
    """``eval=bfcl_format_sensitivity``: every (entry, configuration) pair generated and graded."""

    name = "bfcl_format_sensitivity"

    def __init__(self, data_dir: str | None = None, limit: int | None = None, categories: list[str] | None = None,
                 configs: list[str] | None = None, batch_size: int = 16, max_new_tokens: int = 512,
                 max_prompt_tokens: int | None = None, system_role: str = "system", table_rows: int = 200):
        self.data_dir, self.limit = data_dir, limit
        self.categories = list(categories) if categories else None
        self.configs = list(configs) if configs else list(CONFIGS)
        self.batch_size, self.max_new_tokens = int(batch_size), int(max_new_tokens)
        self.max_prompt_tokens, self.system_role, self.table_rows = max_prompt_tokens, system_role, table_rows
        self.items: list[tuple[Any, str]] = []  # (funcall.bfcl.data.Entry, configuration)

    def load(self) -> int:
        option = "eval.bfcl_format_sensitivity"
        if self.data_dir in (None, "") or not (Path(self.data_dir) / IDS_FILE).is_file():
            raise ConfigError(f"eval.data_dir={self.data_dir}: no {IDS_FILE} there (pip install bfcl-eval, or pass "
                              "eval.data_dir=DIR)")
        bad = [c for c in self.configs if c not in CONFIGS]
        if bad:
            raise ConfigError(f"{option}.configs: {bad[0]!r} is not one of bfcl-eval's 26 configurations")
        if self.limit is not None and int(self.limit) < 1:
            raise ConfigError(f"eval.limit must be a positive number of entries per category or null, got {self.limit}")
        if self.system_role not in ("system", "user") or self.batch_size < 1 or self.max_new_tokens < 1:
            raise ConfigError(f"{option}: system_role must be system or user; batch_size and max_new_tokens >= 1")
        ids = json.loads((Path(self.data_dir) / IDS_FILE).read_text())
        unknown = [c for c in self.categories or [] if c not in ids]
        if unknown:
            raise ConfigError(f"{option}.categories: {unknown[0]!r} is not in {IDS_FILE} ({', '.join(ids)})")
        entries = []
        for category in self.categories or list(ids):
            wanted = set(ids[category])
            try:
                chosen = [e for e in load_category(self.data_dir, category) if e.id in wanted]
            except (OSError, ValueError, KeyError) as exc:
                raise DataError(f"eval.data_dir={self.data_dir}: cannot read {category} ({exc})") from None
            entries += chosen[:None if self.limit is None else int(self.limit)]
        self.items = [(entry, config) for entry in entries for config in self.configs]
        return len(self.items)

    def encode(self, tokenizer, entry, config: str) -> list[int]:
        messages = messages_for(config, language_notes(entry.functions, entry.category), entry.question[0])
        text = tokenizer.apply_chat_template(fold_roles(messages, self.system_role), tokenize=False,
                                             add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def run(self, engine, tokenizer, dist, context_length: int | None = None, progress=None) -> list[dict]:
        indices = shard(len(self.items), dist.rank, dist.world_size)
        prompts = [self.encode(tokenizer, *self.items[i]) for i in indices]
        limit = self.max_prompt_tokens or (context_length - self.max_new_tokens if context_length else None)
        fits = [k for k, p in enumerate(prompts) if limit is None or len(p) <= int(limit)]
        outputs: dict[int, list[int]] = dict(zip(fits, generate_in_step(
            engine, [prompts[k] for k in fits], batch_size=self.batch_size, max_new_tokens=self.max_new_tokens,
            progress=progress)))
        if progress is not None:
            progress.update(len(prompts) - len(fits))
        rows = []
        for k, index in enumerate(indices):
            entry, config = self.items[index]
            row = {"index": index, "id": entry.id, "category": entry.category, "config": config,
                   "prompt_tokens": len(prompts[k])}
            if k in outputs:
                row.update(self.grade(entry, config, tokenizer.decode(outputs[k], skip_special_tokens=True)))
            else:
                row.update(valid=False, error_type=NOT_RUN, error=[f"prompt over the limit of {limit} tokens"],
                           completion="", decoded=None, not_run=True)
            rows.append(row)
        return rows

    @staticmethod
    def grade(entry, config: str, text: str) -> dict[str, Any]:
        ret, tag, *_ = parse_config(config)
        try:
            decoded = decode_answer(text, ret, tag)
            verdict = check(entry.category, entry.functions, entry.ground_truth, decoded)
        except Exception as exc:  # noqa: BLE001 - one odd answer must not end the evaluation
            decoded, verdict = None, Verdict(False, "checker_exception", [f"{type(exc).__name__}: {exc}"])
        return {"valid": bool(verdict.valid), "error_type": verdict.error_type, "error": jsonable(verdict.error),
                "completion": text, "decoded": jsonable(decoded), "not_run": False}

    def report(self, rows: list[dict], run_dir: Path, meta: dict[str, Any]) -> Report:
        rows = sorted(rows, key=lambda r: r["index"])
        summary = summarize(rows, self.configs)
        run_dir = Path(run_dir)
        write_jsonl_atomic(run_dir / "bfcl_format_sensitivity_results.jsonl", [
            {k: v for k, v in r.items() if k != "index"} for r in rows])
        write_json_atomic(run_dir / "bfcl_format_sensitivity_scores.json", {**summary, "run": meta})
        scores = add_to_scores(run_dir / "bfcl_scores.json", summary)
        lines = [f"{i:>2}  {s['accuracy'] * 100:6.2f}%  {s['correct_count']:>4}/{s['total_count']:<4}  {c}"
                 for i, (c, s) in enumerate((c, summary[c]) for c in self.configs if c in summary)]
        lines.append(f"format sensitivity: accuracy {summary['accuracy'] * 100:.2f}%, max delta "
                     f"{summary['accuracy_max_delta']}, std {summary['accuracy_std']} (percentage points), "
                     f"{summary['not_run']} not run")
        table = "\n".join(lines + ["", format_leaderboard(scores["leaderboard"])])
        metrics = {f"{self.name}/{key}": summary[key] for key in
                   ("accuracy", "accuracy_max_delta", "accuracy_std", "accuracy_variance", "not_run")}
        metrics.update({f"{self.name}/config_{i}": summary[c]["accuracy"] for i, c in enumerate(self.configs)
                        if c in summary})
        failures = [[r["id"], r["config"], r["error_type"], r["completion"]] for r in rows if not r["valid"]]
        return Report(metrics=metrics, table=table, failure_columns=["id", "config", "error_type", "completion"],
                      failure_rows=failures[:self.table_rows])


def summarize(rows: list[dict], configs: list[str]) -> dict[str, Any]:
    """bfcl-eval's format-sensitivity score header: accuracy, counts, the spread over configurations
    (max delta, variance, std: percentage points, rounded to 2 decimals) and each configuration's
    ``{accuracy, correct_count, total_count}``; plus ``not_run`` (entries counted as wrong)."""
    stats = {c: {"correct": 0, "total": 0} for c in configs if any(r["config"] == c for r in rows)}
    for row in rows:
        stats[row["config"]]["total"] += 1
        stats[row["config"]]["correct"] += bool(row["valid"])
    by_config = {c: {"accuracy": s["correct"] / s["total"], "correct_count": s["correct"], "total_count": s["total"]}
                 for c, s in stats.items()}
    accuracies = [v["accuracy"] for v in by_config.values()]
    spread = len(accuracies) > 1
    correct = sum(bool(r["valid"]) for r in rows)
    return {"accuracy": correct / len(rows) if rows else 0.0, "correct_count": correct, "total_count": len(rows),
            "accuracy_max_delta": round((max(accuracies) - min(accuracies)) * 100, 2) if spread else 0.0,
            "accuracy_variance": round(statistics.variance(accuracies) * 100**2, 2) if spread else 0.0,
            "accuracy_std": round(statistics.stdev(accuracies) * 100, 2) if spread else 0.0,
            "not_run": sum(bool(r.get("not_run")) for r in rows), **by_config}


def add_to_scores(path: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """bfcl_scores.json with ``format_sensitivity`` set and its leaderboard recomputed (the file is
    created, without categories, when no other BFCL task of this run wrote it)."""
    try:
        scores = json.loads(path.read_text()) if path.exists() else {"categories": {}}
    except (OSError, ValueError):
        scores = {"categories": {}}
    scores["format_sensitivity"] = summary
    scores = with_leaderboard(scores)
    write_json_atomic(path, scores)
    return scores
