"""BFCL's prompting-mode decoding of raw model text (Python, Java, JavaScript)."""

from __future__ import annotations

from funcall.bfcl.decode import decode_text
from funcall.calls.limits import ParseFailure


def failed(result) -> bool:
    return isinstance(result, ParseFailure)


def test_python_list_and_bare_call_decode():
    assert decode_text("[f(a=1), m.g(b='x')]", "parallel") == [{"f": {"a": 1}}, {"m.g": {"b": "x"}}]
    assert decode_text("f(a=1)", "simple_python") == [{"f": {"a": 1}}]
    assert decode_text("```\n[f(a=1)]\n```", "simple_python") == [{"f": {"a": 1}}]  # plain fence is trimmed


def test_python_decoder_failures():
    assert failed(decode_text("```python\n[f(a=1)]\n```", "simple_python"))  # language tag stays
    assert failed(decode_text("Sure! [f(a=1)]", "simple_python"))  # prose
    assert failed(decode_text("'[f(a=1)]'", "simple_python"))  # quoted list
    assert failed(decode_text("[f(a=1), 3]", "simple_python"))  # not every element is a call
    assert failed(decode_text("[f(a=x+1)]", "simple_python"))  # BFCL's eval raises NameError here


def test_python_value_rules():
    decoded = decode_text("[f(a=-3, b=x, c=g(1, 2), d=g(k=1), e=(1, 2), h=d['k'], i=..., j=2*3, k=+4)]", "simple_python")
    assert decoded == [{"f": {"a": -3, "b": "x", "c": "g(1, 2)", "d": {"g": {"k": 1}}, "e": (1, 2), "h": "d['k']", "i": "...", "j": 6, "k": -4}}]


def test_positional_arguments_are_dropped():
    assert decode_text("[f(1, 2, a=3)]", "simple_python") == [{"f": {"a": 3}}]


def test_empty_text_decodes_to_an_empty_list():
    assert decode_text("", "irrelevance") == []
    assert decode_text("[]", "live_irrelevance") == []


def test_java_first_call_with_source_text_values():
    decoded = decode_text('[Foo.bar(name="x y", n=5, big=10L, flag=true, list=new int[]{1, 2}, sum=1 + 2, ch=\'c\')]', "simple_java")
    assert decoded == [{"Foo.bar": {"name": "x y", "n": "5", "big": "10L", "flag": "true", "list": "new int[]{1,2}", "sum": "1+2", "ch": "c"}}]


def test_java_hashmap_body_is_dropped_and_method_invocations_keep_their_text():
    decoded = decode_text('[A.b(m=new HashMap<String, String>() {{ put("k", "v"); }}, l=Arrays.asList("a", "b"))]', "simple_java")
    assert decoded == [{"A.b": {"m": "new HashMap<String,String>()", "l": 'Arrays.asList("a", "b")'}}]


def test_java_short_statement_without_semicolon_is_a_tree_sitter_error():
    assert failed(decode_text("[foo(a=1)]", "simple_java"))
    assert decode_text("[foo(a=1);]", "simple_java") == [{"foo": {"a": "1"}}]
    assert decode_text("[Foo.bar(a=1)]", "simple_java") == [{"Foo.bar": {"a": "1"}}]


def test_java_without_a_call_or_with_errors():
    assert decode_text("[Hello world]", "simple_java") == {}  # parses as a declaration: no call
    assert failed(decode_text("[Foo.bar(a=1), Foo.baz(b=2)]", "simple_java"))
    assert failed(decode_text("[Foo.bar(a=new int[2])]", "simple_java"))  # BFCL's decoder crashes on this


def test_javascript_top_level_call_only():
    assert decode_text('[sort(items=list, order="asc", n=5n)]', "simple_javascript") == [{"sort": {"items": "list", "order": "asc", "n": "5n"}}]
    assert decode_text("[f(a=1), g(b=2)]", "simple_javascript") is None  # a sequence expression
    assert decode_text("[x = f(a=1)]", "simple_javascript") is None
    assert decode_text("[f(a=1); g(b=2)]", "simple_javascript") == [{"f": {"a": "1"}}]
    assert decode_text("[f(a={k: 1}, b=[1, 2])]", "simple_javascript") == [{"f": {"a": "{k: 1}", "b": "[1, 2]"}}]


def test_javascript_errors():
    assert failed(decode_text("[f(a=1]", "simple_javascript"))
    assert failed(decode_text("[hello world]", "simple_javascript"))
    assert failed(decode_text("[f(a=5.0n)]", "simple_javascript"))


def test_repeated_argument_names_fail_in_java_and_javascript():
    assert failed(decode_text("[Foo.bar(a=1, a=2)]", "simple_java"))
    assert failed(decode_text("[f(a=1, a=2)]", "simple_javascript"))


def test_bare_identifiers_are_kept_under_none():
    assert decode_text("[Foo.bar(x, a=1)]", "simple_java") == [{"Foo.bar": {None: "x", "a": "1"}}]
    assert decode_text("[f(true, a=1)]", "simple_javascript") == [{"f": {None: "true", "a": "1"}}]
