"""Build the labelled BFCL conformance corpus: tests/data/bfcl/conformance.jsonl.gz.

    .venv/bin/python tests/tools/build_bfcl_corpus.py [--data-dir ../shared/bfcl/data] [--seed 0]

For every entry of the 12 single-turn categories it writes model outputs (the ground truth rendered
as text in the category's language and, for Python categories, in decoded form; then seeded random
perturbations: wrong values, types, missing/extra parameters, wrong names and counts, swapped order,
formatting quirks such as fences, prose, quoted lists and bare calls, Java/JS literal variants, and
irrelevance outputs), labels each one with the OFFICIAL checker (experiments/benchmarks/bfcl_official.py,
in its own venv, created on first use), and stores compact rows `{id, category, entry, model_output_text
| model_output, valid, error_type}`; the ground-truth renderings the official checker fails are
also listed in tests/data/bfcl/ground_truth_exceptions.json. A second file,
java_js_character_edits.jsonl.gz, holds Java/JS outputs with random character edits (labelled the
same way): there tree-sitter's error recovery decides, and agreement is measured, not required.
Rows carry no function docs or ground truth: both are looked up by `entry` (the BFCL id) in the
data directory, so the corpus stays small. Entry text stays byte-identical for a
given seed and data, so reruns reproduce the file.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gzip
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "experiments" / "benchmarks")]

from bfcl_official import ensure_venv

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES, is_irrelevance, language_of
from funcall.bfcl.data import load_category
from tools.bfcl_render import ground_truth_calls, render_text

OUTPUT = REPO / "tests" / "data" / "bfcl" / "conformance.jsonl.gz"
EDITS_OUTPUT = REPO / "tests" / "data" / "bfcl" / "java_js_character_edits.jsonl.gz"
EXCEPTIONS = REPO / "tests" / "data" / "bfcl" / "ground_truth_exceptions.json"


# --------------------------------------------------------------------------- value perturbations


def _pick_argument(rng, calls, predicate=lambda v: True):
    choices = [(i, k) for i, c in enumerate(calls) for k, v in c["arguments"].items() if predicate(v)]
    return rng.choice(choices) if choices else None


def wrong_value(rng, calls, entry):
    spot = _pick_argument(rng, calls)
    if not spot:
        return None
    i, key = spot
    value = calls[i]["arguments"][key]
    if isinstance(value, bool):
        new = not value
    elif isinstance(value, int):
        new = value + rng.choice([1, -1, 100])
    elif isinstance(value, float):
        new = round(value * 1.5 + 0.25, 3)
    elif isinstance(value, str):
        new = rng.choice([value + "x", value.upper(), value.replace(" ", ""), value + "!", "other", value[:-1], f" {value}, "])
    elif isinstance(value, list):
        new = value[:-1] if value and rng.random() < 0.5 else value + [value[0] if value else 1]
        if value and rng.random() < 0.3:
            new = list(reversed(value))
    elif isinstance(value, dict):
        new = dict(value)
        if new and rng.random() < 0.5:
            new.pop(rng.choice(list(new)))
        else:
            new[rng.choice(list(new) or ["k"])] = "changed"
    else:
        new = "other"
    calls[i]["arguments"][key] = new
    return calls


def wrong_type(rng, calls, entry):
    spot = _pick_argument(rng, calls)
    if not spot:
        return None
    i, key = spot
    value = calls[i]["arguments"][key]
    if isinstance(value, bool):
        new = rng.choice([int(value), str(value).lower(), "True"])
    elif isinstance(value, int):
        new = rng.choice([str(value), float(value), [value]])
    elif isinstance(value, float):
        new = rng.choice([str(value), int(value), round(value)])
    elif isinstance(value, str):
        new = rng.choice([1, True, [value], {"value": value}, 2.5])
    elif isinstance(value, list):
        new = rng.choice(
            [
                tuple(value),
                str(value),
                value[0] if value else 0,
                [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value],
                [str(v) for v in value],
            ]
        )
    elif isinstance(value, dict):
        new = rng.choice([list(value.values()), str(value), [value]])
    else:
        new = 0
    calls[i]["arguments"][key] = new
    return calls


def drop_param(rng, calls, entry):
    spot = _pick_argument(rng, calls)
    if not spot:
        return None
    i, key = spot
    del calls[i]["arguments"][key]
    return calls


def restore_optional(rng, calls, entry):
    """Add a parameter whose first option was "" with its next acceptable value (often valid)."""
    for (_name, params), call in zip((next(iter(g.items())) for g in entry.ground_truth or []), calls):
        for param, options in params.items():
            if options and options[0] == "" and len(options) > 1 and param not in call["arguments"]:
                call["arguments"][param] = options[1]
                return calls
    return None


def extra_param(rng, calls, entry):
    if not calls:
        return None
    call = rng.choice(calls)
    declared = [p for f in entry.functions if f["name"] == call["name"] for p in f["parameters"]["properties"]]
    unused = [p for p in declared if p not in call["arguments"]]
    key = rng.choice(unused) if unused and rng.random() < 0.6 else "extra_param"
    call["arguments"][key] = rng.choice([1, "x", True, 2.5])
    return calls


def wrong_name(rng, calls, entry):
    if not calls:
        return None
    call = rng.choice(calls)
    others = [f["name"] for f in entry.functions if f["name"] != call["name"]]
    call["name"] = rng.choice(others) if others and rng.random() < 0.6 else call["name"] + rng.choice(["_v2", "s", ""]).upper()
    if call["name"].endswith("S") is False and rng.random() < 0.3:
        call["name"] = call["name"].lower()
    return calls


def duplicate_call(rng, calls, entry):
    return calls + [copy.deepcopy(rng.choice(calls))] if calls else None


def drop_call(rng, calls, entry):
    return calls[1:] if calls else None


def swap_order(rng, calls, entry):
    if len(calls) < 2:
        return None
    shuffled = calls[:]
    while shuffled == calls:
        rng.shuffle(shuffled)
    return shuffled


def reorder_keywords(rng, calls, entry):
    for call in calls:
        items = list(call["arguments"].items())
        rng.shuffle(items)
        call["arguments"] = dict(items)
    return calls


def float_elements(rng, calls, entry):
    spot = _pick_argument(rng, calls, lambda v: isinstance(v, list) and any(isinstance(x, float) for x in v))
    if not spot:
        return None
    i, key = spot
    calls[i]["arguments"][key] = [int(x) if isinstance(x, float) else x for x in calls[i]["arguments"][key]]
    return calls


VALUE_PERTURBATIONS = [wrong_value, wrong_value, wrong_type, wrong_type, drop_param, restore_optional, extra_param,
                       wrong_name, duplicate_call, drop_call, swap_order, reorder_keywords, float_elements]


# --------------------------------------------------------------------------- text perturbations


def text_variants(rng, text: str, language: str) -> list[str]:
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    variants = [
        f"```{language}\n{text}\n```", f"```\n{text}\n```", f"Sure! Here is the call: {text}", f"'{text}'",
        inner, f"{text}\nI hope this helps.", f"  {text}  \n", text.replace(", ", ",\n"), f"[{inner};]",
        inner.replace("), ", ");\n"), text.replace("=", " = "), f"({inner})", f"[{inner},]", text + text,
        text.replace("'", '"'), text.replace('"', "'"), text[:-1], f"<answer>{text}</answer>", "`" + text + "`",
        f"{text}]", f"[{text}", inner + ";", inner.replace("(", "(1, ", 1), text.replace("=", ": "),
    ]
    return rng.sample(variants, 3)


def _source_variants(value, schema: dict, language: str) -> list[str]:
    """Other ways a model might write one Java/JS argument value."""
    from tools.bfcl_render import java_source, js_source

    render = java_source if language == "java" else js_source
    out = [render(value, {"type": t}) for t in ("any", "String", "integer", "long", "float", "double", "Bigint", "boolean")]
    text = json.dumps(value) if not isinstance(value, str) else value
    out += [f"'{text}'", f'"{text}"', text, f"({render(value, schema)})", f"{render(value, schema)} + 1", "null", "-1", "x -> x", "undefined"]
    if isinstance(value, list):
        items = ", ".join(render(v, schema.get("items", {"type": "any"})) for v in value)
        out += [f"{{{items}}}", f"[{items}]", f"new Array({items})", f"Arrays.asList({items})", f"List.of({items})",
                f"new ArrayList<Integer>() {{{{ {' '.join(f'add({v});' for v in items.split(', ') if v)} }}}}",
                f"new Integer[]{{{items}}}", "new int[3]", f"new ArrayList<>(Arrays.asList({items}))", f"[[{items}], [{items}]]"]
    if isinstance(value, dict):
        out += ["new HashMap<>()", "{}", "Map.of(\"k\", 1)", json.dumps(value), "{" + ", ".join(f"'{k}': '{v}'" for k, v in value.items()) + "}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out += [f"{value}L", f"{value}f", f"{value}n", f"{float(value)}", f"{int(value)}", f"{value}e0", f"-{value}", f"0x{int(abs(value)):x}"]
    return out


def language_variants(rng, calls, entry, language: str) -> list[str]:
    """Ground truth with one argument written differently, plus statement-level variants."""
    variants = []
    doc = {f["name"]: f for f in entry.functions}
    for _ in range(6):
        changed = copy.deepcopy(calls)
        spot = _pick_argument(rng, changed)
        if not spot:
            break
        i, key = spot
        schema = doc.get(changed[i]["name"], entry.functions[0])["parameters"]["properties"].get(key, {"type": "any"})
        source = rng.choice(_source_variants(changed[i]["arguments"][key], schema, language))
        text = render_text(changed, entry.functions, language)
        marker = f"{key}="
        head, _, tail = text.partition(marker)
        original = render_text(
            [{"name": "x", "arguments": {key: changed[i]["arguments"][key]}}],
            [{"name": "x", "parameters": {"properties": {key: schema}}}],
            language,
        )
        original_value = original[len(f"[x({key}="):-2]
        if tail.startswith(original_value):
            variants.append(head + marker + source + tail[len(original_value):])
    text = render_text(calls, entry.functions, language)
    inner = text[1:-1]
    name = calls[0]["name"] if calls else "f"
    short = name.split(".")[-1][:3]
    variants += [inner + ";", f"{inner}; {inner}", f"{inner}\n{inner}", f"obj.{inner}", f"new Foo().{inner}",
                 f"{short}(a=1)", f"A.{short}(b=1)", f"{short}(x)", f"String r = {inner};", f"var r = {inner};",
                 f"const r = {inner};", f"{inner} // done", f"/* call */ {inner}", inner.replace("=", ": ", 1),
                 f"label: {inner}", inner.replace("(", "(this, ", 1), f"{inner}.then(x)"]
    return rng.sample(variants, min(len(variants), 14))


IRRELEVANT_OUTPUTS = [
    "", "[]", "[ ]", "None", "I cannot answer that with the given functions.", "[{}]", "{}", "()", "```\n[]\n```",
    "The functions provided are not relevant.", "[None]", "'[]'", "[1, 2]", "```python\n[]\n```", "NO_CALL",
    'json\n[{"name": "x"}]', "[print('hi')]", "[f()]", "f()", "[foo(a=1)]", "`[]`", "[[]]", "[{'a': 1}]",
]


def irrelevance_outputs(rng, entry) -> list[str]:
    doc = entry.functions[0] if entry.functions else {"name": "lookup", "parameters": {}}
    required = doc["parameters"].get("required", [])
    call = f"{doc['name']}({', '.join(f'{p}=1' for p in required)})"
    picks = rng.sample(IRRELEVANT_OUTPUTS, 2)
    return picks + [rng.choice([f"[{call}]", call, f"```python\n[{call}]\n```", f"Let me call it: [{call}]", f"[{call}, {call}]"])]


# --------------------------------------------------------------------------- random character edits

EDIT_CHARACTERS = list("()[]{},;=.:\"' \n-+*/<>!?`@#&|abcXYZ0123456789")


def character_edits(rng, cases: list[dict], count: int) -> list[dict]:
    """Java/JS model outputs with one or two random character insertions, deletions or repeats:
    the region where tree-sitter's error recovery decides, which our parsers only approximate."""
    sources = [c for c in cases if c["category"] in ("simple_java", "simple_javascript") and c.get("model_output_text")]
    edited = []
    for number in range(count):
        case = rng.choice(sources)
        text = case["model_output_text"]
        for _ in range(rng.randint(1, 2)):
            at, roll = rng.randrange(len(text) + 1), rng.random()
            if roll < 0.4:
                text = text[:at] + rng.choice(EDIT_CHARACTERS) + text[at:]
            elif roll < 0.8:
                text = text[:at] + text[at + 1 :]
            else:
                other = rng.randrange(len(text) + 1)
                low, high = min(at, other), max(at, other)
                text = text[:high] + text[low:high] + text[high:] if high - low < 30 else text
        edited.append({"id": f"edit_{number}", "category": case["category"], "entry": case["entry"], "model_output_text": text})
    return edited


