"""What leaves the service for people: downloads a spreadsheet opens as data, JSON a page cannot
misread as markup, and log lines a file name cannot forge."""

from __future__ import annotations

import io
import json
import logging

import pytest

from airflow_provider_typecheck.api.downloads import formula_safe_csv, neutralise_cell
from airflow_provider_typecheck.api.report_page import json_for_html
from airflow_provider_typecheck.logs import escape_control, install_control_escaping


@pytest.mark.parametrize(
    ("cell", "served"),
    [
        ("=1+1", "'=1+1"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
        ("-5", "-5"), ("+1.5e3", "+1.5e3"), ("-.5", "-.5"), ("plain", "plain"), ("", ""), ("a=b", "a=b"),
    ],
)
def test_formula_leading_cells_are_neutralised_and_numbers_kept(cell: str, served: str) -> None:
    assert neutralise_cell(cell) == served


def test_the_download_keeps_rows_and_quotes_whatever_a_cell_holds() -> None:
    stored = b'_row,note\n2,"=HYPERLINK(""http://x"")"\n3,"\rCR"\n4,"two\nlines"\n5,-7\n'
    served = b"".join(formula_safe_csv(io.BytesIO(stored)))
    assert served == b'_row,note\r\n2,"\'=HYPERLINK(""http://x"")"\r\n3,"\'\rCR"\r\n4,"two\nlines"\r\n5,-7\r\n'


def test_json_in_html_has_no_markup_and_reads_back() -> None:
    value = [{"column": "<!--<script></script>&amp;", "keyword": "type"}]
    text = json_for_html(value)
    assert not {"<", ">", "&"} & set(text)
    assert json.loads(text) == value


def test_control_characters_are_escaped_visibly() -> None:
    assert escape_control("plain name.csv") == "plain name.csv"
    assert escape_control("a\x00b\x1b[31mc\nd\u202ee\x7f") == "a\\x00b\\x1b[31mc\\nd\\u202ee\\x7f"


def test_log_arguments_are_escaped_once_installed(caplog: pytest.LogCaptureFixture) -> None:
    install_control_escaping()
    install_control_escaping()  # idempotent: escaping twice would double the backslashes
    with caplog.at_level(logging.INFO):
        logging.getLogger("typecheck.test").info("validating %s (%d rows): %s", "x\x1b[2J\ny.csv", 3,
                                                 ValueError("bad\x00"))
    assert caplog.records[-1].getMessage() == "validating x\\x1b[2J\\ny.csv (3 rows): bad\\x00"
