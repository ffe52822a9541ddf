"""Order types at config load: an account whose broker lacks its ``order_type`` is not served
(before any run); the daemon's table of what each connector sends equals the connectors' own
declarations."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from alpaca_connector import AlpacaClient
from app.config.files import load_accounts_file
from app.trading.order_types import BROKER_ORDER_TYPES
from ibkr_connector import IBKRClient


def test_table_equals_each_connectors_declared_order_types() -> None:
    assert {
        "ibkr": IBKRClient.supported_order_types,
        "alpaca": AlpacaClient.supported_order_types,
    } == BROKER_ORDER_TYPES


def _write(tmp_path: Path, entries: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts:\n" + entries)
    return path


def test_order_type_the_broker_lacks_is_not_served_and_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  - {account_id: DU1, type: paper, strategy_name: s1, order_type: adaptive,\n"
        "     order_options: {adaptive_priority: Patient}}\n"
        "  - {account_id: PA2, type: paper, strategy_name: s1, broker: alpaca,\n"
        "     order_type: adaptive}\n"
        "  - {account_id: PA3, type: paper, strategy_name: s1, broker: alpaca, order_type: moc}\n",
    )

    loaded = load_accounts_file(path, replacement_sets=None)

    assert [(a.account_id, a.order_type) for a in loaded.accounts] == [
        ("DU1", "adaptive"),
        ("PA3", "moc"),
    ]
    assert [e.problems for e in loaded.invalid] == [
        (
            "accounts[1].order_type: 'adaptive' is not supported by broker 'alpaca' (it "
            "supports: limit, market, moc) (account PA2)",
        )
    ]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ("{limit_offset_bps: '5'}", "limit_offset_bps"),
        ("{limit_timeout_secs: 0}", "limit_timeout_secs"),
        ("{adaptive_priority: Urgent}", "do not apply to order_type 'limit'"),
    ],
)
def test_bad_order_options_are_not_served_and_named(
    tmp_path: Path, options: str, problem: str
) -> None:
    path = _write(
        tmp_path,
        "  - {account_id: DU1, type: paper, strategy_name: s1}\n"
        f"  - {{account_id: DU2, type: paper, strategy_name: s1, order_type: limit,\n"
        f"     order_options: {options}}}\n",
    )

    loaded = load_accounts_file(path, replacement_sets=None)

    assert [a.account_id for a in loaded.accounts] == ["DU1"]
    [invalid] = loaded.invalid
    assert invalid.account_id == "DU2"
    assert problem in " ".join(invalid.problems)


def test_limit_options_load_exactly_from_yaml(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  - {account_id: DU1, type: paper, strategy_name: s1, order_type: limit,\n"
        "     order_options: {limit_offset_bps: 2.5, limit_timeout_secs: 20, limit_reprices: 2,\n"
        "                     limit_fallback: cancel}}\n",
    )

    [account] = load_accounts_file(path, replacement_sets=None).accounts

    options = account.order_options
    assert (options.limit_offset_bps, options.limit_timeout_secs) == (Decimal("2.5"), 20.0)
    assert (options.limit_reprices, options.limit_fallback) == (2, "cancel")
