"""One small test per rule and quirk of the BFCL AST checker (spec: shared/specs/bfcl_checker.md)."""

from __future__ import annotations

import pytest

from funcall.bfcl import check
from funcall.bfcl.checker import is_empty_output, standardize_string
from funcall.calls.limits import ParseFailure


def doc(name="f", required=("a",), **types):
    properties = {}
    for param, declared in types.items():
        if isinstance(declared, tuple):  # (outer, item)
            properties[param] = {"type": declared[0], "items": {"type": declared[1]}}
        else:
            properties[param] = {"type": declared}
    return {"name": name, "description": "", "parameters": {"type": "dict", "properties": properties, "required": list(required)}}


def verdict(output, answer, functions=None, category="simple_python"):
    functions = functions or [doc(**{k: "string" for k in next(iter(answer[0].values()))})]
    return check(category, functions, answer, output)


def error_type(*args, **kwargs):
    result = verdict(*args, **kwargs)
    return None if result.valid else result.error_type


def test_string_normalisation_ignores_case_spaces_and_punctuation():
    answer = [{"f": {"a": ["New York, NY"]}}]
    for written in ["new york ny", "NEWYORK-NY", "New_York/NY.", "new york, ny"]:
        assert error_type([{"f": {"a": written}}], answer) is None
    assert error_type([{"f": {"a": "NY!"}}], [{"f": {"a": ["NY"]}}]) == "value_error:string"
    assert standardize_string("It's A-B") == 'it"sab'


def test_int_is_accepted_for_float_but_float_is_not_accepted_for_int():
    functions = [doc(a="float", b="integer", required=())]
    assert error_type([{"f": {"a": 3}}], [{"f": {"a": [3.0]}}], functions) is None
    assert error_type([{"f": {"b": 3.0}}], [{"f": {"b": [3]}}], functions) == "type_error:simple"


def test_bool_is_not_an_int():
    functions = [doc(a="integer")]
    assert error_type([{"f": {"a": True}}], [{"f": {"a": [1]}}], functions) == "type_error:simple"


def test_variable_escape_accepts_a_name_for_a_typed_parameter():
    functions = [doc(a=("array", "integer"))]
    answer = [{"f": {"a": ["myList"]}}]
    assert error_type([{"f": {"a": "myList"}}], answer, functions) is None
    assert error_type([{"f": {"a": "MYLIST"}}], answer, functions) == "value_error:others"  # no normalisation


def test_nested_element_types_are_checked_one_level_deep():
    functions = [doc(a=("array", "float"))]
    assert error_type([{"f": {"a": [1, 2]}}], [{"f": {"a": [[1.0, 2.0]]}}], functions) == "type_error:nested"
    assert error_type([{"f": {"a": [1.0, 2.0]}}], [{"f": {"a": [[1.0, 2.0]]}}], functions) is None


def test_nested_element_check_is_skipped_when_an_option_is_the_empty_string():
    functions = [doc(a=("array", "float"), required=())]
    assert error_type([{"f": {"a": [1, 2]}}], [{"f": {"a": [[1.0, 2.0], ""]}}], functions) is None


def test_empty_list_matches_an_omittable_parameter():
    functions = [doc(a=("array", "string"), required=())]
    assert error_type([{"f": {"a": []}}], [{"f": {"a": [["x"], ""]}}], functions) is None


def test_list_order_matters_and_tuples_count_as_lists_for_tuple_parameters():
    functions = [doc(a=("array", "integer"), b=("tuple", "integer"), required=())]
    assert error_type([{"f": {"a": [2, 1]}}], [{"f": {"a": [[1, 2]]}}], functions) == "value_error:list/tuple"
    assert error_type([{"f": {"b": (1, 2)}}], [{"f": {"b": [[1, 2]]}}], functions) is None
    assert error_type([{"f": {"a": (1, 2)}}], [{"f": {"a": [[1, 2]]}}], functions) == "type_error:simple"


