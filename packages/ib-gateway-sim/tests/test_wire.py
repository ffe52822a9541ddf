"""Framing, field formatting, message layouts and scenario parsing (no network)."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pytest
from ib_gateway_sim import Scenario, SimFill, SimOrder
from ib_gateway_sim import messages as m
from ib_gateway_sim.wire import FrameDecoder, fmt, frame, parse_client_versions


def _fields(payload: bytes) -> list[str]:
    (length,) = struct.unpack(">I", payload[:4])
    assert length == len(payload) - 4
    text = payload[4:].decode()
    assert text.endswith("\0")
    return text.split("\0")[:-1]


def _order() -> SimOrder:
    return SimOrder(
        order_id=7,
        perm_id=1_000_000_123,
        client_id=3,
        account="DU1",
        symbol="SPY",
        con_id=756733,
        exchange="SMART",
        action="BUY",
        quantity=Decimal("10"),
        order_type="LMT",
        limit_price=Decimal("589.10"),
        tif="DAY",
        order_ref="run-1",
        created_at=dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC),
        status="Filled",
        filled=Decimal("10"),
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "1"),
        (False, "0"),
        (178, "178"),
        (Decimal("589.10"), "589.10"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.00001"), "0.00001"),
        (Decimal("-0"), "0"),
        ("text", "text"),
    ],
)
def test_fmt_writes_plain_fields_without_float_artefacts(value: object, text: str) -> None:
    assert fmt(value) == text  # type: ignore[arg-type]


def test_frame_terminates_every_field_including_the_last() -> None:
    assert frame([9, 1, 5]) == b"\x00\x00\x00\x069\x001\x005\x00"


def test_frame_decoder_handles_prefix_and_split_segments() -> None:
    decoder = FrameDecoder()
    data = b"API\0" + frame(["v157..178"]) + frame([71, 2, 1, ""])

    first = decoder.feed(data[:6])
    rest = decoder.feed(data[6:])

    assert first == []
    assert rest == [["v157..178"], ["71", "2", "1", ""]]


def test_frame_decoder_rejects_clients_without_api_prefix() -> None:
    with pytest.raises(ValueError, match="API prefix"):
        FrameDecoder().feed(b"GET / HTTP/1.1\r\n")


def test_client_versions_parse_with_connect_options() -> None:
    assert parse_client_versions("v157..178 +PACEAPI") == (157, 178)
    assert parse_client_versions("v176") == (176, 176)


@pytest.mark.parametrize(
    ("payload", "count"),
    [
        (m.open_order(_order(), "USD"), 127),
        (m.completed_order(_order(), "USD"), 96),
        (m.order_status(_order()), 12),
        (m.position("DU1", 1, "SPY", "SMART", "USD", Decimal(1), Decimal(2)), 16),
        (m.tick_price(1, 1, Decimal("1.5"), 100, 1), 7),
        (m.error(1, 202, "Order Canceled - reason:"), 6),
        (m.managed_accounts(["DU1", "DU2"]), 3),
        (m.next_valid_id(1), 3),
    ],
)
def test_messages_have_the_field_counts_ib_async_unpacks(payload: bytes, count: int) -> None:
    assert len(_fields(payload)) == count


def test_exec_details_and_commission_report_layouts() -> None:
    order = _order()
    fill = SimFill(
        exec_id="abc.01",
        time=dt.datetime(2026, 11, 23, 15, 0, 1, tzinfo=dt.UTC),
        quantity=Decimal(10),
        price=Decimal("589.12"),
        commission=Decimal("1.00"),
        realized_pnl=None,
        cum_qty=Decimal(10),
        avg_price=Decimal("589.12"),
    )

    execution = _fields(m.exec_details(-1, order, fill, "USD", "ARCA"))
    report = _fields(m.commission_report(fill, "USD"))

    assert len(execution) == 32
    assert execution[14:16] == ["abc.01", "20261123 15:00:01 UTC"]
    assert execution[21:23] == ["1000000123", "3"]
    assert execution[26] == "run-1"
    assert report == ["59", "1", "abc.01", "1.00", "USD", "", "", ""]


def test_portfolio_value_has_twenty_fields_and_numeric_values() -> None:
    fields = _fields(
        m.portfolio_value(
            con_id=1,
            symbol="SPY",
            primary_exchange="ARCA",
            currency="USD",
            qty=Decimal(0),
            market_price=Decimal("589.11"),
            avg_cost=Decimal(0),
            realized=Decimal(0),
            account="DU1",
        )
    )

    assert len(fields) == 20
    assert all(fields[i] != "" for i in range(13, 19))


def test_scenario_reads_yaml_numbers_as_exact_decimals() -> None:
    scenario = Scenario.from_yaml_text(
        "accounts: {DU1: {cash: 100000.10, positions: {X: {quantity: 3, avg_cost: 0.1}}}}\n"
        "symbols: {X: {con_id: 5, bid: 0.1, ask: 0.30}}\n"
    )

    assert scenario.accounts["DU1"].cash == Decimal("100000.10")
    assert scenario.accounts["DU1"].positions["X"].avg_cost == Decimal("0.1")
    assert scenario.symbols["X"].ask == Decimal("0.30")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts: {}", "at least one account"),
        ("accounts: {DU1: {cash: 1, positions: {X: {quantity: 1}}}}", "not in symbols"),
        (
            "accounts: {DU1: {cash: 1}}\nsymbols: {A: {con_id: 1}, B: {con_id: 1}}",
            "distinct con_id",
        ),
        ("accounts: {DU1: {cash: 1, colour: red}}", "colour"),
        ("- just a list", "mapping"),
        ("accounts: {DU1: {cash: 1}}\nsymbols: {A: {con_id: 1, long_name: 'a\\\\b'}}", "ASCII"),
    ],
)
def test_invalid_scenarios_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scenario.from_yaml_text(text)


def test_builtin_example_has_two_accounts_and_fifteen_etfs() -> None:
    scenario = Scenario.load("example")

    assert list(scenario.accounts) == ["DUM959247", "DU789012"]
    assert scenario.accounts["DU789012"].cash == Decimal("50000.00")
    assert len(scenario.symbols) == 15
    assert all(s.bid is not None and s.ask is not None for s in scenario.symbols.values())
    assert all(s.bid < s.ask for s in scenario.symbols.values() if s.bid and s.ask)
