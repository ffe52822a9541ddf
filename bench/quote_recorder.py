"""Benchmark: quote ticks the recorder stores per second, and its memory while recording.

Run from the repository root with the project venv::

    .venv/bin/python bench/quote_recorder.py                 # 500,000 ticks, 500 symbols
    .venv/bin/python bench/quote_recorder.py --ticks 1000000 --dir /path/on/the/data/disk

The recorder's store (``app.quotes.store.QuoteWriter``: a bounded buffer, a writer thread,
batches of 5,000 ticks per transaction, WAL, ``synchronous=NORMAL``) is fed as the stream
feeds it: batches of 100 ticks (one ib_async emission), as fast as this process can hand them
over, into a buffer as large as the run (so the writer's rate is measured, nothing
dropped). Timed from the first tick handed over until ``close()`` returns with every tick
committed; ticks stored per second = ticks / that time. RSS is sampled every 10 ms while
recording (the sampler's thread reads ``/proc/self/status``); printed: RSS before, the peak,
and the peak's growth over the ticks themselves (which the bench keeps in memory to feed).

Baselines, in the same run and on the same disk:

* ``per-tick commit``: what a recorder without batching does: one INSERT and one commit per
  tick (SQLite's default rollback journal, ``synchronous=FULL``), on fewer ticks (it is slow);
* ``commit per emission``: ``executemany`` of each 100-tick emission in the feeding thread,
  one transaction each, WAL and ``synchronous=NORMAL``. It may store faster (no second
  thread sharing the GIL), but the feeder (in the recorder: the event loop reading the
  gateway's socket) waits for every commit: printed for both, the feeder's longest stall.

A last case feeds ticks faster than a deliberately small buffer (20,000) is written: memory
stays bounded and the dropped ticks are counted (the recorder never grows with the feed).
Target: >= 50,000 ticks/s stored. It prints figures; it never fails on them.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "event-broker"))

from app.quotes.store import QuoteWriter  # noqa: E402
from broker_connector_base import QuoteTick  # noqa: E402

EMISSION = 100
# The baselines write the recorder's table and rows.
_INSERT = (
    "INSERT INTO quotes (at, symbol, bid, ask, bid_size, ask_size, delayed)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SCHEMA = (
    "CREATE TABLE quotes (at REAL NOT NULL, symbol TEXT NOT NULL, bid TEXT, ask TEXT,"
    " bid_size INTEGER, ask_size INTEGER, delayed INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX quotes_by_time ON quotes (at)",
)


def rss_mb() -> float:
    """This process's resident set, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    """Samples RSS every 10 ms in a thread until ``stop``; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return max(self.peak, rss_mb())


def make_ticks(count: int, symbols: int) -> list[QuoteTick]:
    """``count`` ticks over ``symbols`` symbols, prices as the stream gives them (Decimal)."""
    names = [f"S{i:03d}" for i in range(symbols)]
    start = time.time()
    ticks = []
    for i in range(count):
        cents = 10_000 + (i * 7919) % 5_000
        bid = Decimal(cents).scaleb(-2)
        ticks.append(
            QuoteTick(start + i * 1e-4, names[i % symbols], bid, bid + Decimal("0.02"), 100, 200)
        )
    return ticks


def emissions(ticks: Sequence[QuoteTick]) -> list[Sequence[QuoteTick]]:
    return [ticks[i : i + EMISSION] for i in range(0, len(ticks), EMISSION)]


