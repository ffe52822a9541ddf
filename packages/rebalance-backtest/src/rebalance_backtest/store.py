"""Backtest results in SQLite (``DATA_DIR/backtests.sqlite3``), one per name.

A name is ``{strategy}_{YYYYMMDD}_{description}`` (seed 004; ``results.backtest_name``). Each
backtest keeps its settings and metrics (JSON), its equity curve, every trade and its positions
on the days they changed; money is stored as decimal text, never as a float. A name is never
overwritten silently: saving under a taken name raises ``InvalidInputError`` unless
``replace=True`` (the CLI's ``-replace``), which swaps the old rows for the new ones in one
transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from broker_connector_base import InvalidInputError
from broker_connector_base.sqlite_files import connect_wal
from portfolio_analytics import PerformanceMetrics

from rebalance_backtest.results import BacktestResult, BacktestSettings, is_backtest_name

__all__ = ["BACKTESTS_FILE", "BacktestStore", "StoredBacktest"]

BACKTESTS_FILE = "backtests.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backtests (
    name TEXT PRIMARY KEY,
    strategy TEXT NOT NULL,
    created_at TEXT NOT NULL,
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    final_equity TEXT NOT NULL,
    runs INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    settings_json TEXT NOT NULL,
    metrics_json TEXT NOT NULL,
    warnings_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS equity (
    name TEXT NOT NULL REFERENCES backtests(name) ON DELETE CASCADE,
    day TEXT NOT NULL,
    equity TEXT NOT NULL,
    cash TEXT NOT NULL,
    PRIMARY KEY (name, day)
);
CREATE TABLE IF NOT EXISTS trades (
    name TEXT NOT NULL REFERENCES backtests(name) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    day TEXT NOT NULL,
    symbol TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price TEXT NOT NULL,
    commission TEXT NOT NULL,
    PRIMARY KEY (name, seq)
);
CREATE TABLE IF NOT EXISTS positions (
    name TEXT NOT NULL REFERENCES backtests(name) ON DELETE CASCADE,
    day TEXT NOT NULL,
    symbol TEXT NOT NULL,
    shares INTEGER NOT NULL,
    PRIMARY KEY (name, day, symbol)
);
"""


@dataclass(frozen=True)
class StoredBacktest:
    """A backtest as stored: what listing, comparing and plotting need."""

    name: str
    strategy: str
    created_at: datetime
    settings: BacktestSettings
    metrics: PerformanceMetrics
    equity: tuple[tuple[date, Decimal], ...]
    trades: int
    commissions: Decimal
    runs: int
    warnings: tuple[str, ...]

    @property
    def final_equity(self) -> Decimal:
        """The equity at the last close."""
        return self.equity[-1][1]


class BacktestStore:
    """The results file (created on first use).

    Args:
        path: The SQLite file, e.g. ``DATA_DIR / BACKTESTS_FILE``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect_wal(path, timeout_secs=10.0)
        self._conn.execute("PRAGMA foreign_keys = ON")
        with self._conn:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    def names(self) -> list[str]:
        """Every stored name, oldest first."""
        rows = self._conn.execute("SELECT name FROM backtests ORDER BY created_at, name")
        return [name for (name,) in rows]

    def save(self, name: str, result: BacktestResult, *, replace: bool = False) -> None:
        """Store ``result`` as ``name``.

        Raises:
            InvalidInputError: ``name`` is not ``{strategy}_{YYYYMMDD}_{description}``, or is
                taken and ``replace`` is false (nothing is written then).
        """
        if not is_backtest_name(name):
            raise InvalidInputError(
                f"{name!r} is not a backtest name {{strategy}}_{{YYYYMMDD}}_{{description}}",
                str(self.path),
            )
        with self._conn:
            taken = self._conn.execute(
                "SELECT created_at FROM backtests WHERE name = ?", (name,)
            ).fetchone()
            if taken is not None and not replace:
                raise InvalidInputError(
                    f"a backtest named {name} already exists (stored {taken[0]}); give another "
                    "-description, or -replace to overwrite it",
                    str(self.path),
                )
            self._conn.execute("DELETE FROM backtests WHERE name = ?", (name,))
            self._insert(name, result)

    def _insert(self, name: str, result: BacktestResult) -> None:
        conn = self._conn
        conn.execute(
            "INSERT INTO backtests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                result.settings.strategy,
                datetime.now(UTC).isoformat(timespec="seconds"),
                result.equity[0].day.isoformat(),
                result.equity[-1].day.isoformat(),
                str(result.final_equity),
                result.runs,
                result.checks,
                result.settings.model_dump_json(),
                result.metrics.model_dump_json(),
                json.dumps(list(result.warnings)),
            ),
        )
        conn.executemany(
            "INSERT INTO equity VALUES (?, ?, ?, ?)",
            ((name, p.day.isoformat(), str(p.equity), str(p.cash)) for p in result.equity),
        )
        conn.executemany(
            "INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (name, i, t.day.isoformat(), t.symbol, t.quantity, str(t.price), str(t.commission))
                for i, t in enumerate(result.trades)
            ),
        )
        conn.executemany(
            "INSERT INTO positions VALUES (?, ?, ?, ?)",
            (
                (name, p.day.isoformat(), symbol, shares)
                for p in result.positions
                for symbol, shares in sorted(p.shares.items())
            ),
        )

    def load(self, name: str) -> StoredBacktest:
        """The backtest stored as ``name``.

        Raises:
            InvalidInputError: No backtest has that name (the message lists a few).
        """
        row = self._conn.execute(
            "SELECT strategy, created_at, runs, settings_json, metrics_json, warnings_json "
            "FROM backtests WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            known = ", ".join(self.names()[-5:]) or "none"
            raise InvalidInputError(f"no backtest named {name!r} (latest: {known})", str(self.path))
        strategy, created, runs, settings, metrics, warnings = row
        equity = tuple(
            (date.fromisoformat(day), Decimal(value))
            for day, value in self._conn.execute(
                "SELECT day, equity FROM equity WHERE name = ? ORDER BY day", (name,)
            )
        )
        count, commissions = self._conn.execute(
            "SELECT COUNT(*), COALESCE(GROUP_CONCAT(commission, ' '), '') FROM trades "
            "WHERE name = ?",
            (name,),
        ).fetchone()
        return StoredBacktest(
            name=name,
            strategy=strategy,
            created_at=datetime.fromisoformat(created),
            settings=BacktestSettings.model_validate_json(settings),
            metrics=PerformanceMetrics.model_validate_json(metrics),
            equity=equity,
            trades=count,
            commissions=sum((Decimal(c) for c in commissions.split()), Decimal(0)),
            runs=runs,
            warnings=tuple(json.loads(warnings)),
        )

    def trades(self, name: str) -> list[tuple[date, str, int, Decimal, Decimal]]:
        """``(day, symbol, quantity, price, commission)`` of every trade of ``name``."""
        rows = self._conn.execute(
            "SELECT day, symbol, quantity, price, commission FROM trades WHERE name = ? "
            "ORDER BY seq",
            (name,),
        )
        return [(date.fromisoformat(d), s, q, Decimal(p), Decimal(c)) for d, s, q, p, c in rows]