# --------------------------------------------------------------------------- corpus


def cases_for(entry, rng) -> list[dict]:
    language = language_of(entry.category)
    base = {"category": entry.category, "entry": entry.id}
    if is_irrelevance(entry.category):
        return [{**base, "model_output_text": text} for text in irrelevance_outputs(rng, entry)]
    calls = ground_truth_calls(entry.ground_truth)
    text = render_text(calls, entry.functions, language)
    cases = [{**base, "kind": "ground_truth", "model_output_text": text}]
    if language == "python":
        cases.append({**base, "kind": "ground_truth_decoded", "model_output": [{c["name"]: c["arguments"]} for c in calls]})
    per_entry = {"live_multiple": 2, "simple_java": 10, "simple_javascript": 10}.get(entry.category, 4)
    perturbations = [rng.choice(VALUE_PERTURBATIONS) for _ in range(per_entry)]
    for perturb in perturbations:
        changed = perturb(rng, copy.deepcopy(calls), entry)
        if changed is None:
            continue
        if language == "python" and rng.random() < 0.25:
            with contextlib.suppress(TypeError, ValueError):
                cases.append({**base, "model_output": json.loads(json.dumps([{c["name"]: c["arguments"]} for c in changed]))})
            continue
        cases.append({**base, "model_output_text": render_text(changed, entry.functions, language)})
    if language != "python":
        cases.extend({**base, "model_output_text": variant} for variant in language_variants(rng, calls, entry, language))
        cases.extend({**base, "model_output": [{c["name"]: c["arguments"]}]} for c in calls[:1] if rng.random() < 0.5)
    cases.extend({**base, "model_output_text": variant} for variant in text_variants(rng, text, language)[: 3 if entry.category != "live_multiple" else 1])
    return cases