def test_dict_values_are_normalised_and_missing_keys_must_be_omittable():
    functions = [doc(a="dict")]
    answer = [{"f": {"a": [{"city": ["San Francisco"], "unit": ["c", ""]}]}}]
    assert error_type([{"f": {"a": {"city": "san francisco"}}}], answer, functions) is None
    assert error_type([{"f": {"a": {"city": "LA"}}}], answer, functions) == "value_error:dict_value"
    assert error_type([{"f": {"a": {"town": "LA"}}}], answer, functions) == "value_error:dict_key"
    assert error_type([{"f": {"a": {"unit": "c"}}}], answer, functions) == "value_error:dict_key"


def test_list_of_dicts_is_compared_position_by_position():
    functions = [doc(a=("array", "dict"))]
    answer = [{"f": {"a": [[{"k": ["x"]}, {"k": ["y"]}]]}}]
    assert error_type([{"f": {"a": [{"k": "x"}, {"k": "y"}]}}], answer, functions) is None
    assert error_type([{"f": {"a": [{"k": "y"}, {"k": "x"}]}}], answer, functions) == "value_error:dict_value"
    assert error_type([{"f": {"a": [{"k": "x"}]}}], answer, functions) == "value_error:list_dict_count"


def test_other_types_compare_with_python_equality():
    functions = [doc(a="integer")]
    assert error_type([{"f": {"a": 5}}], [{"f": {"a": [4]}}], functions) == "value_error:others"


def test_parameter_checks_and_their_order():
    functions = [doc(a="string", b="string", c="string", required=("a",))]
    answer = [{"f": {"a": ["x"], "b": ["y"]}}]
    assert error_type([{"g": {"a": "x", "b": "y"}}], answer, functions) == "simple_function_checker:wrong_func_name"
    assert error_type([{"f": {"b": "y"}}], answer, functions) == "simple_function_checker:missing_required"
    assert error_type([{"f": {"a": "x", "b": "y", "c": "z"}}], answer, functions) == "simple_function_checker:unexpected_param"
    assert error_type([{"f": {"a": "x", "b": "y", "zz": 1}}], answer, functions) == "simple_function_checker:unexpected_param"
    assert error_type([{"f": {"a": "x"}}], answer, functions) == "simple_function_checker:missing_optional"


def test_simple_categories_need_exactly_one_call():
    answer = [{"f": {"a": ["x"]}}]
    assert error_type([{"f": {"a": "x"}}, {"f": {"a": "x"}}], answer) == "simple_function_checker:wrong_count"
    assert error_type([], answer) == "simple_function_checker:wrong_count"


def test_multiple_checks_the_expected_function_and_the_count():
    functions = [doc("g", a="string"), doc("f", a="string")]
    answer = [{"f": {"a": ["x"]}}]
    assert error_type([{"f": {"a": "x"}}], answer, functions, "multiple") is None
    assert error_type([{"g": {"a": "x"}}], answer, functions, "multiple") == "simple_function_checker:wrong_func_name"
    assert error_type([{"f": {"a": "x"}}] * 2, answer, functions, "live_multiple") == "multiple_function_checker:wrong_count"


def test_parallel_matching_is_order_insensitive_and_counts_calls():
    functions = [doc(a="string")]
    answer = [{"f": {"a": ["x"]}}, {"f": {"a": ["y"]}}]
    assert error_type([{"f": {"a": "y"}}, {"f": {"a": "x"}}], answer, functions, "parallel") is None
    assert error_type([{"f": {"a": "y"}}], answer, functions, "parallel") == "parallel_function_checker_no_order:wrong_count"
    assert error_type([{"f": {"a": "y"}}, {"f": {"a": "y"}}], answer, functions, "parallel") == "parallel_function_checker_no_order:cannot_find_match"


def test_parallel_matching_is_greedy_without_backtracking():
    """Answer 1 accepts x or y, answer 2 only x: the output [x, y] matches answer 1 to x first,
    leaving y for answer 2, so a set that has a valid assignment still fails."""
    functions = [doc(a="string")]
    answer = [{"f": {"a": ["x", "y"]}}, {"f": {"a": ["x"]}}]
    assert error_type([{"f": {"a": "x"}}, {"f": {"a": "y"}}], answer, functions, "parallel") == "parallel_function_checker_no_order:cannot_find_match"
    assert error_type([{"f": {"a": "y"}}, {"f": {"a": "x"}}], answer, functions, "parallel") is None


