"""One address rule for imports and suppressions, as admins meet it on the command line.

Mail can go only to ASCII addresses here: an internationalized domain is
stored in its IDNA form (so `Ada@Bücher.de` and `ada@xn--bcher-kva.de` are one
subscriber), a mailbox name with letters outside ASCII is refused at the
door with a reason instead of failing at send time.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.cli.test_subscribers import HEADER, trialalerts, write

IDN = "ada@xn--bcher-kva.de"


def test_import_stores_idn_domains_in_ascii_and_refuses_non_ascii_mailboxes(
    tmp_path: Path,
) -> None:
    rows = [
        "Ada@Bücher.de,condition,melanoma,,,,,,",
        f"{IDN},condition,melanoma,,,,,,",
        "ädä@example.org,condition,melanoma,,,,,,",
    ]
    path = write(tmp_path / "in.csv", "\n".join([HEADER, *rows]) + "\n")
    imported = trialalerts("subscribers", "import", str(path), cwd=tmp_path)
    assert imported.returncode == 1
    assert imported.stdout.strip() == "1 created, 0 updated, 1 unchanged, 1 rejected"
    [rejection] = imported.stderr.splitlines()
    assert rejection.startswith("line 4: email 'ädä@example.org': letters outside ASCII")
    listed = trialalerts("subscribers", "list", cwd=tmp_path)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [IDN]
    found = trialalerts("subscribers", "list", "--email", "ADA@bücher.DE", cwd=tmp_path)
    assert found.stdout.startswith(IDN)


def test_suppressions_follow_the_same_address_rule(tmp_path: Path) -> None:
    added = trialalerts("suppressions", "add", "Ada@Bücher.de", cwd=tmp_path)
    assert added.returncode == 0 and added.stdout.strip() == f"suppressed {IDN}"
    again = trialalerts("suppressions", "add", IDN, cwd=tmp_path)
    assert again.stdout.strip() == f"{IDN} was already suppressed"
    refused = trialalerts("suppressions", "add", "ädä@example.org", cwd=tmp_path)
    assert refused.returncode == 2 and "letters outside ASCII" in refused.stderr
    assert trialalerts("suppressions", "list", cwd=tmp_path).stdout.startswith(IDN + "\t")
