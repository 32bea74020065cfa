"""The regular-expression fast path for plain calls must give exactly what the `ast` path gives."""
from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from funcall.calls.python_plain import plain_call_pairs
from funcall.calls.python_syntax import named_calls, parse_expression, render_python_calls

names = st.text(string.ascii_letters + "_", min_size=1, max_size=8).filter(lambda s: s.isidentifier())
scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.booleans(), st.none(), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(string.ascii_letters, max_size=4), inner, max_size=3)),
                      max_leaves=6)
calls = st.lists(st.builds(lambda n, a: {"name": n, "arguments": a}, names,
                           st.dictionaries(names, values, max_size=4)), min_size=1, max_size=3)


@settings(max_examples=400, deadline=None)
@given(calls=calls, spaces=st.sampled_from(["", " "]))
def test_fast_path_agrees_with_the_ast_path_on_rendered_calls(calls, spaces):
    text = render_python_calls(calls).replace(", ", "," + spaces)
    fast = plain_call_pairs(text)
    if fast is None:  # not plain enough for the fast path: the ast path decides alone
        return
    assert fast == named_calls(parse_expression(text))


def test_the_fast_path_takes_plain_calls():
    text = "[get_weather(city='Paris', days=3, unit=\"celsius\"), f(x=-1.5, flag=True, tags=['a', 'b'])]"
    assert plain_call_pairs(text) == named_calls(parse_expression(text)) is not None


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=string.printable, max_size=60))
def test_fast_path_never_accepts_what_the_ast_path_rejects(text):
    fast = plain_call_pairs(text)
    if fast is None:
        return
    body = parse_expression(text)
    assert not hasattr(body, "code"), (text, body)  # the ast path parses it too
    assert fast == named_calls(body)
