"""``IBKRClient.get_daily_bars``: IB's adjusted daily bars through real ib_async against the
simulator, cached in SQLite (complete days only), checked once a day for adjustments, and
paced as IB's historical data service requires.

Requests are counted at ib_async's ``Client.sendMsg`` (the real messages still go to the
simulator); reqHistoricalData is message 20.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from broker_connector_base import BrokerAPIError, DailyBar, InvalidInputError
from ib_gateway_sim import GatewaySimulator, Scenario
from ib_gateway_sim.bars import HistoryBar
from ibkr_connector import IBKRClient
from ibkr_connector._bars import HistoryPacing, duration_back_to
from ibkr_connector.testing import MakeClient

pytestmark = pytest.mark.timeout(30)

NEW_YORK = dt.timezone(dt.timedelta(hours=-5))  # November: EST
THURSDAY = dt.date(2026, 11, 19)
FRIDAY = dt.date(2026, 11, 20)
_BARS = [
    (dt.date(2026, 11, 16), "580.10", "583.00", "579.50", "582.40", 50_000_000),
    (dt.date(2026, 11, 17), "582.50", "585.25", "581.75", "584.90", 48_000_000),
    (dt.date(2026, 11, 18), "586.20", "588.00", "585.95", "587.40", 51_234_000),
    (dt.date(2026, 11, 19), "587.50", "589.90", "587.05", "589.25", 47_001_234),
    (dt.date(2026, 11, 20), "589.30", "590.15", "588.70", "589.11", 21_500_000),
]
_SCENARIO = """
accounts: {DU123456: {cash: 1000.00}}
symbols:
  SPY: {con_id: 756733, bid: 589.10, ask: 589.12, last: 589.11, history: []}
  IWM: {con_id: 9579970, bid: 228.31, ask: 228.33, last: 228.32, volume: 2000000}
  QQQ: {con_id: 320227571, bid: 509.45, ask: 509.48, last: 509.46, volume: 2000000}
  DIA: {con_id: 73128548, bid: 430.10, ask: 430.14, last: 430.12, volume: 2000000}
  NOPE: {con_id: 1, bid: 10.00, ask: 10.01, history: []}
clock:
  time: 2026-11-20T11:00:00-05:00  # Friday, in the session: its bar is not complete yet
  always_open: false
  holidays: [2026-11-26]
"""


def _history(rows: list[tuple[dt.date, str, str, str, str, int]]) -> list[HistoryBar]:
    return [
        HistoryBar(
            date=day,
            open=Decimal(o),
            high=Decimal(h),
            low=Decimal(lo),
            close=Decimal(c),
            volume=v,
        )
        for day, o, h, lo, c, v in rows
    ]


def _scaled(*prices: str) -> tuple[str, str, str, str]:
    """Prices as a 1 % dividend's adjustment leaves them (to the cent)."""
    o, h, lo, c = (str((Decimal(p) * Decimal("0.99")).quantize(Decimal("0.01"))) for p in prices)
    return o, h, lo, c


def _expected(rows: list[tuple[dt.date, str, str, str, str, int]]) -> list[DailyBar]:
    return [
        DailyBar(
            symbol="SPY",
            date=day,
            open=Decimal(o),
            high=Decimal(h),
            low=Decimal(lo),
            close=Decimal(c),
            volume=v,
        )
        for day, o, h, lo, c, v in rows
    ]


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    path = tmp_path / "scenario.yaml"
    path.write_text(_SCENARIO)
    return Scenario.from_yaml(path)


@pytest.fixture
def spy(sim: GatewaySimulator) -> None:
    sim.set_history("SPY", _history(_BARS))


def _history_requests(client: IBKRClient) -> list[list[str]]:
    """The reqHistoricalData messages ``client`` sends from now on, as their fields."""
    sent: list[list[str]] = []
    inner = client.ib.client.sendMsg

    def recording(msg: str | None) -> None:
        if msg and msg.split("\0", 1)[0] == "20":
            sent.append(msg.split("\0"))
        inner(msg)  # type: ignore[arg-type]  # ib_async passes None to flush its queue

    client.ib.client.sendMsg = recording  # type: ignore[method-assign]
    return sent


def _cached_days(tmp_path: Path, symbol: str) -> list[str]:
    with sqlite3.connect(tmp_path / "data" / "daily_bars.sqlite3") as db:
        rows = db.execute("SELECT day FROM bars WHERE symbol = ? ORDER BY day", (symbol,))
        return [day for (day,) in rows]