def build(data_dir: Path, seed: int) -> list[dict]:
    rng = random.Random(seed)
    cases = []
    for category in SINGLE_TURN_CATEGORIES:
        for entry in load_category(data_dir, category):
            cases.extend(cases_for(entry, rng))
    for number, case in enumerate(cases):
        case["id"] = f"case_{number}"
    return cases


def full_rows(cases: list[dict], data_dir: Path) -> list[dict]:
    entries = {e.id: e for c in SINGLE_TURN_CATEGORIES for e in load_category(data_dir, c)}
    rows = []
    for case in cases:
        entry = entries[case["entry"]]
        rows.append({**case, "question": {"question": entry.question, "function": entry.functions}, "possible_answer": entry.ground_truth})
    return rows


def label_with_official(rows: list[dict]) -> list[dict]:
    python = ensure_venv()
    with tempfile.TemporaryDirectory() as tmp:
        source, sink = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))
        subprocess.run([python, REPO / "experiments" / "benchmarks" / "bfcl_official.py", source, sink], check=True)
        return [json.loads(line) for line in sink.read_text().splitlines()]


def write_labelled(path: Path, cases: list[dict], labels: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as sink:
        for case, label in zip(cases, labels):
            assert case["id"] == label["id"]
            sink.write((json.dumps({**case, "valid": label["valid"], "error_type": label["error_type"]}) + "\n").encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "bfcl" / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--edits", type=int, default=2000, help="Java/JS character-edit cases written to the second file")
    args = parser.parse_args()
    cases = build(args.data_dir, args.seed)
    labels = label_with_official(full_rows(cases, args.data_dir))
    if args.output == OUTPUT and args.edits:
        edits = character_edits(random.Random(args.seed + 1), cases, args.edits)
        write_labelled(EDITS_OUTPUT, edits, label_with_official(full_rows(edits, args.data_dir)))
    write_labelled(args.output, cases, labels)
    exceptions = [
        {"entry": case["entry"], "kind": case["kind"], "error_type": label["error_type"]}
        for case, label in zip(cases, labels)
        if case.get("kind", "").startswith("ground_truth") and not label["valid"]
    ]
    if args.output == OUTPUT:
        EXCEPTIONS.write_text(json.dumps(exceptions, indent=1) + "\n")
    counts: dict[str, int] = {}
    for label in labels:
        counts[str(label["error_type"])] = counts.get(str(label["error_type"]), 0) + 1
    print(f"{len(cases)} cases -> {args.output}")
    for error_type, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {count:6d}  {error_type}")


if __name__ == "__main__":
    main()
