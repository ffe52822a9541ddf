"""Reading a portfolio snapshot in the worker process; nothing is ever placed here.

Two ways: a ``snapshot`` run reads the account, the strategies' targets and the benchmark
quote (``take_snapshot``); a ``rebalance`` run already holds the account as it left it
(``RebalanceResult.final_snapshot``) and the targets it traded to (its plan), so only the
benchmark quote is asked for (``snapshot_after_run``), from the prices the run just cached.
What cannot be read (targets, benchmark) is left out with a warning rather than failing the
snapshot: the account's value is what the performance report needs most.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from broker_connector_base import (
    AccountConfig,
    BrokerClient,
    BrokerError,
    ContractPrice,
    InvalidInputError,
    RebalanceResult,
)
from rebalance_engine import (
    AllocationSource,
    ReplacementService,
    calculator_targets,
    fetch_targets,
)

from app.snapshots.model import BENCHMARK_SYMBOL, BenchmarkQuote, PortfolioSnapshot

__all__ = ["benchmark_price", "read_targets", "snapshot_after_run", "take_snapshot"]

_HUNDRED = Decimal(100)


async def read_targets(
    account: AccountConfig, source: AllocationSource, replacements: ReplacementService | None
) -> dict[str, Decimal]:
    """The account's target weights now, as fractions of its total value.

    The same targets a rebalance would trade to (blended strategies, replacement set, cash
    reserve, rest of an allocation under 1 kept in cash): ``weight * (1 - reserve / 100)``,
    which is ``RebalancePlan.target_weight``.

    Raises:
        InvalidInputError: Bad allocations or replacement set.
        BrokerError: The allocations could not be fetched.
    """
    targets = await fetch_targets(account, source, replacements)
    weights, reserve = calculator_targets(targets.allocations, account.cash_reserve_percent)
    invested = 1 - reserve / _HUNDRED
    return {item.symbol: item.allocation * invested for item in weights}


def benchmark_price(quote: ContractPrice) -> Decimal | None:
    """The price to compare with: the last trade, else the midpoint, else the close.

    IB's ``close`` is the previous session's close, so it comes last.
    """
    if quote.last is not None and quote.last > 0:
        return quote.last
    if quote.bid is not None and quote.ask is not None and quote.bid > 0 and quote.ask > 0:
        return (quote.bid + quote.ask) / 2
    if quote.close is not None and quote.close > 0:
        return quote.close
    return None


async def _benchmark(client: BrokerClient, warnings: list[str]) -> BenchmarkQuote | None:
    try:
        quotes = await client.get_multiple_market_prices([BENCHMARK_SYMBOL], use_cache=True)
    except (BrokerError, InvalidInputError) as exc:
        warnings.append(f"benchmark {BENCHMARK_SYMBOL} not quoted: {exc}")
        return None
    price = next((benchmark_price(q) for q in quotes if q.symbol == BENCHMARK_SYMBOL), None)
    if price is None:
        warnings.append(f"benchmark {BENCHMARK_SYMBOL} has no price")
        return None
    return BenchmarkQuote(symbol=BENCHMARK_SYMBOL, price=price)


async def take_snapshot(
    client: BrokerClient,
    account: AccountConfig,
    *,
    source: AllocationSource,
    replacements: ReplacementService | None,
) -> tuple[PortfolioSnapshot, list[str]]:
    """Read ``account`` now (fresh prices), its targets and the benchmark quote.

    Returns:
        The snapshot and what could not be read (targets, benchmark), as warnings.

    Raises:
        BrokerError: The account itself could not be read.
    """
    warnings: list[str] = []
    held = await client.get_account_snapshot(account.account_id, use_cached_prices=False)
    taken_at = datetime.now(UTC)
    try:
        targets: dict[str, Decimal] | None = await read_targets(account, source, replacements)
    except (BrokerError, InvalidInputError) as exc:
        warnings.append(f"targets not recorded: {exc}")
        targets = None
    benchmark = await _benchmark(client, warnings)
    snapshot = PortfolioSnapshot.of(held, taken_at=taken_at, targets=targets, benchmark=benchmark)
    return snapshot, warnings


async def snapshot_after_run(
    client: BrokerClient, done: RebalanceResult
) -> tuple[PortfolioSnapshot | None, list[str]]:
    """The snapshot of an executed run: its final account, its plan's targets, the benchmark.

    Returns:
        The snapshot (``None`` when the run could not read the account at its end) and
        warnings.
    """
    final = done.final_snapshot
    if final is None:
        return None, ["no snapshot recorded: the run could not read the account at its end"]
    warnings: list[str] = []
    # Target weights do not depend on the account's value (weight * (1 - reserve)), so the
    # plan the run started from gives the targets of its end too. No plan: it failed before.
    targets = {line.symbol: line.target_weight for line in done.plan if line.target_weight > 0}
    benchmark = await _benchmark(client, warnings) if client.is_connected() else None
    snapshot = PortfolioSnapshot.of(
        final,
        taken_at=datetime.now(UTC),
        targets=targets if done.plan else None,
        benchmark=benchmark,
    )
    return snapshot, warnings
