"""Daily bars through real ib_async ``reqHistoricalDataAsync``: scenario, CSV and generated."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, BarData, Stock
from ib_gateway_sim import GatewaySimulator, Scenario

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]

_HOLIDAYS = [dt.date(2026, 9, 7), dt.date(2026, 7, 3), dt.date(2026, 11, 26)]
_SCENARIO = """
accounts: {DU1: {cash: 1000.00}}
symbols:
  SPY:
    con_id: 756733
    bid: 589.10
    ask: 589.12
    last: 589.11
    history:
      - {date: 2026-11-18, open: 586.20, high: 588.00, low: 585.95, close: 587.40, volume: 51234000}
      - {date: 20261119, open: 587.50, high: 589.90, low: 587.05, close: 589.25, volume: 47001234}
      - {date: 2026-11-20, open: 589.30, high: 590.15, low: 588.70, close: 589.11, volume: 45500000}
  QQQ: {con_id: 320227571, bid: 509.45, ask: 509.48, history: bars/qqq.csv}
  IWM: {con_id: 9579970, bid: 228.31, ask: 228.33, last: 228.32, volume: 2000000}
  NOPE: {con_id: 1, bid: 10.00, ask: 10.01, history: []}
clock:
  time: 2026-11-20T17:00:00-05:00  # Friday after the close: that day's bar is complete
  always_open: false
  holidays: [2026-09-07, 2026-07-03, 2026-11-26]
"""
_QQQ_CSV = """date,open,high,low,close,volume
2026-11-19,505.10,508.00,504.90,507.90,30100200
2026-11-20,508.00,510.25,507.45,509.465,29000000
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    """Inline bars (SPY), a CSV beside the scenario file (QQQ), generated bars (IWM)."""
    (tmp_path / "bars").mkdir()
    (tmp_path / "bars" / "qqq.csv").write_text(_QQQ_CSV)
    path = tmp_path / "scenario.yaml"
    path.write_text(_SCENARIO)
    return Scenario.from_yaml(path)


