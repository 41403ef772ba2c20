"""The overview's charts: pygal bar charts rendered to SVG on the server, inlined in the page.

No script: pygal's own tooltip script (and the config script it always
writes) is left out, so the charts read the same without JavaScript and under
the pages' Content-Security-Policy; each chart comes with a table of the same
numbers for screen readers.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import date

import pygal
from markupsafe import Markup, escape
from pygal.style import Style

from worker.web.admin.figures import Series

# pygal adds a sys.meta_path finder for its map plugins (pygal.maps.*), which we do not
# use; written to the old finder API, it makes every failed import in the process warn.
sys.meta_path[:] = [
    finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)
]
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#5b6370",
    foreground_strong="#5b6370",
    foreground_subtle="#c8ccd2",
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    colors=("#0b5cad", "#c0392b", "#8e44ad", "#2c7a3f"),
)


def bar_chart(title: str, days: Sequence[date], series: Sequence[Series]) -> Markup:
    """An SVG bar chart of `series` over `days`, labelled every week (ISO dates)."""
    chart = pygal.Bar(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=800,
        height=320,
        show_legend=len(series) > 1,
        legend_at_bottom=True,
        legend_at_bottom_columns=len(series),
        x_label_rotation=0,
        show_minor_x_labels=False,
        truncate_label=-1,
        min_scale=1,
        max_scale=6,
        print_values=False,
        margin=8,
    )
    chart.title = title
    chart.x_labels = [each.isoformat() for each in days]
    chart.x_labels_major = [each.isoformat() for each in days[::7]]
    for each in series:
        chart.add(each.label, list(each.counts))
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1))
