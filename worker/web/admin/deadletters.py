"""Dead letters in the console (/admin/deadletters): rejected input, its reason, its payload.

The list shows each letter's reason and where it came from (origin and line),
a page at a time (keyset on the id); one letter's page shows the raw payload,
escaped.  Replaying one or all is a POST with a confirmation step; it runs
`trialalerts deadletters replay` (worker.queue.pipeline.replay) and is audited.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as AnyResponse

from worker.core.audit import record_audit
from worker.core.ids import parse_id
from worker.core.models import DeadLetter
from worker.ingest.deadletters import dead_letter_page
from worker.queue.pipeline import replay
from worker.web.admin.auth import admin_required, current_admin_email
from worker.web.admin.blueprint import blueprint
from worker.web.admin.confirm import confirmation, confirmed
from worker.web.support import current_runtime, database

PAGE_SIZE = 50
REASON_SHOWN = 300


@blueprint.get("/deadletters")
@admin_required
def deadletters() -> AnyResponse:
    after = parse_id(request.args.get("after"))
    replayed = request.args.get("replayed") == "yes"
    with database(current_runtime(), write=False) as db:
        letters = dead_letter_page(db, after, PAGE_SIZE + 1, include_replayed=replayed)
        db.expunge_all()
    more = len(letters) > PAGE_SIZE
    letters = letters[:PAGE_SIZE]
    html = render_template(
        "admin/deadletters.html",
        letters=letters,
        replayed=replayed,
        paged=after is not None,
        next_after=letters[-1].id if more else None,
        reason_shown=REASON_SHOWN,
    )
    return Response(html)


def _letter(letter_id: str) -> DeadLetter:
    pk = parse_id(letter_id)
    with database(current_runtime(), write=False) as db:
        letter = db.get(DeadLetter, pk) if pk is not None else None
        if letter is None:
            abort(404, "There is no dead letter with that id.")
        db.expunge(letter)
    return letter


@blueprint.get("/deadletters/<letter_id>")
@admin_required
def deadletter(letter_id: str) -> AnyResponse:
    return Response(render_template("admin/deadletter.html", letter=_letter(letter_id)))


@blueprint.post("/deadletters/replay")
@admin_required
def deadletters_replay() -> AnyResponse:
    """Replay one letter (`letter` in the form) or, without one, all not replayed yet."""
    raw = request.form.get("letter", "")
    letter = _letter(raw) if raw else None
    if letter is not None and letter.replayed_at is not None:
        flash(f"Dead letter {letter.id} was replayed already.")
        return redirect(url_for("admin.deadletter", letter_id=letter.id))
    back = (
        url_for("admin.deadletter", letter_id=letter.id) if letter else url_for("admin.deadletters")
    )
    if not confirmed():
        what = f"dead letter {letter.id}" if letter else "every dead letter not replayed yet"
        return confirmation(
            title="Replay?",
            message=(
                f"Publish {what} again. Payloads that are valid now are ingested; "
                "the others stay here as they are, and why each is still refused is "
                "shown after the replay."
            ),
            action=url_for("admin.deadletters_replay"),
            button="Replay",
            fields={"letter": str(letter.id)} if letter else {},
            cancel=back,
        )
    runtime = current_runtime()
    accepted, still_bad = replay(letter.id if letter else None, runtime)
    now = runtime.now()
    target = f"dead letter {letter.id}" if letter else "all dead letters"
    after = {"replayed": accepted, "still_rejected": [pk for pk, _ in still_bad]}
    with database(runtime, write=True) as db:
        record_audit(db, current_admin_email(), "deadletters.replay", target, after=after, now=now)
    if still_bad:
        reasons = "; ".join(f"{pk}: {reason}" for pk, reason in still_bad[:5])
        flash(f"{accepted} replayed, {len(still_bad)} still rejected ({reasons}).")
    else:
        flash(f"{accepted} replayed.")
    return redirect(back)
