"""Escaped output without a Markup per value: the same text as Jinja2's own escaping."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import Environment, StrictUndefined, UndefinedError
from markupsafe import Markup, escape

from worker.digests.escaping import EscapingEnvironment, escape_output


class _Html:
    def __html__(self) -> str:
        return "<b>kept</b>"


@given(st.text())
def test_a_plain_string_is_escaped_as_markupsafe_escapes_it(text: str) -> None:
    assert escape_output(text) == str(escape(text))
    assert type(escape_output(text)) is str


@pytest.mark.parametrize(
    "value", [Markup("<i>safe</i>"), 42, 2.5, None, True, _Html(), "<&'\">", ["<x>"]]
)
def test_any_other_value_is_escaped_as_before(value: Any) -> None:
    assert escape_output(value) == escape(value)


TEMPLATE = """\
{% macro cell(text) %}<td>{{ text }}</td>{% endmacro %}
{% set header %}<h1>{{ title }}</h1>{% endset %}
{{ header }}{{ cell(title) }}{{ title | upper }}{{ safe }}{{ number }}{{ items | join(", ") }}
{% filter upper %}{{ title }}{% endfilter %}
{% autoescape false %}{{ title }}{% endautoescape %}
{% for item in items %}{{ loop.index }}:{{ item }}{{ cell(item) }}{% endfor %}
{{ "<lit>" }}{{ title ~ "&" ~ safe }}{{ (title, 1) }}
"""
CONTEXT = {
    "title": "Fish & <Chips> \"quoted\" 'single' — Ω",
    "safe": Markup("<em>ok</em>"),
    "number": 7,
    "items": ["<a>", Markup("<b>"), "c&d"],
}


@pytest.mark.parametrize("autoescape", [True, False])
def test_templates_render_exactly_as_with_the_stock_environment(autoescape: bool) -> None:
    options: dict[str, Any] = {"autoescape": autoescape, "undefined": StrictUndefined}
    stock = Environment(**options).from_string(TEMPLATE)
    ours = EscapingEnvironment(**options).from_string(TEMPLATE)
    assert ours.render(CONTEXT) == stock.render(CONTEXT)
    if autoescape:
        assert "Fish &amp; &lt;Chips&gt; &#34;quoted&#34; &#39;single&#39;" in ours.render(CONTEXT)


def test_an_undefined_value_is_still_an_error() -> None:
    template = EscapingEnvironment(autoescape=True, undefined=StrictUndefined).from_string(
        "{{ missing }}"
    )
    with pytest.raises(UndefinedError):
        template.render({})


def test_the_email_templates_print_through_escape_output() -> None:
    """Jinja2 compiles the HTML templates' output to `escape_output`: a Jinja2 or
    markupsafe upgrade that turns the fast path off, silently escaping as before
    but slower, fails here."""
    from worker.digests.render import email_environment

    environment = email_environment()
    assert environment.loader is not None
    source = environment.loader.get_source(environment, "digest/body.html")[0]
    compiled = environment.compile(source, "digest/body.html", raw=True)
    assert "environment.escape_output(" in compiled
