"""Java / JavaScript argument conversion (source text -> value) and the decoders' two paths."""

from __future__ import annotations

import pytest

from bfcl_shared import corpus_cases
from funcall.bfcl.java_call import decode_java_program
from funcall.bfcl.java_js import convert_java, convert_js
from funcall.bfcl.js_call import decode_js_program
from funcall.bfcl.simple_call import decode_simple_call
from funcall.calls.python_syntax import bracketed


def test_java_numbers_need_their_suffixes():
    assert convert_java("42", "integer") == 42
    assert convert_java("42L", "long") == 42 and convert_java("42", "long") == "42"
    assert convert_java("1.5f", "float") == 1.5 and convert_java("1.5", "float") == "1.5"
    assert convert_java("3", "double") == 3.0 and convert_java("1e3", "double") == 1000.0
    assert convert_java("true", "boolean") is True and convert_java("TRUE", "boolean") == "TRUE"


def test_java_char_never_converts_and_strings_stay_as_written():
    assert convert_java("'a'", "char") == "'a'"
    assert convert_java("text", "String") == "text"


def test_java_collections():
    assert convert_java("new int[]{1,2,3}", "Array", "integer") == [1, 2, 3]
    assert convert_java('new String[]{"a","b"}', "Array", "String") == ['"a"', '"b"']  # quotes kept
    assert convert_java('new ArrayList<>(Arrays.asList("a", "b"))', "ArrayList", "String") == ["a", "b"]
    assert convert_java("new ArrayList<Long>(Arrays.asList(1L, 2L))", "ArrayList", "long") == [1, 2]
    assert convert_java("new ArrayList<>()", "ArrayList", "String") == []
    assert convert_java('new HashMap<String, Object>() {{ put("k", 5); put("s", "v"); }}', "HashMap") == {"k": 5, "s": "v"}
    assert convert_java("new HashMap<String,String>()", "HashMap") == {}  # what the decoder leaves of a map
    assert convert_java("myMap", "HashMap") == "myMap"
    with pytest.raises(NotImplementedError):
        convert_java("x", "Set")


def test_javascript_conversions():
    assert convert_js('"abc"', "String") == "abc" and convert_js("abc", "String") == "abc"
    assert convert_js("7", "integer") == 7 and convert_js("7.0", "integer") == "7.0"
    assert convert_js("7", "float") == 7.0 and convert_js("1e3", "float") == "1e3"
    assert convert_js("12n", "Bigint") == 12 and convert_js("12", "Bigint") == "12"
    assert convert_js("false", "Boolean") is False
    assert convert_js("[1, 2]", "array", "integer") == [1, 2]
    assert convert_js("new Array('a', 'b')", "array", "String") == ["a", "b"]
    assert convert_js("[[1, 2], [3, 4]]", "array", "integer") == [[1, 2], [3, 4]]
    assert convert_js("{a: 1, 'b': 'x', c: '5'}", "dict") == {"a": 1, "b": "x", "c": 5}
    assert convert_js("{}", "dict") == {} and convert_js("obj", "dict") == "obj"


def test_plain_call_fast_path_agrees_with_the_full_parsers():
    compared = 0
    for case in corpus_cases():
        language = {"simple_java": "java", "simple_javascript": "javascript"}.get(case["category"])
        if language is None or case.get("model_output_text") is None:
            continue
        source = bracketed(case["model_output_text"])[1:-1]
        fast = decode_simple_call(source, language)
        if fast is None:
            continue
        full = (decode_java_program if language == "java" else decode_js_program)(source)
        compared += 1
        if hasattr(fast, "code"):
            assert hasattr(full, "code"), source
        else:
            assert fast == full, source
    assert compared > 1000


@pytest.mark.parametrize("source", ["Foo.bar(a=1, b=new int[]{1})", 'f(a="x\\"y")', "Foo.bar(a=1) + 1", "a.b(this=1)"])
def test_fast_path_declines_what_it_does_not_read(source):
    assert decode_simple_call(source, "java") is None
