"""The backtest command's account flags: they replace the ``-account-config`` entry's settings
(and are stored with the result), and every bad flag or value exits 2 naming it, storing
nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from app.cli import main
from rebalance_backtest import BacktestStore

PRICES = """date,symbol,open,high,low,close
2024-01-08,SPY,470.00,472.00,469.00,471.00
2024-01-08,GLD,190.00,191.00,189.00,190.50
2024-01-08,IAU,38.80,39.00,38.60,38.90
2024-01-09,SPY,471.00,473.00,470.00,472.40
2024-01-09,GLD,190.50,191.50,190.00,191.00
2024-01-09,IAU,38.90,39.10,38.80,39.00
"""
ACCOUNTS = """accounts:
  - account_id: DU111
    type: paper
    strategy_name: growth
    cash_reserve_percent: 5
    drift_band_percent: 0.5
    pdt_protection_enabled: true
"""
SETS = """ira:
  - {source: GLD, target: IAU, scale: 0.5}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ACCOUNTS_FILE", str(tmp_path / "accounts.yaml"))
    monkeypatch.setenv("REPLACEMENT_SETS_FILE", str(tmp_path / "replacement-sets.yaml"))
    (tmp_path / "prices.csv").write_text(PRICES)
    (tmp_path / "alloc.csv").write_text(
        "date,symbol,weight\n2024-01-08,SPY,0.5\n2024-01-08,GLD,0.5\n"
    )
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    (tmp_path / "replacement-sets.yaml").write_text(SETS)
    return tmp_path


def _backtest(*extra: str) -> int:
    return main(
        ["-backtest", "growth", "-prices", "prices.csv", "-allocations", "alloc.csv", *extra]
    )


def _stored(workdir: Path) -> list[str]:
    path = workdir / "data" / "backtests.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return [name for (name,) in db.execute("SELECT name FROM backtests")]


def test_account_flags_replace_the_account_configs_settings_and_are_stored(
    workdir: Path,
) -> None:
    code = _backtest(
        "-account-config",
        "DU111",
        "-cash-reserve",
        "2",
        "-drift-band",
        "3",
        "-min-trade",
        "500",
        "-commission",
        "zero",
        "-description",
        "flags",
    )

    assert code == 0
    store = BacktestStore(workdir / "data" / "backtests.sqlite3")
    try:
        [name] = store.names()
        account = store.load(name).settings.account
    finally:
        store.close()
    assert name == f"growth_{datetime.now(UTC):%Y%m%d}_flags"
    assert (account.cash_reserve_percent, account.drift_band_percent) == (Decimal(2), Decimal(3))
    assert account.min_trade_value == Decimal(500)
    assert account.commission_schedule == "zero"
    assert account.pdt_protection_enabled  # what no flag names stays the account's


def test_replacement_set_flag_trades_the_sets_target_instead_of_the_source(
    workdir: Path,
) -> None:
    assert _backtest("-replacement-set", "ira", "-commission", "zero") == 0

    with sqlite3.connect(workdir / "data" / "backtests.sqlite3") as db:
        symbols = {s for (s,) in db.execute("SELECT DISTINCT symbol FROM trades")}
    assert symbols == {"SPY", "IAU"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-drift-band", "150"], "argument -drift-band/--drift-band: '150' must be a percent"),
        (["-cash-reserve", "-1"], "argument -cash-reserve/--cash-reserve: '-1' must be a percent"),
        (["-min-trade", "abc"], "argument -min-trade/--min-trade: 'abc' is not a number"),
        (["-min-trade", "NaN"], "argument -min-trade/--min-trade: 'NaN' is not a finite number"),
        (["-cash", "0"], "argument -cash/--cash: '0' must be more than 0"),
        (["-half-spread-bps", "10000"], "'10000' must be from 0 to below 10000 bps"),
        (["-commission", "ibkr_free"], "argument -commission/--commission: invalid choice"),
        (["-fill-at", "noon"], "argument -fill-at/--fill-at: invalid choice: 'noon'"),
        (["-from", "2024-13-01"], "argument -from/--from: '2024-13-01' is not a date"),
        (["-from", "2024-02-01", "-to", "2024-01-09"], "-from 2024-02-01 is after -to 2024-01-09"),
        (["-drift-band", "2", "-drift-band", "3"], "argument -drift-band: given more than once"),
        (["-drift", "2"], "unrecognized arguments: -drift (flags are never abbreviated)"),
        (["-replacement-set", "roth"], "-replacement-set roth is not a replacement set"),
        (["-account-config", "DU999"], "-account-config DU999: no such account (known: DU111)"),
    ],
)
def test_bad_flag_or_value_exits_2_naming_it_and_stores_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    try:
        code = _backtest(*extra)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code  # type: ignore[assignment]

    assert code == 2
    assert message in capsys.readouterr().err
    assert _stored(workdir) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-backtests", "-drift-band", "2"], "-drift-band applies to -backtest only"),
        (["-compare", "a_20240101_x", "-commission", "zero"], "-commission applies to -backtest"),
        (["-backtest", "bad name!", "-prices", "p", "-allocations", "a"], "not a strategy name"),
        (["-backtests", "-backtests"], "argument -backtests: given more than once"),
    ],
)
def test_flags_outside_their_command_exit_2_naming_them(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_replacement_set_flag_without_a_sets_file_exits_2_naming_the_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "replacement-sets.yaml").unlink()

    assert _backtest("-replacement-set", "ira") == 2
    err = capsys.readouterr().err
    assert "-replacement-set ira: no replacement sets file" in err
    assert str(workdir / "replacement-sets.yaml") in err
