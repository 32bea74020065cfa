"""BFCL's single-turn AST checker: the verdict the official `bfcl-eval` checker gives, quirks included.

The obvious version would compare calls "sensibly" (type coercion, recursive normalisation, best
matching of parallel calls). This one deliberately reproduces the official rules instead, because
scores must be comparable with published BFCL numbers: the one-level element type check that is
skipped when an answer option is not a list, the variable escape, `[]` matching an omittable `""`
option, error types overwritten in the dict check, greedy parallel matching, int -> float only in
Python, Java/JavaScript values converted from source text (see java_js.py). Each rule is
pinned by a test of its own (tests/unit/test_bfcl_checker.py) and the whole by 22,826 verdicts of the
official code (tests/unit/test_bfcl_conformance.py, the labelled corpus in tests/data/bfcl/).

Where the official code would raise (malformed ground truth or a decoded value it cannot handle),
the verdict is `checker_error` instead of a crash.
"""

from __future__ import annotations

import re
from typing import Any

from funcall.bfcl import java_js
from funcall.calls.limits import ParseFailure

SINGLE_TURN_CATEGORIES = (
    "simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple",
    "irrelevance", "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
    "live_irrelevance",
)

PYTHON_TYPES = {
    "string": str, "integer": int, "float": float, "boolean": bool, "array": list, "tuple": list,
    "dict": dict, "any": str,
}
SCALAR_PYTHON_TYPES = frozenset(("string", "integer", "float", "boolean", "any"))
NESTED_PYTHON_TYPES = ("array", "tuple")  # element types are checked (one level) for these
NESTED_CONVERTED_TYPES = ("Array", "ArrayList", "array")  # Java/JS: converted with an item type


class Verdict:
    """`valid`; `error_type` (None when valid); `error`, the details (a list). Written out rather
    than a dataclass: importing dataclasses costs the CLI ~6 ms of start-up."""

    __slots__ = ("error", "error_type", "valid")

    def __init__(self, valid: bool, error_type: str | None = None, error: list | None = None):
        self.valid, self.error_type = valid, error_type
        self.error = [] if error is None else error

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.valid, self.error_type, self.error) == (other.valid, other.error_type, other.error)

    __hash__ = None  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return f"Verdict(valid={self.valid!r}, error_type={self.error_type!r}, error={self.error!r})"


OK = Verdict(True)  # shared inside this module only; check() hands out fresh objects


def language_of(category: str) -> str:
    if "javascript" in category:
        return "javascript"
    if "java" in category:
        return "java"
    return "python"


def is_irrelevance(category: str) -> bool:
    return "irrelevance" in category


def is_call_list(decoded: Any) -> bool:
    """`[{name: {arg: value}}, ...]` (an empty list counts)."""
    if type(decoded) is not list:
        return False
    for item in decoded:
        if type(item) is not dict or len(item) != 1:
            return False
        for arguments in item.values():
            if type(arguments) is not dict:
                return False
    return True


def is_empty_output(decoded: Any) -> bool:
    """No function call: not call-list shaped, `[]`, or `[{}]`."""
    if not is_call_list(decoded):
        return True
    return len(decoded) == 0 or (len(decoded) == 1 and len(decoded[0]) == 0)


def check(
    category: str,
    functions: list[dict],
    possible_answer: list[dict] | None,
    decoded_output: Any,
    *,
    underscore_to_dot: bool = False,
) -> Verdict:
    """Verdict for one entry. `decoded_output` is the decoded model output (`[{name: {arg: value}}]`)
    or a `ParseFailure` when decoding the text failed. `underscore_to_dot` mirrors BFCL's flag for
    FC models whose API forbids '.' in names (expected names then have '.' replaced by '_')."""
    checker = _CHECKERS.get((category, bool(underscore_to_dot))) if isinstance(category, str) else None
    if checker is None:
        raise ValueError(f"unknown category {category!r}; expected one of {', '.join(SINGLE_TURN_CATEGORIES)}")
    if checker.irrelevance:
        if isinstance(decoded_output, ParseFailure) or is_empty_output(decoded_output):
            return Verdict(True)
        return Verdict(False, "irrelevance_error:decoder_success", ["Valid syntax. Successfully decoded a function call."])
    if isinstance(decoded_output, ParseFailure):
        return Verdict(False, "ast_decoder:decoder_failed", [f"Invalid syntax. Failed to decode AST. {decoded_output.message}"])
    if not is_call_list(decoded_output):
        return Verdict(False, "ast_decoder:decoder_wrong_output_format", ["Did not output in the specified format."])
    try:
        result = checker.entry(functions, possible_answer, decoded_output)
        return Verdict(True) if result is OK else result  # callers get their own object
    except Exception as error:  # noqa: BLE001  the official checker would crash on this entry
        return Verdict(False, "checker_error", [f"{type(error).__name__}: {error}"])


