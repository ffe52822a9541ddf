"""Price files and allocation histories: what is read, and every refusal names file and line."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from broker_connector_base import AccountConfig, InvalidInputError
from rebalance_backtest import load_allocations, load_prices
from rebalance_backtest.results import BacktestSettings
from rebalance_backtest.runner import run_backtest


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_long_prices_keep_opens_and_closes_exact(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "p.csv",
        "date,symbol,open,high,low,close,volume",
        "2024-01-08,spy,470.1,471.5,469.0,471.25,100",
        "2024-01-09,SPY,471.0,472.0,470.0,470.55,120",
    )
    prices = load_prices(path)
    assert prices.symbols == ("SPY",)
    assert prices.closes["SPY"][date(2024, 1, 8)] == Decimal("471.25")
    assert prices.opens["SPY"][date(2024, 1, 9)] == Decimal("471.0")
    assert prices.has_opens


def test_wide_gzip_prices_of_the_real_etfs_load_every_session(factors_file: Path) -> None:
    prices = load_prices(factors_file)
    assert prices.symbols == ("MTUM", "QUAL", "SIZE", "USMV", "VLUE")
    assert len(prices.dates) == 2264
    assert prices.closes["MTUM"][date(2014, 1, 2)] == Decimal("52.704")
    assert not prices.has_opens


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["date,SPY", "2024-01-08,0"], "line 2: SPY 0 is not a positive price"),
        (["date,SPY", "2024-01-08,abc"], "line 2: SPY 'abc' is not a number"),
        (["date,SPY", "2024-01-06,1"], "line 2: 2024-01-06 is not an NYSE session (Saturday)"),
        (["date,SPY", "2024-01-15,1"], "line 2: 2024-01-15 is not an NYSE session (an NYSE"),
        (["date,SPY", "2024-01-08,1", "2024-01-08,2"], "line 3: 2024-01-08 appears again"),
        (
            ["date,SPY", "2024-01-08,1", "2024-01-10,1"],
            "SPY has no price on 2024-01-09, an NYSE session between 2024-01-08 (line 2) "
            "and 2024-01-10 (line 3)",
        ),
        (["date,S$Y", "2024-01-08,1"], "line 1: symbol 'S$Y' is not a ticker"),
        (
            ["date,symbol,open,high,low,close", "2024-01-08,SPY,2,1.5,1,1.2"],
            "line 2: SPY low 1, open 2, close 1.2, high 1.5",
        ),
        (["price,SPY", "2024-01-08,1"], "line 1: header 'price,SPY' is neither"),
    ],
)
def test_bad_price_file_is_refused_naming_file_and_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = _write(tmp_path / "bad.csv", *lines)
    with pytest.raises(InvalidInputError) as caught:
        load_prices(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def _document(strategy: str, weights: dict[str, str]) -> str:
    items = ", ".join(f'{{"symbol": "{s}", "allocation": {w}}}' for s, w in weights.items())
    return (
        f'{{"status": "success", "data": {{"name": "{strategy}", "strategy_long_name": "x", '
        f'"last_rebalance_on": "2024-01-08", "allocations": [{items}]}}}}'
    )


def test_directory_of_api_documents_is_a_history_by_date(tmp_path: Path) -> None:
    folder = tmp_path / "alloc" / "growth"
    folder.mkdir(parents=True)
    (folder / "2024-02-01.json").write_text(_document("growth", {"SPY": "1"}))
    (folder / "2024-01-08.json").write_text(_document("growth", {"SPY": "0.5", "AGG": "0.5"}))
    history = load_allocations(tmp_path / "alloc", "growth")
    assert history.days == (date(2024, 1, 8), date(2024, 2, 1))
    assert history.symbols == {"SPY", "AGG"}
    latest = history.latest(date(2024, 1, 31))
    assert latest is not None
    assert latest.day == date(2024, 1, 8)
    assert history.latest(date(2024, 2, 1), inclusive=False) is latest
    assert history.latest(date(2024, 1, 5)) is None


def test_document_with_bad_weights_is_refused_naming_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "growth"
    folder.mkdir()
    bad = folder / "2024-01-08.json"
    bad.write_text(json.dumps(json.loads(_document("growth", {"SPY": "0.5"}))))
    with pytest.raises(InvalidInputError, match=r"sum to 0\.5") as caught:
        load_allocations(folder, "growth")
    assert str(bad) in str(caught.value)


def test_misnamed_document_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jan.json").write_text(_document("growth", {"SPY": "1"}))
    with pytest.raises(InvalidInputError, match=r"YYYY-MM-DD\.json"):
        load_allocations(tmp_path, "growth")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["day,symbol,weight"], "line 1: the header must be date,symbol,weight"),
        (["date,symbol,weight", "2024-01-08,SPY,1.5"], "line 2: weight 1.5 of SPY is not in"),
        (["date,symbol,weight", "2024-01-08,SPY,x"], "line 2: weight 'x' of SPY is not a number"),
        (["date,symbol,weight", "2024-13-08,SPY,1"], "line 2: '2024-13-08' is not a date"),
        (
            ["date,symbol,weight", "2024-01-08,SPY,0.5", "2024-01-08,SPY,0.5"],
            "line 3: SPY on 2024-01-08 appears again (first on line 2)",
        ),
        (
            ["date,symbol,weight", "2024-01-08,SPY,0.5", "2024-01-08,AGG,0.4"],
            "lines 2-3: the weights of 2024-01-08 sum to 0.9",
        ),
    ],
)
def test_bad_allocation_csv_is_refused_naming_file_and_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = _write(tmp_path / "alloc.csv", *lines)
    with pytest.raises(InvalidInputError) as caught:
        load_allocations(path, "growth")
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("order_type", "fill_at", "message"),
    [
        ("adaptive", "close", "replays limit, market, moc orders only"),
        ("midprice", "next_open", "replays limit, market, moc orders only"),
        ("moc", "close", "after the market-on-close cut-off; use fill_at next_open"),
    ],
)
def test_order_type_the_backtest_cannot_replay_is_refused_before_any_session(
    tmp_path: Path, order_type: str, fill_at: str, message: str
) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("date,SPY\n2026-01-05,100\n2026-01-06,101\n")
    allocations = tmp_path / "s.csv"
    allocations.write_text("date,symbol,weight\n2026-01-05,SPY,1\n")
    settings = BacktestSettings(
        strategy="s",
        account=AccountConfig(
            account_id="BT1", type="paper", strategy_name="s", order_type=order_type
        ),
        fill_at=fill_at,
    )

    with pytest.raises(InvalidInputError, match=message) as caught:
        run_backtest(settings, load_prices(prices), load_allocations(allocations, "s"))

    assert caught.value.source == "backtest settings"
