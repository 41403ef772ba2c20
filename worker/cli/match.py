"""`trialalerts match`: why a condition matches a study, and criteria kept up with the rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from worker.cli.common import echo, runtime_for

if TYPE_CHECKING:
    from worker.core.runtime import Runtime
    from worker.matching.conditions import Filters
    from worker.matching.explain import ConceptWords, FilterVerdict


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


FILTER_OPTIONS = (
    "statuses",
    "countries",
    "near",
    "age",
    "sex",
    "healthy_volunteers",
    "phases",
    "study_types",
)


def _filters_given(term: str, given: dict[str, object]) -> Filters:
    """The filter options, judged as an import row's fields are."""
    from worker.matching.conditions import Filters
    from worker.subscriptions.rows import parse_row

    fields = {name: value for name, value in given.items() if value not in (None, False)}
    if fields.get("healthy_volunteers"):
        fields["healthy_volunteers"] = "true"
    try:
        row = parse_row(
            {"email": "admin@example.org", "kind": "condition", "condition": term, **fields}
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    return Filters(
        statuses=frozenset(row.statuses),
        countries=frozenset(row.countries),
        near=row.near,
        age=row.age,
        sex=row.sex,
        healthy_volunteers=row.healthy_volunteers,
        phases=frozenset(row.phases),
        study_types=frozenset(row.study_types),
    )


def _verdict_line(verdict: FilterVerdict) -> str:
    outcome = "pass" if verdict.passed else "REFUSES"
    return f"  {verdict.name:<18} {verdict.asked}; study: {verdict.found}  [{outcome}]"


@match.command("explain")
@click.argument("term")
@click.argument("nct_id")
@click.option(
    "--subscription",
    "subscription_id",
    type=int,
    help="Take the filters of this subscription (by id).",
)
@click.option("--statuses", help="';'-list of overall statuses, e.g. RECRUITING.")
@click.option("--countries", help="';'-list of country names.")
@click.option("--near", help="lat,lon,km or PLACE;KM, e.g. 'Milan, Italy;50'.")
@click.option("--age", help="Whole years.")
@click.option("--sex", help="female or male.")
@click.option(
    "--healthy-volunteers", "healthy_volunteers", is_flag=True, help="Only studies taking them."
)
@click.option("--phases", help="';'-list, e.g. PHASE2;PHASE3.")
@click.option("--study-types", "study_types", help="';'-list, e.g. INTERVENTIONAL.")
@click.pass_context
def match_explain(
    ctx: click.Context, term: str, nct_id: str, subscription_id: int | None, **given: object
) -> None:
    """Show how TERM and each concept of study NCT_ID normalize, and which concept matches.

    With filters (the options, as in a subscription file, or --subscription
    ID for a stored subscription's), also say which filter refuses the study
    and what the study says.  The study is read from its stored snapshot.
    Exit 1 when the study or the subscription is unknown.
    """
    from worker.matching.conditions import index_key, normalize_term
    from worker.matching.explain import (
        explain,
        explain_filters,
        study_snapshot,
        subscription_filters,
    )

    if not normalize_term(term):
        raise click.BadParameter("only stop words: nothing to match", param_hint="TERM")
    if subscription_id is not None and any(value not in (None, False) for value in given.values()):
        raise click.UsageError("give either --subscription or filter options, not both")
    filters = _filters_given(term, given)
    runtime = runtime_for(ctx)
    with runtime.sessions() as session:
        snapshot = study_snapshot(session, nct_id)
        if subscription_id is not None:
            stored = subscription_filters(session, subscription_id)
            if stored is None:
                echo(f"no condition subscription {subscription_id}", err=True)
                ctx.exit(1)
            filters = stored
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
    verdicts = explain_filters(filters, snapshot.summary)
    if verdicts:
        echo("filters:")
        for verdict in verdicts:
            echo(_verdict_line(verdict))
    refused = [verdict.name for verdict in verdicts if not verdict.passed]
    if not found.matched:
        echo("no match: no single concept holds every word of the term")
    elif refused:
        echo(f"no match: the term matches, but the study fails the filters {', '.join(refused)}")
    else:
        names = "; ".join(f"{c.kind} {c.text!r}" for c in found.matched)
        echo(f"matches: {names}")


def recompute(runtime: Runtime) -> None:
    """Re-point condition subscriptions at the criteria the current rules make, and report."""
    from worker.matching.criteria import recompute_criteria

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