_IGNORED_IN_STRINGS = re.compile(r"[ ,./\-_*^]")
_STANDARDIZED: dict[str, str] = {}  # the same answer options come back row after row
_MEMO_MAX_CHARS, _MEMO_MAX_ENTRIES = 200, 50_000


def standardize_string(text: str) -> str:
    """Drop spaces and , . / - _ * ^, lower-case, and turn ' into "."""
    standardized = _STANDARDIZED.get(text)
    if standardized is None:
        standardized = _IGNORED_IN_STRINGS.sub("", text).lower().replace("'", '"')
        if len(text) <= _MEMO_MAX_CHARS:
            if len(_STANDARDIZED) >= _MEMO_MAX_ENTRIES:
                _STANDARDIZED.clear()
            _STANDARDIZED[text] = standardized
    return standardized


def _normalized(options) -> list:
    """Option list with its strings standardised (iterates like BFCL: a str option yields characters)."""
    return [standardize_string(o) if type(o) is str else o for o in options]


def _first_option_type(options: list) -> type | None:
    for option in options:
        if option != "":
            return type(option)
    return None


class _Checker:
    """The rules for one category (and underscore_to_dot flag); holds no state between entries."""

    def __init__(self, category: str, underscore_to_dot: bool):
        self.language = language_of(category)
        self.irrelevance = is_irrelevance(category)
        self.parallel_calls = "parallel" in category
        self.multiple_functions = "multiple" in category
        self.underscore_to_dot = underscore_to_dot

    def entry(self, functions: list, answers: list, output: list) -> Verdict:
        if self.parallel_calls:
            return self.parallel(functions, answers, output)
        if self.multiple_functions:
            if len(output) != len(answers):
                return Verdict(False, "multiple_function_checker:wrong_count", ["Wrong number of functions."])
            doc = _find_doc(functions, next(iter(answers[0])))
            return self.call(doc, output[0], answers[0])
        if len(output) != 1:
            return Verdict(False, "simple_function_checker:wrong_count", ["Wrong number of functions."])
        return self.call(functions[0], output[0], answers[0])

    def parallel(self, functions: list, answers: list, output: list) -> Verdict:
        if len(output) != len(answers):
            return Verdict(False, "parallel_function_checker_no_order:wrong_count", ["Wrong number of functions."])
        matched: set[int] = set()
        for answer_index, answer in enumerate(answers):
            doc = _find_doc(functions, next(iter(answer)))
            errors: list = []
            for index, call in enumerate(output):
                if index in matched:
                    continue
                result = self.call(doc, call, answer)
                if result.valid:
                    matched.add(index)
                    break
                errors.append({f"Model Result Index {index}": {"sub_error": result.error, "sub_error_type": result.error_type}})
            else:
                message = f"Could not find a matching function for index {answer_index} of possible answers."
                return Verdict(False, "parallel_function_checker_no_order:cannot_find_match", [message, *errors])
        return OK

    def call(self, doc: dict, output_call: dict, answer_call: dict) -> Verdict:
        """One output call against one ground-truth call and its function doc."""
        expected = next(iter(answer_call.values()))
        name = doc["name"]
        if self.underscore_to_dot and "." in name:
            name = name.replace(".", "_")
        if name not in output_call:
            return Verdict(False, "simple_function_checker:wrong_func_name", [f"Function name {name!r} not found in model output."])
        arguments = output_call[name]
        properties = doc["parameters"]["properties"]
        for param in doc["parameters"].get("required", []):
            if param not in arguments:
                return Verdict(False, "simple_function_checker:missing_required", [f"Missing required parameter: {param!r}."])
        for param, value in arguments.items():
            if param not in properties or param not in expected:
                return Verdict(False, "simple_function_checker:unexpected_param", [f"Unexpected parameter: {param!r}."])
            result = self.argument(param, value, properties[param], expected[param])
            if not result.valid:
                return result
        for param, options in expected.items():
            if param not in arguments and "" not in options:
                return Verdict(False, "simple_function_checker:missing_optional", [f"Optional parameter {param!r} not provided and not marked as optional."])
        return OK

    def argument(self, param: str, value: Any, schema: dict, options: list) -> Verdict:
        declared = schema["type"]
        if self.language == "python" and declared in SCALAR_PYTHON_TYPES:
            # The commonest case, the general path below shortened: a Python scalar of the declared
            # type whose answer options are of that type too (no "variable").
            expected_type = PYTHON_TYPES[declared]
            if declared == "float" and type(value) is int:
                value = float(value)
            option_type = _first_option_type(options)
            if type(value) is expected_type and (option_type is None or option_type is expected_type):
                if expected_type is str:
                    return self.string_value(param, value, options)
                if value not in options:
                    return Verdict(False, "value_error:others", [f"Invalid value for parameter {param!r}: {value!r}. Expected one of {options}."])
                return OK
        item_type = None
        if self.language == "python":
            expected_type = PYTHON_TYPES[declared]
            if declared in NESTED_PYTHON_TYPES:
                item_type = PYTHON_TYPES[schema["items"]["type"]]
        else:
            types = java_js.JAVA_TYPES if self.language == "java" else java_js.JS_TYPES
            expected_type = types[declared]
            if type(value) is not str:
                kind = "java" if self.language == "java" else "js"
                return Verdict(False, f"type_error:{kind}", [f"Incorrect type for parameter {param!r}. Expected type String, got {type(value).__name__}."])
            convert = java_js.convert_java if self.language == "java" else java_js.convert_js
            if declared in NESTED_CONVERTED_TYPES:
                item_name = schema["items"]["type"]
                item_type = types[item_name]
                value = convert(value, declared, item_name)
            else:
                value = convert(value, declared)
        if declared == "tuple" and type(value) is tuple:
            value = list(value)
        if self.language == "python" and declared == "float" and type(value) is int:
            value = float(value)

        type_result, is_variable = _type_check(param, value, options, declared, expected_type, item_type)
        if not type_result.valid:
            return type_result
        if not is_variable:
            if expected_type is dict:
                return _dict_check(value, options)
            if expected_type is list and item_type is dict:
                return _list_of_dicts_check(value, options)
            if expected_type is str:
                return self.string_value(param, value, options)
            if expected_type is list:
                if _normalized(value) not in [_normalized(option) for option in options]:
                    return Verdict(False, "value_error:list/tuple", [f"Invalid value for parameter {param!r}: {value!r}. Expected one of {options}."])
                return OK
        if value not in options:
            return Verdict(False, "value_error:others", [f"Invalid value for parameter {param!r}: {value!r}. Expected one of {options}."])
        return OK

    @staticmethod
    def string_value(param: str, value: str, options: list) -> Verdict:
        if standardize_string(value) not in [standardize_string(o) for o in options if type(o) is str]:
            return Verdict(False, "value_error:string", [f"Invalid value for parameter {param!r}: {value!r}. Expected one of {options}. Case insensitive."])
        return OK


