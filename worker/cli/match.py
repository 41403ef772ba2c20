"""`trialalerts match`: why a condition matches a study, and criteria kept up with the rules."""

from __future__ import annotations

import click

from worker.cli.common import echo, runtime_for
from worker.core.runtime import Runtime
from worker.matching.conditions import index_key, normalize_term
from worker.matching.criteria import recompute_criteria
from worker.matching.explain import ConceptWords, explain, study_snapshot


@click.group()
def match() -> None:
    """Condition matching: explanations and criteria upkeep."""


def _words(words: frozenset[str]) -> str:
    return ", ".join(sorted(words)) or "(none)"


def _concept_line(concept: ConceptWords) -> list[str]:
    verdict = "MATCH" if not concept.missing else f"missing {_words(concept.missing)}"
    lines = [f"  {concept.kind:<13} {concept.text!r}: {_words(concept.words)}  [{verdict}]"]
    lines += [f"{'':16}+ {word} ({why})" for word, why in concept.added.items()]
    if concept.dropped:
        lines.append(f"{'':16}- {_words(concept.dropped)} (the record places it elsewhere)")
    return lines


@match.command("explain")
@click.argument("term")
@click.argument("nct_id")
@click.pass_context
def match_explain(ctx: click.Context, term: str, nct_id: str) -> None:
    """Show how TERM and each concept of study NCT_ID normalize, and which concept matches.

    The study is read from its stored snapshot; filters (statuses, countries,
    near) are not part of the question.  Exit 1 when the study is unknown.
    """
    if not normalize_term(term):
        raise click.BadParameter("only stop words: nothing to match", param_hint="TERM")
    runtime = runtime_for(ctx)
    with runtime.sessions() as session:
        snapshot = study_snapshot(session, nct_id)
    if snapshot is None:
        echo(f"no study {nct_id} in the database", err=True)
        ctx.exit(1)
    found = explain(term, snapshot.summary)
    echo(f"term {term!r}: {_words(found.words)}  (index key: {index_key(found.words)})")
    title = snapshot.summary.get("title") or ""
    status = snapshot.summary.get("status") or "-"
    removed = ", removed" if snapshot.removed else ""
    echo(f"study {snapshot.nct_id} {title!r} ({status}{removed})")
    for concept in found.concepts:
        for line in _concept_line(concept):
            echo(line)
    if found.matched:
        names = "; ".join(f"{c.kind} {c.text!r}" for c in found.matched)
        echo(f"matches: {names}")
    else:
        echo("no match: no single concept holds every word of the term")


def recompute(runtime: Runtime) -> None:
    """Re-point condition subscriptions at the criteria the current rules make, and report."""
    with runtime.sessions() as session, session.begin():
        done = recompute_criteria(session, runtime.now())
    for subscription_id, why in done.failed:
        echo(f"subscription {subscription_id} keeps its criteria: {why}", err=True)
    echo(
        f"criteria: {done.moved} of {done.checked} condition subscriptions "
        "re-pointed to the current matching rules"
    )


@match.command("recompute")
@click.pass_context
def match_recompute(ctx: click.Context) -> None:
    """Point every condition subscription at the criteria the current matching rules make.

    `trialalerts db upgrade` does this too; run it after upgrading Trialalerts.
    """
    recompute(runtime_for(ctx))