def test_parallel_reports_the_parallel_error_type_whatever_the_cause():
    functions = [doc(a="integer")]
    answer = [{"f": {"a": [1]}}, {"f": {"a": [2]}}]
    result = verdict([{"f": {"a": 1}}, {"f": {"a": "2"}}], answer, functions, "live_parallel")
    assert result.error_type == "parallel_function_checker_no_order:cannot_find_match"
    assert "type_error:simple" in str(result.error)


def test_decoder_failure_and_wrong_shape():
    answer = [{"f": {"a": ["x"]}}]
    assert error_type(ParseFailure("syntax"), answer) == "ast_decoder:decoder_failed"
    assert error_type({}, answer) == "ast_decoder:decoder_wrong_output_format"
    assert error_type(None, answer) == "ast_decoder:decoder_wrong_output_format"
    assert error_type([{"f": {"a": "x"}, "g": {}}], answer) == "ast_decoder:decoder_wrong_output_format"
    assert error_type([{"f": "a=x"}], answer) == "ast_decoder:decoder_wrong_output_format"


@pytest.mark.parametrize("category", ["irrelevance", "live_irrelevance"])
def test_irrelevance_is_correct_iff_no_call_is_found(category):
    assert check(category, [], None, ParseFailure("syntax")).valid
    assert check(category, [], None, []).valid
    assert check(category, [], None, [{}]).valid
    assert check(category, [], None, "some text").valid
    result = check(category, [], None, [{"anything": {}}])
    assert not result.valid and result.error_type == "irrelevance_error:decoder_success"
    assert is_empty_output([{}]) and not is_empty_output([{"f": {}}])


def test_underscore_to_dot_renames_expected_names():
    functions = [doc("math.add", a="string")]
    answer = [{"math.add": {"a": ["x"]}}]
    assert check("simple_python", functions, answer, [{"math_add": {"a": "x"}}], underscore_to_dot=True).valid
    assert not check("simple_python", functions, answer, [{"math_add": {"a": "x"}}]).valid


def test_java_values_must_be_source_strings_and_convert_by_declared_type():
    functions = [doc(a="long", b="float", c="double", d="boolean", required=())]
    answer = [{"f": {"a": [5], "b": [1.5], "c": [2.0], "d": [True]}}]
    assert error_type([{"f": {"a": "5L", "b": "1.5f", "c": "2.0", "d": "true"}}], answer, functions, "simple_java") is None
    assert error_type([{"f": {"a": "5"}}], [{"f": {"a": [5]}}], functions, "simple_java") == "type_error:simple"  # long needs L
    assert error_type([{"f": {"b": "1.5"}}], [{"f": {"b": [1.5]}}], functions, "simple_java") == "type_error:simple"  # float needs f
    assert error_type([{"f": {"a": 5}}], [{"f": {"a": [5]}}], functions, "simple_java") == "type_error:java"


def test_javascript_bigint_needs_n_and_float_accepts_integers():
    functions = [doc(a="Bigint", b="float", required=())]
    assert error_type([{"f": {"a": "10n"}}], [{"f": {"a": [10]}}], functions, "simple_javascript") is None
    assert error_type([{"f": {"a": "10"}}], [{"f": {"a": [10]}}], functions, "simple_javascript") == "type_error:simple"
    assert error_type([{"f": {"b": "3"}}], [{"f": {"b": [3.0]}}], functions, "simple_javascript") is None
    assert error_type([{"f": {"b": 3.0}}], [{"f": {"b": [3.0]}}], functions, "simple_javascript") == "type_error:js"


def test_malformed_ground_truth_gives_a_checker_error_instead_of_a_crash():
    functions = [doc(a="no_such_type")]
    result = check("simple_python", functions, [{"f": {"a": ["x"]}}], [{"f": {"a": "x"}}])
    assert not result.valid and result.error_type == "checker_error"


def test_unknown_category_is_refused():
    with pytest.raises(ValueError, match="unknown category"):
        check("multi_turn_base", [], None, [])
