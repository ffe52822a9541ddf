"""``-prices gateway``: a backtest's prices as daily bars from the IB gateway, no file needed.

The CLI process connects itself (no worker: it places nothing and reads no account) with a
client id below the daemon's range (``app.trading.client_ids.MIN_CLIENT_ID``: ids under it are
left to manual tools), asks for the bars of every symbol the allocation history can make the
engine buy, from the first session the backtest needs to ``-to`` (default: yesterday, New York:
the current day's bar is not complete), and disconnects. The connector caches the bars in
``DATA_DIR/daily_bars.sqlite3`` and keeps IB's historical pacing, so a second backtest over the
same symbols asks the gateway once per symbol and day at most. The connector is reached through
``app.trading.broker_factory`` only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING

from broker_connector_base import DailyBar, InvalidInputError
from broker_connector_base.types import NEW_YORK

from app.backtests.options import BacktestPaths
from app.trading.broker_factory import create_daily_bar_source

if TYPE_CHECKING:
    from rebalance_backtest import AllocationHistory, BacktestSettings, PriceHistory
    from rebalance_engine import ReplacementService

__all__ = ["HISTORY_CLIENT_ID", "gateway_prices"]

logger = logging.getLogger(__name__)

HISTORY_CLIENT_ID = 98
"""The IB API client id of ``-prices gateway`` (below the daemon's accounts' ids)."""


def gateway_prices(
    paths: BacktestPaths,
    settings: BacktestSettings,
    history: AllocationHistory,
    replacements: ReplacementService | None,
) -> PriceHistory:
    """The prices of ``history``'s symbols from the gateway of ``paths``.

    Raises:
        InvalidInputError: Bars that do not make a price history (a day that is no NYSE
            session, a gap), or settings the connector refuses.
        BrokerError: The gateway cannot be reached or cannot serve a symbol's bars.
    """
    from rebalance_backtest import PriceHistory

    symbols = sorted(history.targets(settings.account.replacement_set, replacements))
    start = settings.start or history.days[0]
    end = settings.end or dt.datetime.now(NEW_YORK).date() - dt.timedelta(days=1)
    if start > end:
        raise InvalidInputError(
            f"no complete day to backtest: the first document ({start}) is not before -to {end}",
            source="-prices gateway",
        )
    port = paths.ib_gateway_port
    where = f"IB gateway {paths.ib_gateway_host}:{port or 'default port'}"
    bars = asyncio.run(_fetch(paths, symbols, start, end))
    return PriceHistory.from_bars(bars, source=where)


async def _fetch(
    paths: BacktestPaths, symbols: list[str], start: dt.date, end: dt.date
) -> list[DailyBar]:
    source = create_daily_bar_source(
        trading_mode=paths.trading_mode,
        host=paths.ib_gateway_host,
        port=paths.ib_gateway_port,
        client_id=HISTORY_CLIENT_ID,
        data_dir=paths.data_dir,
    )
    await source.connect()
    try:
        found = await asyncio.gather(*(source.get_daily_bars(s, start, end) for s in symbols))
    finally:
        await source.disconnect()
    for symbol, bars in zip(symbols, found, strict=True):
        logger.info("%d daily bars of %s from %s to %s", len(bars), symbol, start, end)
    return [bar for bars in found for bar in bars]