def filesystem(path: Path) -> str:
    out = subprocess.run(
        ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "unknown"


def run_writer(
    path: Path, batches: list[Sequence[QuoteTick]], **kwargs: int
) -> tuple[float, float, float, QuoteWriter]:
    """Feed a ``QuoteWriter``; (seconds until all committed, the feeder's longest stall in
    one hand-over, peak RSS MB, the writer)."""
    sampler = PeakRss()
    started = time.perf_counter()
    writer = QuoteWriter(path, **kwargs)
    stall = 0.0
    for batch in batches:
        before = time.perf_counter()
        writer.add(batch)
        stall = max(stall, time.perf_counter() - before)
    writer.close()
    elapsed = time.perf_counter() - started
    return elapsed, stall, sampler.stop(), writer


def _row(t: QuoteTick) -> tuple[object, ...]:
    bid = None if t.bid is None else str(t.bid)
    ask = None if t.ask is None else str(t.ask)
    return (t.at, t.symbol, bid, ask, t.bid_size, t.ask_size, int(t.delayed))


def per_tick_commit(path: Path, ticks: Sequence[QuoteTick]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _SCHEMA:
        conn.execute(statement)
    started = time.perf_counter()
    for tick in ticks:
        conn.execute(_INSERT, _row(tick))  # autocommit: one transaction per tick
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def commit_per_emission(path: Path, batches: list[Sequence[QuoteTick]]) -> tuple[float, float]:
    """(seconds, the feeder's longest stall in one emission's commit)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.commit()
    started = time.perf_counter()
    stall = 0.0
    for batch in batches:
        before = time.perf_counter()
        with conn:
            conn.executemany(_INSERT, [_row(t) for t in batch])
        stall = max(stall, time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, stall


def stored(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT count(*) FROM quotes").fetchone()[0]
    return count


def line(label: str, ticks: int, secs: float, note: str = "") -> float:
    rate = ticks / secs
    print(f"{label:<44} {ticks:>9,} ticks {secs:7.2f} s {rate:>11,.0f} ticks/s {note}")
    return rate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=500_000)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--baseline-ticks", type=int, default=5_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (a temp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        print(f"files in {root} ({filesystem(root)}); cpus {os.cpu_count()}")
        before_ticks = rss_mb()
        ticks = make_ticks(args.ticks, args.symbols)
        batches = emissions(ticks)
        rss_before = rss_mb()
        print(
            f"{args.ticks:,} ticks over {args.symbols} symbols in memory to feed: "
            f"{rss_before - before_ticks:.0f} MB; RSS before recording {rss_before:.0f} MB"
        )

        # A buffer as large as the run: the writer's own rate, nothing dropped (the recorder's
        # default of 200,000 is fed by IB at a few thousand ticks a second, not at this pace).
        secs, stall, peak, writer = run_writer(
            root / "recorder.sqlite3", batches, max_buffered=args.ticks
        )
        assert stored(root / "recorder.sqlite3") == args.ticks == writer.written
        rate = line(
            "recorder (QuoteWriter)",
            args.ticks,
            secs,
            f"feeder stall <= {stall * 1e3:.2f} ms; peak RSS {peak:.0f} MB "
            f"(+{peak - rss_before:.0f} MB)",
        )

        few = ticks[: args.baseline_ticks]
        base_secs = per_tick_commit(root / "per-tick.sqlite3", few)
        base = line("baseline: per-tick commit", len(few), base_secs)
        emission_secs, stall = commit_per_emission(root / "per-emission.sqlite3", batches)
        per_emission = line(
            "baseline: commit per emission (feeder)",
            args.ticks,
            emission_secs,
            f"feeder stall <= {stall * 1e3:.2f} ms",
        )
        print(
            f"recorder / per-tick commit: {rate / base:.1f}x; recorder / commit per emission: "
            f"{rate / per_emission:.2f}x; target >= 50,000 ticks/s: "
            f"{'met' if rate >= 50_000 else 'NOT met'}"
        )

        small = 20_000
        rss_small = rss_mb()
        secs, _, peak, writer = run_writer(
            root / "bounded.sqlite3", batches, max_buffered=small, flush_secs=1
        )
        print(
            f"bounded buffer of {small:,}: fed {args.ticks:,}, written {writer.written:,}, "
            f"dropped {writer.dropped:,} in {secs:.2f} s; peak RSS {peak:.0f} MB "
            f"(+{peak - rss_small:.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