@pytest.mark.usefixtures("spy")
async def test_bars_are_exact_and_only_complete_days_are_cached_and_served_again(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client()
    sent = _history_requests(client)

    bars = await client.get_daily_bars("spy", dt.date(2026, 11, 16), FRIDAY)
    again = await client.get_daily_bars("SPY", dt.date(2026, 11, 17), dt.date(2026, 11, 19))
    requests_for_past_days = len(sent)
    with_today = await client.get_daily_bars("SPY", dt.date(2026, 11, 19), FRIDAY)

    assert bars == _expected(_BARS)
    assert _cached_days(tmp_path, "SPY") == ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"]
    assert again == _expected(_BARS[1:4])
    assert requests_for_past_days == 1  # the second call was the cache's alone
    assert with_today == _expected(_BARS[3:])
    assert len(sent) == 2  # today's bar is never served from the cache
    first = sent[0]
    assert first[first.index("1 day") - 1 : first.index("1 day") + 4] == [
        "",  # ADJUSTED_LAST: up to now, no end date
        "1 day",
        "5 D",
        "1",
        "ADJUSTED_LAST",
    ]


@pytest.mark.usefixtures("spy")
async def test_next_day_asks_only_from_the_last_cached_bar_and_keeps_the_cached_ones(
    make_client: MakeClient, sim: GatewaySimulator, tmp_path: Path
) -> None:
    first_client = await make_client()
    await first_client.get_daily_bars("SPY", dt.date(2026, 11, 16), dt.date(2026, 11, 19))
    monday = (dt.date(2026, 11, 23), "589.00", "592.00", "588.00", "591.50", 40_000_000)
    sim.set_history("SPY", _history([*_BARS, monday]))
    sim.set_clock(dt.datetime(2026, 11, 23, 17, 0, tzinfo=NEW_YORK))
    client = await make_client(client_id=12)  # another process: the file is the cache
    sent = _history_requests(client)

    bars = await client.get_daily_bars("SPY", dt.date(2026, 11, 16), dt.date(2026, 11, 23))

    assert bars == _expected([*_BARS, monday])
    assert len(sent) == 1
    assert "5 D" in sent[0]  # 11-19 (the last cached bar) to 11-23
    assert _cached_days(tmp_path, "SPY")[-2:] == ["2026-11-19", "2026-11-20"]


@pytest.mark.usefixtures("spy")
async def test_history_adjusted_for_a_dividend_is_fetched_again_whole(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    client = await make_client()
    # From the 17th: a request unlike the next one (IB refuses an identical one within 15 s).
    await client.get_daily_bars("SPY", dt.date(2026, 11, 17), dt.date(2026, 11, 19))
    # An ex-dividend Monday: every earlier bar is scaled down (IB's ADJUSTED_LAST).
    adjusted = [(d, *_scaled(o, h, lo, c), v) for d, o, h, lo, c, v in _BARS]
    sim.set_history("SPY", _history(adjusted))
    sim.set_clock(dt.datetime(2026, 11, 23, 8, 0, tzinfo=NEW_YORK))
    sent = _history_requests(client)

    bars = await client.get_daily_bars("SPY", dt.date(2026, 11, 17), dt.date(2026, 11, 20))

    assert bars == _expected(adjusted[1:])
    assert len(sent) == 2  # the check from the last cached bar, then the whole series


async def test_historical_requests_beyond_ib_pacing_are_refused_by_the_gateway(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    sim.set_faults(historical_pacing=True, historical_pacing_max_requests=2)
    unpaced = await make_client(data_dir=None)
    unpaced.history_pacing = HistoryPacing(max_requests=100)
    await unpaced.get_daily_bars("IWM", THURSDAY, THURSDAY)
    await unpaced.get_daily_bars("QQQ", THURSDAY, THURSDAY)
    with pytest.raises(BrokerAPIError, match=r"DIA.*IB error 162: .*pacing violation"):
        await unpaced.get_daily_bars("DIA", THURSDAY, THURSDAY)


async def test_client_pacing_waits_instead_of_breaking_ib_historical_limits(
    make_client: MakeClient, sim: GatewaySimulator
) -> None:
    sim.set_faults(
        historical_pacing=True,
        historical_pacing_max_requests=2,
        historical_pacing_window_secs=0.5,
    )
    paced = await make_client(data_dir=None)
    paced.history_pacing = HistoryPacing(max_requests=2, window_secs=0.5)

    bars = [await paced.get_daily_bars(s, THURSDAY, THURSDAY) for s in ("IWM", "QQQ", "DIA")]

    assert [(b.symbol, b.date) for [b] in bars] == [(s, THURSDAY) for s in ("IWM", "QQQ", "DIA")]


async def test_identical_request_waits_for_the_identical_window() -> None:
    pacing = HistoryPacing(identical_secs=0.2)
    loop_time = asyncio.get_running_loop().time
    await pacing.admit(("SPY", "5 D"), "first")
    await pacing.admit(("QQQ", "5 D"), "another request")
    started = loop_time()
    await pacing.admit(("SPY", "5 D"), "the same again")
    assert loop_time() - started >= 0.15


async def test_symbol_without_bars_unknown_symbol_and_bad_dates_are_refused_by_name(
    client: IBKRClient,
) -> None:
    with pytest.raises(BrokerAPIError, match=r"NOPE.*IB error 162: .*returned no data"):
        await client.get_daily_bars("NOPE", dt.date(2026, 11, 2), FRIDAY)
    with pytest.raises(BrokerAPIError, match="XXXX"):
        await client.get_daily_bars("XXXX", dt.date(2026, 11, 2), FRIDAY)
    with pytest.raises(InvalidInputError, match="start 2026-11-20 is after end 2026-11-19"):
        await client.get_daily_bars("SPY", FRIDAY, dt.date(2026, 11, 19))
    with pytest.raises(InvalidInputError, match=r"start 2026-11-23 is after today \(2026-11-20"):
        await client.get_daily_bars("SPY", dt.date(2026, 11, 23), dt.date(2026, 11, 24))


@pytest.mark.parametrize(
    ("first", "today", "duration"),
    [
        (dt.date(2026, 11, 20), dt.date(2026, 11, 20), "1 D"),
        (dt.date(2026, 11, 19), dt.date(2026, 11, 23), "5 D"),
        (dt.date(2025, 11, 21), dt.date(2026, 11, 20), "365 D"),
        (dt.date(2025, 11, 20), dt.date(2026, 11, 20), "2 Y"),  # 1 Y would start after it
        (dt.date(2015, 1, 2), dt.date(2026, 11, 20), "12 Y"),
        (dt.date(2016, 2, 29), dt.date(2024, 2, 29), "9 Y"),
    ],
)
def test_duration_reaches_back_to_the_first_day(
    first: dt.date, today: dt.date, duration: str
) -> None:
    assert duration_back_to(first, today) == duration
