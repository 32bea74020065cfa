"""bfcl-eval's format-sensitivity prompts: the 26 configurations, their system prompts, their answers.

One implementation for ``eval=bfcl_format_sensitivity`` (`funcall.eval.bfcl_format_sensitivity`)
and the training data of the same task (`funcall.data.format_sensitivity_source`), which is why it
sits in the data layer. A configuration is bfcl-eval's string
``ret_fmt=..&tool_call_tag=..&func_doc_fmt=..&prompt_fmt=..&style=..`` (`CONFIGS`, in bfcl-eval's
order): the answer's return format (python calls, JSON, verbose or concise XML), whether it sits in
a ``<TOOLCALL>`` tag, how the function docs are listed (python docstrings, XML, JSON), plaintext or
markdown headings, and the classic or "experimental" wording. `system_prompt` is bfcl-eval's
``formulate_system_prompt`` (the templates of ``bfcl_eval/constants/default_prompts.py`` and the
doc renderers of ``model_handler/utils.py``) rewritten here, tested equal to it for every
configuration; `prompt_messages` adds the language notes and puts it first, as bfcl-eval does.

`render_answer` goes the other way, which bfcl-eval never does: the calls written as a
configuration asks for them (the SFT target of a training example), such that
`funcall.data.bfcl_format_decode.decode_answer` reads back exactly these calls. Its XML types are
the ones the decoder converts by (``integer``, ``float``, ``boolean``, ``null``, ``array``,
``dict``, ``string``), and strings are XML-escaped.
"""
from __future__ import annotations

import json
import re
from xml.sax.saxutils import escape, quoteattr

from funcall.calls.python_syntax import render_python_calls, render_value
from funcall.data.bfcl_language_notes import language_notes
from funcall.data.prompts import fold_roles

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




def prompt_messages(config: str, functions: list[dict], category: str, question: list[dict]) -> list[dict]:
    """An entry's first turn as bfcl-eval asks it under ``config``: the docs with the category's
    language notes (`funcall.data.bfcl_language_notes`), the system prompt first."""
    return messages_for(config, language_notes(functions, category), question)


def prompt_text(tokenizer, config: str, functions: list[dict], category: str, question: list[dict],
                system_role: str = "system") -> str:
    """`prompt_messages` in the model's chat template, ending where the answer starts (``system_role``
    user: the system prompt opens the first user message, `funcall.data.prompts.fold_roles`)."""
    messages = fold_roles(prompt_messages(config, functions, category, question), system_role)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


# -- the answer a configuration asks for -----------------------------------------------------------

def _xml_typed(value) -> tuple[str, str]:
    """(type, text) of one argument as the XML decoder converts it back (module docstring)."""
    if isinstance(value, bool):
        return "boolean", str(value).lower()
    if value is None:
        return "null", "None"
    if isinstance(value, int):
        return "integer", str(value)
    if isinstance(value, float):
        return "float", repr(value)
    if isinstance(value, (list, tuple)):
        return "array", render_value(value)
    if isinstance(value, dict):
        return "dict", render_value(value)
    return "string", str(value)


def _xml_answer(calls: list[dict], verbose: bool) -> str:
    functions = []
    for call in calls:
        params = []
        for name, value in call["arguments"].items():
            kind, text = _xml_typed(value)
            params.append(f"<param name={quoteattr(name)} value={quoteattr(text)} type={quoteattr(kind)}/>" if verbose
                          else f"<param name={quoteattr(name)} type={quoteattr(kind)}>{escape(text)}</param>")
        body = f"<params>{''.join(params)}</params>" if verbose else "".join(params)
        functions.append(f"<function name={quoteattr(call['name'])}>{body}</function>")
    return f"<functions>{''.join(functions)}</functions>"


def render_answer(calls: list[dict], config: str) -> str:
    """``calls`` (``{"name", "arguments"}``) written as ``config`` asks: python calls, a fenced JSON
    list, verbose or concise XML, in a ``<TOOLCALL>`` tag when the configuration has one."""
    ret, tag, *_ = parse_config(config)
    if ret == "python":
        body = render_python_calls(calls)
    elif ret == "json":
        listed = [{"function": c["name"], "parameters": c["arguments"]} for c in calls]
        body = f"```json\n{json.dumps(listed, ensure_ascii=False)}\n```"
    else:
        body = _xml_answer(calls, verbose=ret == "verbose_xml")
    return f"<TOOLCALL>{body}</TOOLCALL>" if tag else body
