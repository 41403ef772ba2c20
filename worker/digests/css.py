"""CSS inlining of Jinja HTML templates, once per template at load time.

css-inline parses HTML; Jinja tags in a template would be moved around by the
parser (text loose in a table is foster-parented).  Each tag is swapped for a
marker the parser leaves in place, the CSS is inlined, the tags are put back,
and the element outline is checked so a template that would be rearranged is
refused instead of rendered wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import css_inline

_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_PLACEHOLDER = re.compile("<!--\ue000(\\d+)\ue001-->|\ue000(\\d+)\ue001")
_RAW_TEXT_ELEMENTS = frozenset({"title", "style", "script", "textarea"})
_STYLE_ELEMENT = re.compile(r"<style\b.*?</style>", re.S | re.I)
_OUTLINE_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>|([^<]+)")
_IMPLIED_ELEMENTS = frozenset({"html", "head", "body"})  # a document's frame, added if missing


class TemplateLayoutError(ValueError):
    """The HTML parser would rearrange a template around its Jinja tags."""


@dataclass
class _Cursor:
    """Where a scan of template HTML stands: in content, a tag, a comment or raw text."""

    mode: str = "content"
    element: str = ""
    closing: bool = False
    quote: str = ""

    def advance(self, html: str) -> None:
        i = 0
        while i < len(html):
            if self.mode == "content":
                i = html.find("<", i)
                if i < 0:
                    return
                tag = _HTML_TAG.match(html, i)
                if html.startswith("<!--", i):
                    self.mode, i = "comment", i + 4
                elif tag or html.startswith("<!", i):
                    self.mode, self.quote = "tag", ""
                    self.closing = bool(tag and tag.group(1))
                    self.element = tag.group(2).lower() if tag else "!"
                    i = tag.end() if tag else i + 2
                else:
                    i += 1
            elif self.mode == "tag":
                char = html[i]
                if self.quote:
                    self.quote = "" if char == self.quote else self.quote
                elif char in "\"'":
                    self.quote = char
                elif char == ">":
                    raw = self.element in _RAW_TEXT_ELEMENTS and not self.closing
                    self.mode = "raw" if raw else "content"
                i += 1
            elif self.mode == "comment":
                end = html.find("-->", i)
                if end < 0:
                    return
                self.mode, i = "content", end + 3
            else:
                end = html.lower().find("</" + self.element, i)
                if end < 0:
                    return
                self.mode, i = "content", end


def _placeholders(source: str, name: str) -> tuple[str, list[str]]:
    """Swap each Jinja tag for a marker the HTML parser keeps where it is.

    Between elements the marker is an HTML comment (a parser never moves
    comments out of a table, while it would move text); inside attribute
    values and raw-text elements it is a pair of private-use characters.
    """
    cursor = _Cursor()
    pieces: list[str] = []
    tags: list[str] = []
    position = 0
    for found in _JINJA_TAG.finditer(source):
        cursor.advance(source[position : found.start()])
        index = len(tags)
        if cursor.mode == "content":
            pieces.append(f"{source[position : found.start()]}<!--\ue000{index}\ue001-->")
        elif cursor.mode == "tag" and not cursor.quote:
            line = source.count("\n", 0, found.start()) + 1
            raise TemplateLayoutError(
                f"{name}:{line}: put Jinja tags inside a tag only within quoted attribute values"
            )
        else:
            pieces.append(f"{source[position : found.start()]}\ue000{index}\ue001")
        tags.append(found.group())
        position = found.end()
    pieces.append(source[position:])
    return "".join(pieces), tags


def _outline(html: str) -> list[str]:
    """Element names and text, in order: what must not change when CSS is inlined."""
    html = _STYLE_ELEMENT.sub("", _HTML_COMMENT.sub("", _JINJA_TAG.sub("", html)))
    outline = []
    for slash, element, text in _OUTLINE_TOKEN.findall(html):
        if element and element.lower() not in _IMPLIED_ELEMENTS:
            outline.append(f"<{slash}{element.lower()}>")
        elif text and text.strip():
            outline.append(" ".join(unescape(text).split()))
    return outline


def inline_css(source: str, css: str, *, name: str = "<template>") -> str:
    """Inline `css` into a Jinja HTML template's source, keeping every Jinja tag in place.

    A whole document (the base layout) keeps its @media rules in a <style>
    element; a child template is inlined as a fragment.  The result is checked:
    a template the parser would rearrange (unclosed elements, a branch that
    opens an element another branch closes, text loose in a table) is refused
    with TemplateLayoutError rather than rendered wrong.
    """
    marked, tags = _placeholders(source, name)
    options: dict[str, Any] = {"load_remote_stylesheets": False, "keep_at_rules": True}
    if re.match(r"\s*<!doctype|\s*<html", source, re.I):
        inlined = css_inline.CSSInliner(extra_css=css, **options).inline(marked)
    else:
        inlined = css_inline.CSSInliner(**options).inline_fragment(marked, css)
    seen: list[int] = []

    def restore(found: re.Match[str]) -> str:
        index = int(found.group(1) or found.group(2))
        seen.append(index)
        return tags[index]

    result = _PLACEHOLDER.sub(restore, inlined)
    if "<tbody" not in source.lower():  # the parser adds one per table; it could land in a loop
        result = result.replace("<tbody>", "").replace("</tbody>", "")
    if seen != list(range(len(tags))):
        raise TemplateLayoutError(f"{name}: the HTML parser moved or dropped Jinja tags")
    if _outline(result) != _outline(source):
        raise TemplateLayoutError(
            f"{name}: the HTML parser changed the element structure; close every element"
            " explicitly, keep each Jinja branch balanced and text inside table cells"
        )
    return result
