"""``tools/rebalance.sh -backtest/-backtests/-compare``: ``app.cli`` runs them without a daemon,
a broker or any daemon setting but the files', stores results by name and refuses bad input."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from app.cli import main

PRICES = [
    "date,symbol,open,high,low,close",
    "2024-01-08,SPY,470.00,472.00,469.00,471.00",
    "2024-01-08,AGG,97.00,98.00,96.50,97.50",
    "2024-01-09,SPY,471.00,473.00,470.00,472.40",
    "2024-01-09,AGG,97.50,98.00,97.00,97.80",
    "2024-01-10,SPY,472.00,476.00,471.00,475.10",
    "2024-01-10,AGG,97.80,98.20,97.10,97.20",
]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    prices = tmp_path / "prices.csv"
    prices.write_text("\n".join(PRICES) + "\n")
    allocations = tmp_path / "alloc.csv"
    allocations.write_text(
        "date,symbol,weight\n2024-01-08,SPY,0.6\n2024-01-08,AGG,0.4\n"
        "2024-01-10,SPY,0.3\n2024-01-10,AGG,0.7\n"
    )
    return {"prices": prices, "allocations": allocations, "db": tmp_path / "data/backtests.sqlite3"}


def _run(files: dict[str, Path], *extra: str) -> int:
    return main(
        [
            "-backtest",
            "growth",
            "-prices",
            str(files["prices"]),
            "-allocations",
            str(files["allocations"]),
            *extra,
        ]
    )


def _name(description: str) -> str:
    return f"growth_{datetime.now(UTC):%Y%m%d}_{description}"


def test_backtest_prints_metrics_and_stores_every_trade_under_its_name(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(files, "-description", "Sixty forty") == 0
    out = capsys.readouterr().out
    name = _name("sixty_forty")
    assert f"backtest {name}: 2 rebalances" in out
    assert "final equity" in out
    with sqlite3.connect(files["db"]) as conn:
        [(stored,)] = conn.execute("SELECT name FROM backtests").fetchall()
        days = [d for (d,) in conn.execute("SELECT DISTINCT day FROM trades ORDER BY day")]
        equity = conn.execute("SELECT COUNT(*) FROM equity").fetchone()[0]
    assert stored == name
    assert days == ["2024-01-08", "2024-01-10"]
    assert equity == 3


def test_same_name_twice_is_refused_and_keeps_the_first_unless_replace(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(files) == 0
    with sqlite3.connect(files["db"]) as conn:
        first = conn.execute("SELECT created_at, final_equity FROM backtests").fetchone()
    assert _run(files, "-half-spread-bps", "50") == 2
    assert "already exists" in capsys.readouterr().err
    with sqlite3.connect(files["db"]) as conn:
        assert conn.execute("SELECT created_at, final_equity FROM backtests").fetchone() == first
    assert _run(files, "-half-spread-bps", "50", "-replace") == 0
    with sqlite3.connect(files["db"]) as conn:
        [(final,)] = conn.execute("SELECT final_equity FROM backtests").fetchall()
    assert final != first[1]


def test_list_and_compare_with_a_plot_of_both_equity_curves(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _run(files, "-description", "a") == 0
    assert _run(files, "-description", "b", "-fill-at", "next_open") == 0
    capsys.readouterr()
    assert main(["-backtests"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [_name("a"), _name("b")]
    plot = tmp_path / "curves.png"
    assert main(["-compare", _name("a"), _name("b"), "-plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "close / daily" in table
    assert "next_open / daily" in table
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-backtest", "growth", "-prices", "p.csv"], "-backtest needs -allocations"),
        (["-backtests", "-from", "2024-01-01"], "-from applies to -backtest only"),
        (["-compare", "nope_20240101_x"], "no backtest named 'nope_20240101_x'"),
    ],
)
def test_bad_flags_exit_2_naming_the_problem(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    assert message in capsys.readouterr().err


def test_bad_price_line_exits_2_naming_file_and_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["prices"].write_text("\n".join([*PRICES, "2024-01-11,SPY,1,1,1,-1"]) + "\n")
    assert _run(files) == 2
    err = capsys.readouterr().err
    assert f"{files['prices']}: line 8: close -1 is not a positive price" in err
    assert not files["db"].exists() or sqlite3.connect(files["db"]).execute(
        "SELECT COUNT(*) FROM backtests"
    ).fetchone() == (0,)
