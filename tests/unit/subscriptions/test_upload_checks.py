"""What an upload must be before it is kept: a known type, UTF-8 text, a readable header."""

from __future__ import annotations

import codecs
import gzip

import pytest

from worker.subscriptions.uploads import UploadRefused, accept_upload, line_count

CSV = "email,kind,condition\nada@example.org,condition,asthma\n"


def test_a_good_file_comes_back_as_its_format_and_text() -> None:
    assert accept_upload(CSV.encode(), "list.CSV") == ("csv", CSV)
    jsonl = '{"email": "ada@example.org", "kind": "condition", "condition": "asthma"}\n'
    assert accept_upload(jsonl.encode(), "list.ndjson") == ("jsonl", jsonl)
    bom = codecs.BOM_UTF8 + CSV.encode()
    assert accept_upload(bom, "excel.csv")[0] == "csv"
    crlf = CSV.replace("\n", "\r\n")
    assert accept_upload(crlf.encode(), "windows.csv") == ("csv", crlf)
    # Excel's "CSV (Macintosh)": lines end with CR only.
    assert accept_upload(CSV.replace("\n", "\r").encode(), "mac.csv") == ("csv", CSV)


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (CSV.encode(), "list.xlsx", "not a .csv, .jsonl or .ndjson file"),
        (b"  \n\n", "list.csv", "The file is empty"),
        (codecs.BOM_UTF16_LE + CSV.encode("utf-16-le"), "list.csv", "UTF-16"),
        (CSV.encode("utf-16-le"), "list.csv", "NUL characters"),
        # Binary files are not text, not "perhaps Windows-1252" text.
        (gzip.compress(CSV.encode() * 50, mtime=0), "list.csv", "not a text file"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + bytes(range(256)), "list.csv", "not a text file"),
        (b"email,kind,frequncy\n", "list.csv", "unknown column(s) 'frequncy'"),
        (b"kind\ncondition\n", "list.csv", "missing required column(s) email"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_saying_why(
    data: bytes, name: str, words: str
) -> None:
    with pytest.raises(UploadRefused) as refused:
        accept_upload(data, name)
    assert words in str(refused.value)


def test_latin1_names_the_lines_that_are_not_utf8_and_how_to_fix_it() -> None:
    lines = ["email,kind,condition", "ada@example.org,condition,asthma"]
    lines += [f"p{n}@example.org,condition,Ménière disease" for n in range(12)]
    data = "\n".join(lines).encode("latin-1")

    with pytest.raises(UploadRefused) as refused:
        accept_upload(data, "zurich.csv")

    message = str(refused.value)
    assert "lines 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 2 more" in message
    assert "not UTF-8" in message and "CSV UTF-8" in message
    assert "Nothing was imported" in message


def test_lines_are_counted_with_or_without_a_last_newline() -> None:
    assert line_count("") == 0
    assert line_count("a\nb\n") == 2
    assert line_count("a\nb") == 2
