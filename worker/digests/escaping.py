"""Autoescaped Jinja2 output written as escaped text, without a Markup object per value.

Jinja2 compiles each `{{ value }}` of an autoescaped template to
`escape(value)`: markupsafe escapes the text in C, then wraps it in a new
Markup string (a Python-level constructor) that the render at once joins
into plain text.  A digest prints about 170 values, and the wrapping was
about a third of rendering its HTML body.  `EscapingEnvironment` compiles the
same output to `escape_output(value)`, which returns the same characters for a
plain string and hands every other value (Markup, numbers, undefined values)
to markupsafe's `escape` as before.  Captured output (macros, `{% set %}`
blocks, filter blocks) is still wrapped in Markup by Jinja2 when it is
joined, so nothing the templates can see changes; a test holds the output
equal to `escape` for any text and the emails equal to stored copies.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, nodes
from jinja2.compiler import CodeGenerator, Frame
from markupsafe import escape

try:  # markupsafe 3: the C function that `escape` wraps in Markup
    from markupsafe import _escape_inner as _escaped
except ImportError:  # pragma: no cover - another markupsafe: the public function

    def _escaped(text: str, /) -> str:
        return str(escape(text))


def escape_output(value: Any) -> str:
    """`str(escape(value))`, with no Markup built for a plain string."""
    if type(value) is str:
        return _escaped(value)
    return escape(value)


class _EscapingCodeGenerator(CodeGenerator):
    def _output_child_pre(
        self, node: nodes.Expr, frame: Frame, finalize: CodeGenerator._FinalizeInfo
    ) -> None:
        # Only the plain case: autoescape fixed at compile time and no finalize.
        if frame.eval_ctx.autoescape and not frame.eval_ctx.volatile and finalize.src is None:
            self.write("environment.escape_output(")
        else:
            super()._output_child_pre(node, frame, finalize)


class EscapingEnvironment(Environment):
    """A Jinja2 environment whose autoescaped output goes through `escape_output`."""

    code_generator_class = _EscapingCodeGenerator
    escape_output = staticmethod(escape_output)
