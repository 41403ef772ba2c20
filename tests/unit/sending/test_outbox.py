"""The file outbox: one .eml per delivery, whole or absent, and what hostile study data becomes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest

from worker.core.config import Settings
from worker.digests.digest import Digest, DigestItem, Section
from worker.digests.mime import digest_message
from worker.sending.outbox import FileOutbox, Sender

SETTINGS = Settings(
    secret_keys=("new-key-0123456789abcdef",),
    base_url="https://alerts.example.org",
    mail_from="Trialalerts <alerts@mail.example.org>",
    postal_address="Trialalerts, 1 Example Street, 00000 Example City",
)
NOW = datetime(2026, 6, 27, 8, 0, tzinfo=UTC)
SUBSCRIBER = {"id": 42, "email": "ada@example.com", "link_key": "ada-link-key-000000000"}
TITLES = {
    "greek": "Μελέτη της ανοσοθεραπείας στον καρκίνο του πνεύμονα",
    "chinese": "免疫治疗联合化疗治疗非小细胞肺癌的研究",
    "arabic": "دراسة العلاج المناعي لسرطان الرئة",
}


def _digest(*titles: str) -> Digest:
    items = tuple(
        DigestItem(
            nct_id=f"NCT0{4267848 + n}",
            title=title,
            status="Recruiting",
            url=f"https://clinicaltrials.gov/study/NCT0{4267848 + n}",
            is_new=True,
            changes=(f"New site: {title}, Rozzano, Italy (Recruiting)",),
            matched_by=("lung cancer",),
        )
        for n, title in enumerate(titles)
    )
    section = Section("condition", "New studies for lung cancer", (3,), items, 0, None)
    return Digest("daily", (section,), len(items), len(items), (1,), new_count=len(items))


def _send(outbox: FileOutbox, digest: Digest, delivery_id: int = 1) -> EmailMessage:
    raw = digest_message(
        SETTINGS, SUBSCRIBER, digest, NOW, f"<digest-{delivery_id}@mail.example.org>"
    )
    name = outbox.send(
        to_addr="ada@example.com",
        raw=raw,
        delivery_id=delivery_id,
        tags={"delivery": str(delivery_id)},
    )
    message = BytesParser(policy=default).parsebytes((outbox.directory / name).read_bytes())
    assert isinstance(message, EmailMessage)
    return message


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.iter_parts()
    return text.get_content(), html.get_content()


def _header_text(message: EmailMessage) -> str:
    return "\n".join(f"{name}: {value}" for name, value in message.items())


@pytest.fixture
def outbox(tmp_path: Path) -> FileOutbox:
    return FileOutbox(tmp_path / "outbox")


def test_a_file_outbox_is_a_sender() -> None:
    sender: Sender = FileOutbox(Path("unused"))
    assert callable(sender.send)


def test_the_outbox_folder_comes_from_the_settings() -> None:
    assert FileOutbox.from_settings(SETTINGS).directory == SETTINGS.outbox


def test_sending_writes_one_eml_named_after_the_delivery_and_returns_its_name(
    outbox: FileOutbox,
) -> None:
    name = outbox.send(
        to_addr="ada@example.com", raw=b"Subject: hi\r\n\r\nbody\r\n", delivery_id=17, tags={}
    )
    assert name == "delivery-000000000017.eml"
    assert [path.name for path in outbox.directory.iterdir()] == [name]
    assert (outbox.directory / name).read_bytes() == b"Subject: hi\r\n\r\nbody\r\n"


def test_the_outbox_folder_is_created_when_missing(tmp_path: Path) -> None:
    outbox = FileOutbox(tmp_path / "deep" / "outbox")
    outbox.send(to_addr="ada@example.com", raw=b"x", delivery_id=1, tags={})
    assert (tmp_path / "deep" / "outbox" / "delivery-000000000001.eml").is_file()


def test_sending_a_delivery_again_rewrites_the_same_file(outbox: FileOutbox) -> None:
    first = outbox.send(to_addr="ada@example.com", raw=b"first", delivery_id=5, tags={})
    second = outbox.send(to_addr="ada@example.com", raw=b"second", delivery_id=5, tags={})
    assert first == second
    assert [path.read_bytes() for path in outbox.directory.iterdir()] == [b"second"]


def test_different_deliveries_get_different_files(outbox: FileOutbox) -> None:
    names = {
        outbox.send(to_addr="ada@example.com", raw=b"x", delivery_id=n, tags={}) for n in range(3)
    }
    assert len(names) == 3


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary_one(
    outbox: FileOutbox,
) -> None:
    with pytest.raises(TypeError):
        outbox.send(to_addr="ada@example.com", raw="not bytes", delivery_id=9, tags={})  # type: ignore[arg-type]
    assert list(outbox.directory.iterdir()) == []


def test_a_sent_digest_parses_back_with_its_headers_and_both_parts(outbox: FileOutbox) -> None:
    message = _send(outbox, _digest("Testing Immunotherapy for Non-small Cell Lung Cancer"))
    assert message["To"] == "ada@example.com"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<https://alerts.example.org/u/")
    text, html = _bodies(message)
    assert "Testing Immunotherapy for Non-small Cell Lung Cancer" in text
    assert "Testing Immunotherapy for Non-small Cell Lung Cancer" in html


def test_a_script_in_a_title_is_escaped_in_the_html(outbox: FileOutbox) -> None:
    text, html = _bodies(
        _send(outbox, _digest('<script>alert("x")</script><img src=x onerror=alert(1)>'))
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert '<script>alert("x")</script>' in text


def test_line_breaks_in_a_title_never_reach_a_header(outbox: FileOutbox) -> None:
    title = "Lung cancer\r\nBcc: victim@example.com\r\n\r\nX-Injected: yes\nSubject: free money"
    message = _send(outbox, _digest(title))
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert len(message.get_all("Subject") or []) == 1
    assert "victim" not in _header_text(message)
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]


def test_a_five_thousand_character_title_is_cut_and_the_message_stays_well_formed(
    outbox: FileOutbox,
) -> None:
    message = _send(outbox, _digest("Immunotherapy " * 358))  # 5,012 characters
    raw = (outbox.directory / "delivery-000000000001.eml").read_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    text, html = _bodies(message)
    shown = re.search(r'class="item-title"[^>]*>([^<]*)</a>', html)
    assert shown is not None and len(shown.group(1)) <= 300
    assert "Immunotherapy Immunotherapy" in text
    assert SETTINGS.postal_address in html


@pytest.mark.parametrize("script", sorted(TITLES))
def test_non_latin_titles_are_readable_in_both_parts(outbox: FileOutbox, script: str) -> None:
    text, html = _bodies(_send(outbox, _digest(TITLES[script])))
    assert TITLES[script] in text
    assert TITLES[script] in html


def test_the_subject_is_one_line_whatever_the_titles(outbox: FileOutbox) -> None:
    message = _send(outbox, _digest(*TITLES.values(), "multi\nline\rtitle\u2028here"))
    subject = message["Subject"]
    assert subject == " ".join(subject.split())
    assert subject == "4 new studies for your clinical trial alerts"