_CHECKERS = {(category, flag): _Checker(category, flag) for category in SINGLE_TURN_CATEGORIES for flag in (False, True)}


def _find_doc(functions: list | dict, name: str) -> dict:
    if type(functions) is not list:
        return functions
    for doc in functions:
        if doc["name"] == name:
            return doc
    raise KeyError(f"no function doc named {name!r}")


def _type_check(param, value, options, declared, expected_type, item_type) -> tuple[Verdict, bool]:
    """(verdict, is_variable). A 'variable' is an answer whose type differs from the declared one
    (e.g. the string "myList" for an array): values of the answer's type then pass and are
    compared by plain equality."""
    option_type = _first_option_type(options)
    is_variable = option_type is not None and option_type is not expected_type
    nested_failed = False
    if type(value) is expected_type:
        if item_type is None:
            return OK, is_variable
        for option in options:  # passes as soon as one option is not a list, or all elements fit it
            if type(option) is not list or all(_type_check(param, item, option, None, item_type, None)[0].valid for item in value):
                return OK, is_variable
        nested_failed = True
    if option_type is not None and type(value) is option_type:
        if nested_failed:
            return Verdict(False, "type_error:nested", [f"Nested type checking failed for parameter {param!r}. Parameter value: {value!r}."]), True
        return OK, True
    message = f"Incorrect type for parameter {param!r}. Expected type {declared}, got {type(value).__name__}. Parameter value: {value!r}."
    return Verdict(False, "type_error:simple", [message]), False


def _dict_check(value: dict, options: list) -> Verdict:
    result = Verdict(False, "dict_checker:unclear")
    for option in options:
        if option == "":
            continue
        result = Verdict(False, "dict_checker:unclear")
        for key, item in value.items():
            if key not in option:
                result = Verdict(False, "value_error:dict_key", [f"Unexpected dict key parameter: {key!r}."])
                break
            standardized = standardize_string(item) if type(item) is str else item
            if standardized not in _normalized(option[key]):
                result = Verdict(False, "value_error:dict_value", [f"Invalid value for parameter {key!r}: {item!r}."])
                break
        for key, key_options in option.items():  # runs even after a failure above, and may relabel it
            if key not in value and "" not in key_options:
                result = Verdict(False, "value_error:dict_key", result.error + [f"Missing dict key parameter: {key!r}."])
                break
        if result.error_type == "dict_checker:unclear":
            return OK
    return result


def _list_of_dicts_check(value: list, options: list) -> Verdict:
    result = Verdict(False, "list_dict_checker:unclear")
    for option in options:
        if len(value) != len(option):
            result = Verdict(False, "value_error:list_dict_count", ["Wrong number of dictionaries in the list."])
            continue
        for position in range(len(value)):
            result = _dict_check(value[position], [option[position]])
            if not result.valid:
                break
        else:
            return OK
    return result
