"""``make demo-backtest``: a backtest of a demo strategy on real ETF closes, through the CLI.

The demo strategy ("top3-momentum") holds, from each month's first session, the three of
MTUM, QUAL, SIZE, USMV and VLUE that rose most over the previous 126 sessions, a third each
(computed from closes before that session: no look-ahead). Its allocation history is written
as the allocations API's dated documents; the prices are the file the analytics tests ship
(skfolio's factor ETF closes 2014-2022, BSD-3). The backtests run through ``tools/rebalance.sh``'s
own CLI (``python -m app.cli -backtest ...``) with what the repository's ``accounts.yaml`` account
trades with: IBKR Pro fixed commissions (an ``ibkr`` account's default, named here), a 0.5 %
drift band checked every session; and a 2 bps half spread. A second backtest rebalances on the
documents' days only (``-check signals``), and the two are compared side by side. Results go to
a temporary ``DATA_DIR`` (``--data-dir`` keeps them).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT / "packages/portfolio-analytics/tests/data/factors_dataset.csv.gz"
STRATEGY = "top3-momentum"
LOOKBACK = 126


def _closes() -> tuple[list[date], dict[str, list[Decimal]]]:
    with gzip.open(PRICES, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    days = [date.fromisoformat(r[0]) for r in rows[1:]]
    return days, {s: [Decimal(r[i]) for r in rows[1:]] for i, s in enumerate(rows[0][1:], 1)}


def write_documents(folder: Path) -> int:
    """One allocations document per month (from the 7th month on); returns how many."""
    days, closes = _closes()
    target = folder / STRATEGY
    target.mkdir(parents=True, exist_ok=True)
    written, month = 0, None
    for index, day in enumerate(days):
        if (day.year, day.month) == month or index <= LOOKBACK:
            month = (day.year, day.month)
            continue
        month = (day.year, day.month)
        growth = {s: c[index - 1] / c[index - 1 - LOOKBACK] for s, c in closes.items()}
        best = sorted(growth, key=growth.__getitem__, reverse=True)[:3]
        weights = [0.3334, 0.3333, 0.3333]  # JSON numbers, read back as exact decimals
        document = {
            "status": "success",
            "data": {
                "name": STRATEGY,
                "strategy_long_name": "Top 3 factor ETFs by 6-month momentum",
                "last_rebalance_on": day.isoformat(),
                "allocations": [
                    {"symbol": s, "allocation": w} for s, w in zip(best, weights, strict=True)
                ],
            },
        }
        (target / f"{day.isoformat()}.json").write_text(json.dumps(document, indent=1))
        written += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="keep the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="backtest-demo-") as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        documents = Path(scratch) / "allocations"
        print(f"{write_documents(documents)} monthly documents of {STRATEGY} in {documents}")
        os.environ["DATA_DIR"] = str(data_dir)
        sys.path.insert(0, str(ROOT / "event-broker"))
        from app.cli import main as cli

        common = ["-prices", str(PRICES), "-allocations", str(documents), "-replace"]
        costs = ["-commission", "ibkr_pro_fixed", "-half-spread-bps", "2"]
        daily = ["-drift-band", "0.5", "-check", "daily", "-description", "demo"]
        monthly = ["-check", "signals", "-description", "demo signals only"]
        for options in (daily, monthly):
            if cli(["-backtest", STRATEGY, *common, *costs, *options]):
                return 1
            print()
        names = _names(data_dir)
        if cli(["-compare", *names]):
            return 1
        print()
        print(f"stored as: {', '.join(names)} in {data_dir / 'backtests.sqlite3'}")
    return 0


def _names(data_dir: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(data_dir / "backtests.sqlite3") as conn:
        return [name for (name,) in conn.execute("SELECT name FROM backtests ORDER BY name")]


if __name__ == "__main__":
    sys.exit(main())
