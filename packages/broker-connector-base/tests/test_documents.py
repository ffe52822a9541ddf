"""The strict document gates: size, UTF-8, JSON, YAML, and one error format for models."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import pytest
from broker_connector_base import AccountConfig, InvalidInputError
from broker_connector_base.documents import (
    decode_utf8,
    parse_json,
    parse_yaml,
    read_text_file,
    validate_document,
)
from pydantic import BaseModel, ConfigDict, Field


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: Annotated[Decimal, Field(ge=0, le=1)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int = 0
    live: bool = False
    items: Annotated[list[_Inner], Field(max_length=2)] = []


def _problem(data: object, **kwargs: object) -> str:
    with pytest.raises(InvalidInputError) as caught:
        validate_document(_Doc, data, document="test document", source="src.json")
    assert caught.value.source == "src.json"
    return str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "count": "3"}, "count: '3' is text, not a whole number"),
        ({"name": "x", "live": "true"}, "live: 'true' is text, not true or false"),
        ({"name": 12}, "name: 12 is a number; write it in quotes"),
        ({"name": "x", "items": [{"weight": "0.5"}]}, "items[0].weight: '0.5' is text, not a n"),
        ({"name": "x", "items": [{"weight": Decimal(2)}]}, "items[0].weight: 2 is not within 0..1"),
        ({"name": "x", "cuont": 1}, "cuont: is not a known field (known: name, count, live, i"),
        ({"name": "x", "cuont": 1}, "did you mean 'count'?"),
        ({}, "name: is required"),
        ([], "a list is not a mapping"),
        ({"name": "x", "items": [{"weight": Decimal(0)}] * 3}, "items: has 3 entries, more than"),
    ],
)
def test_validate_document_names_document_field_and_value(data: object, message: str) -> None:
    text = _problem(data)
    assert text.startswith("src.json: test document: ")
    assert message in text


def test_validate_document_reports_every_problem_one_per_line() -> None:
    text = _problem({"name": 1, "count": "x", "live": 2})
    assert "test document: 3 problems:\n  name: 1 is a number" in text
    assert "\n  count: 'x' is text" in text
    assert "\n  live: 2 is not true or false" in text


def test_validate_document_never_shows_a_secret_field_value() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_document(
            _Doc, {"name": 99887766}, document="d", source="s", secret_fields={"name"}
        )
    assert "99887766" not in str(caught.value)
    assert "name: the value is a number" in str(caught.value)


def test_validate_document_account_config_strict_refuses_text_numbers() -> None:
    entry = {"account_id": "DU1", "type": "paper", "strategy_name": "s"}
    assert validate_document(AccountConfig, entry, document="d", source="s").account_id == "DU1"
    with pytest.raises(InvalidInputError, match=r"cash_reserve_percent: '5' is text, not a num"):
        validate_document(
            AccountConfig, {**entry, "cash_reserve_percent": "5"}, document="d", source="s"
        )


def test_decode_utf8_names_offset_of_first_bad_byte_and_drops_bom() -> None:
    assert decode_utf8(b"\xef\xbb\xbfok", document="d", source="s") == "ok"
    with pytest.raises(InvalidInputError, match=r"^s: d is not UTF-8 text: byte 0xe9 at offset 2"):
        decode_utf8(b"ab\xe9", document="d", source="s")


def test_decode_utf8_refuses_over_limit() -> None:
    with pytest.raises(InvalidInputError, match="d is 11 bytes, more than the limit of 10"):
        decode_utf8(b"x" * 11, document="d", source="s", max_bytes=10)


def test_read_text_file_directory_missing_and_large_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="d is a directory, not a file"):
        read_text_file(tmp_path, document="d")
    with pytest.raises(InvalidInputError, match=r"d not found \(looked at"):
        read_text_file(tmp_path / "absent", document="d")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(InvalidInputError) as caught:
        read_text_file(big, document="d", max_bytes=100)
    assert caught.value.source == str(big)
    assert "101 bytes, more than the limit of 100" in str(caught.value)


def test_parse_json_keeps_numbers_exact() -> None:
    assert parse_json('{"a": 0.1, "b": 3}', document="d", source="s") == {
        "a": Decimal("0.1"),
        "b": 3,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "d is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        ('{"a": 1, "a": 2}', "key 'a' appears more than once"),
        ('{"a": NaN}', "NaN is not a number"),
        ('{"a": -Infinity}', "-Infinity is not a number"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_parse_json_refusals_name_source(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_json(text, document="d", source="s")
    assert message in str(caught.value)
    assert caught.value.source == "s"


def test_parse_yaml_reads_floats_as_exact_decimals_and_merges_keys() -> None:
    text = "base: &b {x: 0.1}\nother:\n  <<: *b\n  y: 1_000.5\n"
    assert parse_yaml(text, document="d", source="s") == {
        "base": {"x": Decimal("0.1")},
        "other": {"x": Decimal("0.1"), "y": Decimal("1000.5")},
    }


def test_parse_yaml_billion_laughs_refused_before_expansion() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(InvalidInputError, match="expands to more than 100000 values"):
        parse_yaml("\n".join(lines), document="d", source="s")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a' at line 2, column 1"),
        ("a: [\n", "d is not valid YAML"),
        ("a: 1\n---\nb: 2\n", "d is not valid YAML: but found another document at line 2"),
        ("\x1f", "d is not valid YAML: unacceptable character #x001f"),
    ],
)
def test_parse_yaml_refusals_name_line_and_source(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_yaml(text, document="d", source="s")
    assert message in str(caught.value)
    assert caught.value.source == "s"


def test_parse_yaml_infinity_is_kept_for_the_model_to_refuse() -> None:
    assert parse_yaml("a: .inf", document="d", source="s") == {"a": float("inf")}
