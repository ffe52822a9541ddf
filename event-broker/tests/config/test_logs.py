"""Log configuration: secret redaction and the worker line protocol."""

from __future__ import annotations

import logging

import pytest
from app.config.logs import RedactingFilter, parse_worker_line
from pydantic import SecretStr


@pytest.mark.parametrize(
    "logged",
    [
        "key app.key:s3cr3t/x+y used",
        "GET /?key=app.key%3As3cr3t%2Fx%2By&v=5",
        "form key=app.key%3As3cr3t%2Fx%2By",
    ],
)
def test_redacting_filter_hides_plain_and_url_encoded_secret(logged: str) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%s", (logged,), None)

    RedactingFilter([SecretStr("app.key:s3cr3t/x+y"), None]).filter(record)

    assert "s3cr3t" not in record.getMessage()
    assert "**********" in record.getMessage()


def test_redacting_filter_leaves_other_records_untouched() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "value %d", (5,), None)

    RedactingFilter([SecretStr("app.key:s3cr3t")]).filter(record)

    assert (record.msg, record.args) == ("value %d", (5,))


def test_parse_worker_line_unprefixed_line_after_info_is_warning() -> None:
    assert parse_worker_line("Traceback (most recent call last):", logging.INFO) == (
        logging.WARNING,
        "Traceback (most recent call last):",
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("WARNING|account=A run=R x: careful", (logging.WARNING, "account=A run=R x: careful")),
        (
            "Traceback (most recent call last):",
            (logging.ERROR, "Traceback (most recent call last):"),
        ),
        ("NOTALEVEL|text", (logging.ERROR, "NOTALEVEL|text")),
    ],
)
def test_parse_worker_line_keeps_previous_level_for_continuations(
    line: str, expected: tuple[int, str]
) -> None:
    assert parse_worker_line(line, logging.ERROR) == expected