async def _bars(ib: IB, symbol: str, duration: str, *, end: Any = "", what: str = "TRADES") -> Any:
    contract = Stock(symbol, "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    return await ib.reqHistoricalDataAsync(contract, end, duration, "1 day", what, True)


def _exact(value: float) -> Decimal:
    return Decimal(str(value))


def _ohlcv(bar: BarData) -> tuple[dt.date, Decimal, Decimal, Decimal, Decimal, float]:
    assert isinstance(bar.date, dt.date)
    prices = [_exact(v) for v in (bar.open, bar.high, bar.low, bar.close)]
    return bar.date, prices[0], prices[1], prices[2], prices[3], bar.volume


def _session_days(after: dt.date, until: dt.date) -> list[dt.date]:
    days = [after + dt.timedelta(days=n) for n in range(1, (until - after).days + 1)]
    return [d for d in days if d.weekday() < 5 and d not in _HOLIDAYS]


async def test_scenario_bars_arrive_with_exact_prices_dates_and_volumes(connect: Connect) -> None:
    ib = await connect()

    bars = await _bars(ib, "SPY", "10 D")
    until_thursday = await _bars(ib, "SPY", "10 D", end=dt.date(2026, 11, 19))

    assert [_ohlcv(b) for b in bars] == [
        (dt.date(2026, 11, 18), Decimal("586.20"), Decimal("588.00"), Decimal("585.95"),
         Decimal("587.40"), 51234000.0),
        (dt.date(2026, 11, 19), Decimal("587.50"), Decimal("589.90"), Decimal("587.05"),
         Decimal("589.25"), 47001234.0),
        (dt.date(2026, 11, 20), Decimal("589.30"), Decimal("590.15"), Decimal("588.70"),
         Decimal("589.11"), 45500000.0),
    ]  # fmt: skip
    assert [b.date for b in until_thursday] == [dt.date(2026, 11, 18), dt.date(2026, 11, 19)]


async def test_csv_bars_are_read_relative_to_the_scenario_file(connect: Connect) -> None:
    ib = await connect()

    bars = await _bars(ib, "QQQ", "1 W")

    assert [(b.date, _exact(b.close)) for b in bars] == [
        (dt.date(2026, 11, 19), Decimal("507.90")),
        (dt.date(2026, 11, 20), Decimal("509.465")),
    ]


async def test_generated_bars_cover_session_days_and_end_at_the_symbols_price(
    connect: Connect,
) -> None:
    ib = await connect()

    month = await _bars(ib, "IWM", "30 D")
    year = await _bars(ib, "IWM", "1 Y")
    decade = await _bars(ib, "IWM", "10 Y")

    assert len(month) == 30
    assert [b.date for b in year] == _session_days(dt.date(2025, 11, 20), dt.date(2026, 11, 20))
    assert len(decade) == len(_session_days(dt.date(2016, 11, 20), dt.date(2026, 11, 20)))
    assert _exact(year[-1].close) == Decimal("228.32")  # last inside the spread: IB's mark
    assert [_ohlcv(b) for b in year[-30:]] == [_ohlcv(b) for b in month]
    assert [_ohlcv(b) for b in decade[-len(year) :]] == [_ohlcv(b) for b in year]
    for bar in decade:
        prices = [_exact(v) for v in (bar.open, bar.high, bar.low, bar.close)]
        assert all(p == p.quantize(Decimal("0.01")) and p > 0 for p in prices)
        assert prices[1] >= max(prices[0], prices[3])
        assert prices[2] <= min(prices[0], prices[3])
        assert 1_200_000 <= bar.volume <= 2_800_000


async def test_generated_bars_with_an_end_date_are_the_same_days_as_without(
    connect: Connect,
) -> None:
    ib = await connect()

    year = await _bars(ib, "IWM", "1 Y")
    june = await _bars(ib, "IWM", "2 M", end=dt.date(2026, 6, 30))

    assert june[-1].date == dt.date(2026, 6, 30)
    assert june[0].date == dt.date(2026, 5, 1)  # bars after 2026-04-30
    assert [_ohlcv(b) for b in june] == [_ohlcv(b) for b in year if b.date <= june[-1].date][
        -len(june) :
    ]


async def test_generated_bars_are_the_same_from_another_simulator_run(
    connect: Connect, scenario: Scenario
) -> None:
    ib = await connect()
    first = await _bars(ib, "IWM", "3 M")

    async with GatewaySimulator(scenario) as other:
        again = IB()
        await again.connectAsync("127.0.0.1", other.port, clientId=1, timeout=5)
        second = await _bars(again, "IWM", "3 M")
        again.disconnect()

    assert [_ohlcv(b) for b in first] == [_ohlcv(b) for b in second]


async def test_midpoint_bars_carry_no_volume_and_adjusted_last_matches_trades(
    connect: Connect,
) -> None:
    ib = await connect()

    trades = await _bars(ib, "SPY", "5 D")
    midpoint = await _bars(ib, "SPY", "5 D", what="MIDPOINT")
    adjusted = await _bars(ib, "SPY", "5 D", what="ADJUSTED_LAST")

    assert [(b.volume, b.average, b.barCount) for b in midpoint] == [(-1.0, -1.0, -1)] * 3
    assert [_ohlcv(b)[:5] for b in midpoint] == [_ohlcv(b)[:5] for b in trades]
    assert [_ohlcv(b) for b in adjusted] == [_ohlcv(b) for b in trades]
    assert trades[-1].barCount == 455000


async def test_symbol_without_bars_gets_162_and_unknown_contract_200(
    connect: Connect, ib_errors: Errors
) -> None:
    ib = await connect()
    errors = ib_errors(ib)

    nothing = await _bars(ib, "NOPE", "1 Y")
    unknown = await ib.reqHistoricalDataAsync(
        Stock("ZZZ", "SMART", "USD"), "", "1 Y", "1 day", "TRADES", True
    )

    assert list(nothing) == []
    assert list(unknown) == []
    codes = [(code, text) for _, code, text in errors]
    assert codes == [
        (
            162,
            "Historical Market Data Service error message:"
            "HMDS query returned no data: NOPE@SMART Trades",
        ),
        (200, "No security definition has been found for the request"),
    ]


async def _warning_for(ib: IB, request: Awaitable[Any]) -> tuple[int, str]:
    # 321 is a warning to ib_async: the request itself would only end at its own timeout.
    seen: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    def _on_error(req_id: int, code: int, text: str, contract: Any) -> None:
        if not seen.done():
            seen.set_result((code, text))

    ib.errorEvent += _on_error
    task = asyncio.ensure_future(request)
    try:
        return await asyncio.wait_for(seen, 5)
    finally:
        task.cancel()
        ib.errorEvent -= _on_error


async def test_invalid_requests_get_321_and_unsupported_bar_sizes_162(
    connect: Connect, ib_errors: Errors
) -> None:
    ib = await connect()
    spy = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(spy)

    adjusted_end = await _warning_for(
        ib,
        ib.reqHistoricalDataAsync(
            spy, "20261119 23:59:59 UTC", "5 D", "1 day", "ADJUSTED_LAST", True
        ),
    )
    bad_duration = await _warning_for(
        ib, ib.reqHistoricalDataAsync(spy, "", "10 YEARS", "1 day", "TRADES", True)
    )
    errors = ib_errors(ib)
    hourly = await ib.reqHistoricalDataAsync(spy, "", "5 D", "1 hour", "TRADES", True)

    assert adjusted_end[0] == 321
    assert "End date not supported with adjusted last" in adjusted_end[1]
    assert bad_duration[0] == 321
    assert "'10 YEARS' is invalid" in bad_duration[1]
    assert list(hourly) == []
    assert [code for _, code, _ in errors] == [162]


async def test_historical_pacing_refuses_identical_requests_and_too_many(
    connect: Connect, sim: GatewaySimulator, ib_errors: Errors
) -> None:
    sim.set_faults(historical_pacing=True, historical_pacing_max_requests=3)
    ib = await connect()
    errors = ib_errors(ib)

    first = await _bars(ib, "SPY", "5 D")
    identical = await _bars(ib, "SPY", "5 D")
    others = [await _bars(ib, "SPY", d) for d in ("4 D", "3 D", "2 D")]

    assert (len(first), len(identical)) == (3, 0)
    assert [len(bars) for bars in others] == [3, 3, 0]
    pacing = "Historical Market Data Service error message:Historical data request pacing violation"
    assert [(code, text) for _, code, text in errors] == [(162, pacing), (162, pacing)]


async def test_head_timestamp_is_the_first_bars_session_open(connect: Connect) -> None:
    ib = await connect()
    spy, iwm = Stock("SPY", "SMART", "USD"), Stock("IWM", "SMART", "USD")
    await ib.qualifyContractsAsync(spy, iwm)

    head = await ib.reqHeadTimeStampAsync(spy, "TRADES", True, 1)
    generated = await ib.reqHeadTimeStampAsync(iwm, "TRADES", True, 2)

    assert head == dt.datetime(2026, 11, 18, 9, 30)
    assert generated == dt.datetime(1996, 11, 21, 14, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("day,open,high,low,close,volume\n", "header must be date,open,high,low,close,volume"),
        ("date,open,high,low,close,volume\n2026-11-20,1.0,x,1,1,5\n", "qqq.csv:2: not a number"),
        (
            "date,open,high,low,close,volume\n2026-11-19,1,2,1,1,5\n2026-11-20,1.0,1.1,0.9,1.2,5\n",
            "qqq.csv:3: Value error, bar 2026-11-20: high 1.1 and low 0.9 must enclose",
        ),
        ("date,open,high,low,close,volume\n2026-11-20,1,1,1,1,-5\n", "qqq.csv:2: Input should be"),
    ],
)
def test_bad_bars_file_is_refused_naming_the_file_and_line(
    tmp_path: Path, csv: str, message: str
) -> None:
    (tmp_path / "bars").mkdir()
    (tmp_path / "bars" / "qqq.csv").write_text(csv)
    path = tmp_path / "scenario.yaml"
    path.write_text(_SCENARIO)

    with pytest.raises(ValueError, match=r"symbols\.QQQ\.history") as raised:
        Scenario.from_yaml(path)

    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("history: missing.csv", "cannot read bars file"),
        (
            "history: [{date: 2026-11-20, open: 1, high: 1, low: 1, close: 1, volume: 1},"
            " {date: 20261120, open: 1, high: 1, low: 1, close: 1, volume: 1}]",
            "two bars dated 2026-11-20",
        ),
    ],
)
def test_bad_inline_history_is_refused_with_the_reason(yaml: str, message: str) -> None:
    text = f"accounts: {{DU1: {{cash: 1}}}}\nsymbols:\n  AAA: {{con_id: 1, {yaml}}}\n"

    with pytest.raises(ValueError, match=message):
        Scenario.from_yaml_text(text)
