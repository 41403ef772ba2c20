"""The overview (/admin/): is mail flowing?  Charts of the last 30 days and gauges now."""

from __future__ import annotations

from flask import Response, render_template

from worker.sending.pacing_view import read_pacing
from worker.web.admin.auth import admin_required
from worker.web.admin.blueprint import blueprint
from worker.web.admin.charts import bar_chart
from worker.web.admin.figures import overview_figures
from worker.web.support import current_runtime, database


@blueprint.get("/")
@admin_required
def overview() -> Response:
    runtime = current_runtime()
    with database(runtime, write=False) as db:
        figures = overview_figures(db, runtime.now())
    days = figures.days
    charts = [
        ("emails", "Emails per day", figures.emails),
        ("events", "Events ingested per day", (figures.events,)),
        ("deadletters", "Dead letters per day", (figures.dead_letters,)),
    ]
    rendered = [
        (key, title, bar_chart(title, days, series), series) for key, title, series in charts
    ]
    html = render_template(
        "admin/overview.html",
        figures=figures,
        charts=rendered,
        pacing=read_pacing(runtime),
        backend=runtime.settings.email_backend,
    )
    return Response(html)
