"""The `visible` template filter: stored text with its control characters shown as escapes.

Autoescaping makes `<script>` harmless; this makes the characters a page
would hide or act on readable too: escape sequences, carriage returns, NUL
and the bidi controls that reorder what is shown (U+202E) come out as
`\\x1b`, `\\u202e`, the way the command line shows them.
"""

from __future__ import annotations

from worker.core.quoting import terminal_safe
from worker.web.admin.blueprint import blueprint


@blueprint.app_template_filter("visible")
def visible(value: object) -> str:
    return "" if value is None else terminal_safe(str(value))
