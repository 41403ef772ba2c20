"""Email templates: each compiles, renders from a realistic context, keeps its subject one line."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment
from markupsafe import escape

from tests.support import CTGOV
from worker.core.config import Settings
from worker.core.paths import schema_dir, templates_dir
from worker.core.tokens import read_token
from worker.digests.css import TemplateLayoutError, inline_css
from worker.digests.digest import Digest, DigestItem, Section, subject_line
from worker.digests.facts import phase_words, who_can_join
from worker.digests.labels import status_label, status_note
from worker.digests.render import (
    confirm_context,
    digest_context,
    email_environment,
    one_line,
    render_email,
)
from worker.ingest.studies import summarize

KEYS = ("new-key-0123456789abcdef", "old-key-0123456789abcdef")
SETTINGS = Settings(
    secret_keys=KEYS,
    base_url="https://alerts.example.org",
    mail_from="Trialalerts <alerts@mail.example.org>",
    postal_address="Trialalerts, 1 Example Street, 00000 Example City",
)
NOW = datetime(2026, 6, 27, 8, 0, tzinfo=UTC)
SUBSCRIBER = {"id": 42, "email": "ada@example.com", "link_key": "ada-link-key-000000000"}
EMAIL_DIR = templates_dir() / "email"
HTML_BUDGET = 100_000  # Gmail clips messages whose HTML passes ~102 KB, hiding the footer


def ctgov_dir() -> Path:
    return CTGOV


@cache
def real_summary(nct_id: str) -> dict[str, Any]:
    (path,) = ctgov_dir().glob(f"{nct_id}*.json")  # some records are saved as NCT….partial.json
    return summarize(json.loads(path.read_text(encoding="utf-8")))


def real_study(nct_id: str) -> tuple[str, str]:
    """(brief title, overall status) of a real registry record."""
    summary = real_summary(nct_id)
    return summary["title"], summary["status"]


def item(
    nct_id: str,
    *,
    changes: tuple[str, ...] = (),
    matched_by: tuple[str, ...] = (),
    is_new: bool = False,
    title: str | None = None,
    near: str = "",
    site_opened: bool = False,
) -> DigestItem:
    """An item as build_digest makes it, with the phase and eligibility of the real record."""
    real_title, status = real_study(nct_id) if title is None else (title, "RECRUITING")
    summary = real_summary(nct_id)
    facts = (phase_words(summary), who_can_join(summary), near)
    return DigestItem(
        nct_id=nct_id,
        title=real_title,
        status=status_label(status),
        url=f"https://clinicaltrials.gov/study/{nct_id}",
        is_new=is_new,
        changes=changes,
        matched_by=matched_by,
        status_note=status_note(status),
        facts=tuple(fact for fact in facts if fact),
        site_opened=site_opened,
        status_verified=summary["status_verified"],
    )


def realistic_digest(frequency: str = "daily") -> Digest:
    lung = Section(
        "condition",
        "New studies for lung cancer",
        (3,),
        (
            item(
                "NCT04267848",
                is_new=True,
                matched_by=("lung cancer", "NSCLC"),
                near="Nearest site: Mayo Clinic in Rochester, Rochester, United States, "
                "4.2 km (2.6 mi)",
            ),
            item(
                "NCT02576665",
                changes=(
                    "Status: Recruiting → Terminated",
                    "Site closed: Sarah Cannon Research Institute, Nashville, United States",
                ),
                matched_by=("lung cancer",),
            ),
        ),
        4,
        "https://clinicaltrials.gov/search?cond=lung%20cancer",
    )
    heart = Section(
        "condition",
        "New studies for coronary artery disease",
        (5,),
        (
            item(
                "NCT03475563",
                changes=(
                    "A site opened near you: Hospital del Mar, Barcelona, Spain, 2.1 km (1.3 mi)",
                ),
                matched_by=("coronary artery disease",),
                site_opened=True,
            ),
        ),
        0,
        "https://clinicaltrials.gov/search?cond=coronary%20artery%20disease",
    )
    followed = Section(
        "study",
        "Updates to studies you follow",
        (8, 9),
        (
            item(
                "NCT06171568",
                changes=(
                    "New site: Hôpital Lariboisière, Paris, France (Recruiting)",
                    "Start date: 2024-01-01 (estimated) → 2024-03-01 (actual)",
                ),
                matched_by=("NCT06171568",),
            ),
            item("NCT02210780", changes=("Results posted",), matched_by=("NCT02210780",)),
        ),
        0,
        None,
    )
    return Digest(
        frequency, (lung, heart, followed), 5, 9, (101, 102, 103, 104, 105, 106), new_count=5
    )


def single_section_digest() -> Digest:
    section = Section(
        "study",
        "Updates to studies you follow",
        (8,),
        (
            item(
                "NCT03475563",
                changes=("Status: Recruiting → Unknown status",),
                matched_by=("NCT03475563",),
            ),
        ),
        0,
        None,
    )
    return Digest("instant", (section,), 1, 1, (7,), new_count=0)


def realistic_contexts() -> dict[str, dict[str, Any]]:
    """One realistic context per email template folder."""
    return {
        "digest": digest_context(SETTINGS, SUBSCRIBER, realistic_digest(), NOW),
        "confirm-subscription": confirm_context(
            SETTINGS,
            signup_id=1001,
            link_key="signup-link-key-000000",
            target="head and neck cancer",
            now=NOW,
        ),
    }


def hostile_contexts() -> dict[str, dict[str, Any]]:
    """Data trying to break out of its place: markup, header breaks, huge and non-Latin text."""
    nasty = "<script>alert(1)</script>\r\nBcc: victim@example.com\n\t" + "Ω中ع" * 50
    section = Section(
        "condition",
        nasty,
        (3,),
        (
            item(
                "NCT04267848", title=nasty * 20, changes=(nasty,), matched_by=(nasty,), is_new=True
            ),
        ),
        7,
        "https://clinicaltrials.gov/search?cond=%3Cx%3E",
    )
    return {
        "digest": digest_context(
            SETTINGS, SUBSCRIBER, Digest("weekly", (section,), 1, 8, (1,), new_count=1), NOW
        ),
        "confirm-subscription": confirm_context(
            SETTINGS, signup_id=1, link_key="signup-link-key-000000", target=nasty, now=NOW
        ),
    }


def email_names() -> list[str]:
    return sorted(
        path.name for path in EMAIL_DIR.iterdir() if path.is_dir() and not path.name.startswith("_")
    )


def template_files() -> list[str]:
    return sorted(
        str(path.relative_to(EMAIL_DIR))
        for path in EMAIL_DIR.rglob("*")
        if path.suffix in (".txt", ".html")
    )


def test_data_folders_are_found_in_the_source_checkout() -> None:
    assert (templates_dir() / "email" / "_base" / "body.html").is_file()
    assert (schema_dir() / "migrations").is_dir()


def test_every_email_folder_has_a_subject_a_text_and_an_html_body() -> None:
    for name in email_names():
        assert {path.name for path in (EMAIL_DIR / name).iterdir()} >= {
            "subject.txt",
            "body.txt",
            "body.html",
        }, name


def test_every_email_has_a_realistic_context_in_this_test() -> None:
    assert set(realistic_contexts()) == set(email_names())


@pytest.mark.parametrize("path", template_files())
def test_every_template_compiles(path: str) -> None:
    assert email_environment().get_template(path) is not None


@pytest.mark.parametrize("name", ["digest", "confirm-subscription"])
def test_every_email_renders_from_a_realistic_context(name: str) -> None:
    rendered = render_email(name, realistic_contexts()[name])
    assert rendered.subject and rendered.text.strip() and rendered.html.strip()
    assert SETTINGS.postal_address in rendered.text
    assert SETTINGS.postal_address in rendered.html


@pytest.mark.parametrize("contexts", [realistic_contexts, hostile_contexts])
def test_every_subject_renders_to_one_line(contexts: Any) -> None:
    for name, context in contexts().items():
        subject = render_email(name, context).subject
        assert subject == " ".join(subject.split()), name
        assert subject.isprintable() and 0 < len(subject) <= 200, name


def test_a_missing_context_value_is_an_error_not_a_blank() -> None:
    context = realistic_contexts()["digest"]
    del context["preferences_url"]
    with pytest.raises(Exception, match="preferences_url"):
        render_email("digest", context)


def test_the_digest_subject_is_the_digest_subject_line() -> None:
    assert render_email("digest", realistic_contexts()["digest"]).subject == subject_line(
        realistic_digest()
    )


def test_the_digest_lists_every_item_with_its_link_title_status_changes_and_matches() -> None:
    rendered = render_email("digest", realistic_contexts()["digest"])
    title, _ = real_study("NCT02576665")
    for body in (rendered.text, rendered.html):
        assert "Here is your daily digest." in body
        assert "New studies for lung cancer" in body
        assert "Updates to studies you follow" in body
        assert "https://clinicaltrials.gov/study/NCT04267848" in body
        assert "Terminated" in body
        assert "Status: Recruiting → Terminated" in body
        assert "Matched: lung cancer, NSCLC" in body
        assert "And 4 more" in body
        assert "https://clinicaltrials.gov/search?cond=lung%20cancer" in body
    assert title in rendered.text
    assert str(escape(title)) in rendered.html


def test_each_study_says_its_phase_who_can_join_and_the_site_near_you() -> None:
    rendered = render_email("digest", realistic_contexts()["digest"])
    for body in (rendered.text, rendered.html):
        assert "Recruiting (looking for participants now)" in body
        assert "Phase 3: does it work better than the usual treatment" in body
        assert "Who can join: aged 18 and over · all sexes · no healthy volunteers" in body
        assert "Nearest site: Mayo Clinic in Rochester, Rochester, United States, 4.2 km" in body
        assert "Observational study: researchers follow people" in body
        assert "New site near you · NCT03475563" in re.sub(r"<[^>]+>", "", body)
        assert "A site opened near you: Hospital del Mar, Barcelona, Spain, 2.1 km (1.3 mi)" in body
        # NCT03475563 was last verified in November 2019; the email is of June 2026.
        assert "Status last verified 79 months ago: it may not be current" in body
        # NCT04267848's status was verified in August 2025: recent enough to say nothing.
        assert body.count("Status last verified") == 3  # NCT03475563, NCT06171568, NCT02210780
    text_item = rendered.text.split("* Testing the Addition", 1)[1].split("\n\n", 1)[0]
    assert text_item.splitlines()[1:5] == [
        "  New · NCT04267848 · Recruiting (looking for participants now)",
        "  https://clinicaltrials.gov/study/NCT04267848",
        "  Phase 3: does it work better than the usual treatment",
        "  Who can join: aged 18 and over · all sexes · no healthy volunteers",
    ]


def test_the_digest_footer_says_why_and_offers_preferences_and_unsubscribe() -> None:
    rendered = render_email("digest", realistic_contexts()["digest"])
    for body in (rendered.text, rendered.html):
        assert "You get this email because you subscribed to clinical trial alerts at" in body
        assert "https://alerts.example.org/preferences/" in body
        assert "https://alerts.example.org/u/all/" in body
        assert "https://alerts.example.org/u/" in body
        assert "Unsubscribe from daily digests" in body


def _links(html: str) -> dict[str, str]:
    return {
        re.sub(r"<[^>]+>", "", text): href
        for href, text in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', html)
    }


def test_a_section_of_one_subscription_links_to_stopping_that_subscription() -> None:
    html = render_email("digest", realistic_contexts()["digest"]).html
    stop = _links(html)["Stop these alerts"]  # the last one: coronary artery disease's
    assert stop.startswith("https://alerts.example.org/u/s/")
    assert read_token(KEYS, "unsubscribe-subscription", stop.rsplit("/", 1)[1]) == {
        "s": 42,
        "sub": 5,
        "k": SUBSCRIBER["link_key"],
    }


def test_a_section_of_several_subscriptions_links_to_the_preferences_page() -> None:
    html = render_email("digest", realistic_contexts()["digest"]).html
    choose = _links(html)["Choose which studies to stop following"]
    assert read_token(KEYS, "preferences", choose.rsplit("/", 1)[1]) == {
        "s": 42,
        "k": SUBSCRIBER["link_key"],
    }


def test_the_follow_section_of_one_study_can_be_stopped_directly() -> None:
    context = digest_context(SETTINGS, SUBSCRIBER, single_section_digest(), NOW)
    rendered = render_email("digest", context)
    stop = _links(rendered.html)["Stop these alerts"]
    assert read_token(KEYS, "unsubscribe-subscription", stop.rsplit("/", 1)[1]) == {
        "s": 42,
        "sub": 8,
        "k": SUBSCRIBER["link_key"],
    }
    assert "Here are your latest alerts." in rendered.text
    assert "Unsubscribe from instant alerts" in rendered.text


@pytest.mark.parametrize(
    ("frequency", "intro", "stream"),
    [
        ("instant", "Here are your latest alerts.", "instant alerts"),
        ("daily", "Here is your daily digest.", "daily digests"),
        ("weekly", "Here is your weekly digest.", "weekly digests"),
        ("monthly", "Here is your monthly digest.", "monthly digests"),
    ],
)
def test_the_wording_follows_the_digest_frequency(frequency: str, intro: str, stream: str) -> None:
    context = digest_context(SETTINGS, SUBSCRIBER, realistic_digest(frequency), NOW)
    text = render_email("digest", context).text
    assert intro in text
    assert f"Unsubscribe from {stream}: " in text
    assert read_token(KEYS, "unsubscribe-stream", context["unsubscribe_url"].rsplit("/", 1)[1]) == {
        "s": 42,
        "f": frequency,
        "k": SUBSCRIBER["link_key"],
    }


def test_the_summary_counts_new_and_updated_studies_and_what_the_cap_left_out() -> None:
    text = render_email("digest", realistic_contexts()["digest"]).text
    assert "5 new studies and 4 updated studies (showing 5 of 9)." in text


def test_the_html_is_a_proper_email_document() -> None:
    html = render_email("digest", realistic_contexts()["digest"]).html
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert re.search(r'<div class="preheader" style="display: none;[^"]*">5 new studies', html)
    tables = re.findall(r"<table [^>]*>", html)
    assert tables and all('role="presentation"' in table for table in tables)
    assert f"<title>{subject_line(realistic_digest())}</title>" in html


def test_the_css_is_inlined_into_style_attributes() -> None:
    html = render_email("digest", realistic_contexts()["digest"]).html
    assert re.search(r'<a class="item-title" href="[^"]+" style="color: #0f4c81;', html)
    assert re.search(r'<li class="change" style="[^"]+">', html)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(styles) == 1 and styles[0].strip().startswith(
        "@media"
    )  # only what cannot be inlined


def test_the_confirmation_email_asks_to_confirm_with_a_working_link() -> None:
    rendered = render_email("confirm-subscription", realistic_contexts()["confirm-subscription"])
    assert rendered.subject == "Confirm your clinical trial alerts"
    button = _links(rendered.html)["Confirm subscription"]
    assert button.startswith("https://alerts.example.org/confirm/")
    assert read_token(KEYS, "confirm", button.rsplit("/", 1)[1], now=NOW) == {
        "p": 1001,
        "k": "signup-link-key-000000",
    }
    for body in (rendered.text, rendered.html):
        assert button in body
        assert "If you did not ask for these alerts, you can ignore this email" in body
        assert "7 days" in body


def test_hostile_data_is_escaped_in_html_and_kept_in_text() -> None:
    rendered = render_email("digest", hostile_contexts()["digest"])
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text
    assert "Ω中ع" in rendered.html and "Ω中ع" in rendered.text


def test_titles_are_cut_to_a_readable_length() -> None:
    rendered = render_email("digest", hostile_contexts()["digest"])
    shown = re.search(r'class="item-title"[^>]*>([^<]*)</a>', rendered.html)
    assert shown is not None and len(shown.group(1)) < 400 and shown.group(1).endswith("…")


def heavy_digest(title_length: int = 300, line_length: int = 180) -> Digest:
    """The cap's worst case: 25 items, 8 long change lines each plus "and N more", long titles,
    every fact line of the longest kind (a long site name, a stale status)."""
    title = ("Randomized Phase III Trial of Stereotactic Body Radiotherapy Versus Surgery " * 10)[
        :title_length
    ]
    lines = tuple(
        ("New site: Fondazione CNAO Centro Nazionale di Adroterapia Oncologica " * 5)[:line_length]
        for _ in range(8)
    )
    site = ("Fondazione CNAO Centro Nazionale di Adroterapia Oncologica " * 5)[:150]
    facts = (
        "Phase 2/3: does it work, and better than the usual treatment",
        "Who can join: aged 6 months to 17 years · female only · healthy volunteers accepted",
        f"Nearest site: {site}, Pavia, Italy, 12 km (7 mi)",
    )
    items = tuple(
        DigestItem(
            f"NCT0{4000000 + n}",
            title,
            "Not yet recruiting",
            f"https://clinicaltrials.gov/study/NCT0{4000000 + n}",
            n % 2 == 0,
            (*lines, "and 12 more site changes"),
            ("lung cancer", "non-small cell lung carcinoma"),
            status_note=status_note("ENROLLING_BY_INVITATION"),
            facts=facts,
            site_opened=n % 2 == 1,
            status_verified="2019-11",
        )
        for n in range(25)
    )
    sections = (
        Section(
            "condition",
            "New studies for lung cancer",
            (3,),
            items[:20],
            40,
            "https://clinicaltrials.gov/search?cond=lung%20cancer",
        ),
        Section("study", "Updates to studies you follow", (8, 9, 10), items[20:], 3, None),
    )
    return Digest("daily", sections, 25, 68, tuple(range(200)), new_count=30)


def test_a_full_digest_stays_under_the_gmail_clipping_size() -> None:
    html = render_email("digest", digest_context(SETTINGS, SUBSCRIBER, heavy_digest(), NOW)).html
    assert len(html.encode("utf-8")) < HTML_BUDGET
    assert SETTINGS.postal_address in html  # the footer is there to be seen


def test_one_line_collapses_every_kind_of_line_break_and_caps_the_length() -> None:
    assert (
        one_line(" a\r\nb\nc\rd\te\x0bf\x0cg\x1ch\x85i\u2028j\u2029k\x00l ")
        == "a b c d e f g h i j k l"
    )
    capped = one_line("word " * 100, 50)
    assert len(capped) == 50 and capped.endswith("…")


# Inlining CSS into a Jinja template once, at load time.

CSS = ".cell { padding: 4px; } a { color: #123456; } .note { color: red; }"


def test_jinja_tags_between_table_rows_stay_in_place() -> None:
    source = (
        '<table role="presentation">\n{% for row in rows %}\n'
        '<tr><td class="cell">{{ row }}</td></tr>\n{% endfor %}\n</table>\n'
    )
    inlined = inline_css(source, CSS)
    assert (
        inlined.index("{% for row in rows %}")
        < inlined.index("<tr>")
        < inlined.index("{% endfor %}")
    )
    assert '<td class="cell" style="padding: 4px;">{{ row }}</td>' in inlined


def test_jinja_tags_in_attribute_values_and_titles_survive() -> None:
    source = (
        '<!DOCTYPE html><html lang="{{ lang }}"><head><title>{{ subject }}</title></head>'
        '<body><a href="{{ url }}?a=1&amp;b={{ b }}">{{ label }}</a></body></html>'
    )
    inlined = inline_css(source, CSS)
    assert '<html lang="{{ lang }}">' in inlined
    assert "<title>{{ subject }}</title>" in inlined
    assert (
        '<a href="{{ url }}?a=1&amp;b={{ b }}" style="color: #123456;">{{ label }}</a>' in inlined
    )


def test_jinja_comparisons_are_not_mistaken_for_markup() -> None:
    source = '<p class="note">{% if count > 1 and a < b %}many{% endif %}</p>'
    assert (
        inline_css(source, CSS)
        == '<p class="note" style="color: red;">{% if count > 1 and a < b %}many{% endif %}</p>'
    )


def test_an_inlined_template_renders_like_the_original_plus_styles() -> None:
    environment = Environment(autoescape=True)
    source = (
        '<table role="presentation">{% for row in rows %}'
        '<tr><td class="cell">{{ row }}</td></tr>{% endfor %}</table>'
    )
    html = environment.from_string(inline_css(source, CSS)).render(rows=["<b>", "2"])
    assert html.count('style="padding: 4px;"') == 2
    assert "&lt;b&gt;" in html


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("<td {{ attributes }}>x</td>", "quoted attribute values"),
        (
            "<table>{% if x %}<tr><td>a</td></tr>{% endif %} loose text </table>",
            "element structure",
        ),
        (
            "<table><tr><td>{% if x %}<b>{% else %}</td><td>{% endif %}</td></tr></table>",
            "element structure",
        ),
        ("<p>unclosed <div>block</div></p>", "element structure"),
    ],
)
def test_templates_the_html_parser_would_rearrange_are_refused(source: str, problem: str) -> None:
    with pytest.raises(TemplateLayoutError, match=problem):
        inline_css(source, CSS, name="broken.html")


def test_the_shipped_html_templates_keep_their_jinja_tags_through_inlining() -> None:
    environment = email_environment()
    for path in template_files():
        if path.endswith(".html"):
            original = (EMAIL_DIR / path).read_text(encoding="utf-8")
            loaded, _, _ = environment.loader.get_source(environment, path)  # type: ignore[union-attr]
            assert re.findall(r"\{[{%#].*?[}%#]\}", loaded, re.S) == re.findall(
                r"\{[{%#].*?[}%#]\}", original, re.S
            )
