"""An account's targets: its strategies' allocations, blended by weight, then replaced.

For strategies ``k`` with weights ``W_k`` (summing to 1) and allocations ``a_k,s``, the
account's target weight of symbol ``s`` is ``Σ_k W_k · a_k,s``. A strategy whose allocations
sum to less than 1 leaves that share of its part in cash, as with one strategy
(``planning.calculator_targets`` keeps it in the reserve). The replacement set applies to the
blend, and each target symbol is attributed to the strategies whose allocations it carries,
in proportion to what each contributes: PDBC replacing DBC belongs to the strategies that
target DBC. No symbol list is involved: attribution comes from the allocations alone.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from broker_connector_base import (
    AccountConfig,
    AllocationItem,
    InstrumentRef,
    InvalidInputError,
    StrategyAttribution,
)

from rebalance_engine.models import StrategyAllocations
from rebalance_engine.replacement_service import Replacement, ReplacementService
from rebalance_engine.sources import AllocationSource

__all__ = ["AccountTargets", "blend", "fetch_targets"]

_NO_STRATEGY = StrategyAttribution()

Contributions = dict[str, dict[str, Decimal]]
"""symbol -> strategy -> the share of the account's investable value it targets."""


@dataclass(frozen=True)
class AccountTargets:
    """What an account should hold, before the cash reserve.

    Attributes:
        allocations: Target weights per symbol (fractions of the investable value), after
            blending and replacement; they may sum to less than 1 (the rest stays cash).
        attribution: The strategies each target symbol is for.
        sources: The strategies' documents, in the account's strategy order.
    """

    allocations: list[AllocationItem]
    attribution: dict[str, StrategyAttribution]
    sources: tuple[StrategyAllocations, ...]

    def instruments(self) -> list[InstrumentRef]:
        """The symbols the documents pin (``conid``/``isin``), each once.

        Raises:
            InvalidInputError: Two strategies pin one symbol to different securities.
        """
        pins: dict[str, tuple[InstrumentRef, str]] = {}
        for document in self.sources:
            for ref in document.instruments:
                earlier = pins.setdefault(ref.symbol, (ref, document.name))
                if earlier[0] != ref:
                    raise InvalidInputError(
                        f"strategies {earlier[1]} and {document.name} pin {ref.symbol} to "
                        f"different securities ({earlier[0].describe()} and {ref.describe()})",
                        source="allocations",
                    )
        return [ref for ref, _ in pins.values()]

    def attribution_of(self, symbol: str) -> StrategyAttribution:
        """The strategies ``symbol`` is for; none when no strategy targets it."""
        return self.attribution.get(symbol, _NO_STRATEGY)


async def fetch_targets(
    config: AccountConfig,
    source: AllocationSource,
    replacements: ReplacementService | None,
) -> AccountTargets:
    """Fetch every strategy of ``config`` at once and blend them.

    Raises:
        InvalidInputError: Bad allocations, or a replacement set that is not loaded.
        BrokerError: A strategy's allocations could not be fetched.
    """
    entries: list[Replacement] = []
    if config.replacement_set is not None:
        if replacements is None:
            raise InvalidInputError(
                f"account {config.account_id} uses replacement set "
                f"{config.replacement_set!r} but no replacement sets are loaded"
            )
        entries = replacements.replacements(config.replacement_set)
    documents = await _fetch_all(config, source)
    if len(documents) == 1:
        return _one_strategy(config, documents[0], replacements)
    weights = {s.name: s.weight for s in config.strategies}
    contributions = _replace(blend(weights, dict(zip(weights, documents, strict=True))), entries)
    allocations = [
        AllocationItem(symbol=symbol, allocation=min(sum(c.values(), Decimal(0)), Decimal(1)))
        for symbol, c in contributions.items()
    ]
    attribution = {symbol: StrategyAttribution.of(c) for symbol, c in contributions.items()}
    return AccountTargets(allocations, attribution, documents)


def _one_strategy(
    config: AccountConfig, document: StrategyAllocations, replacements: ReplacementService | None
) -> AccountTargets:
    """The targets of a single strategy: its allocations as they are (replaced), all its own.

    The same result as blending with weight 1, without the per-symbol arithmetic: this is the
    common case and a hot path of every preview.
    """
    items = list(document.allocations)
    if config.replacement_set is not None and replacements is not None:
        items = replacements.apply(items, config.replacement_set)
    alone = _alone(config.strategies[0].name)
    return AccountTargets(items, {i.symbol: alone for i in items if i.allocation > 0}, (document,))


@lru_cache(maxsize=256)
def _alone(strategy: str) -> StrategyAttribution:
    """All of a symbol for one strategy (a frozen value: one per name serves every preview)."""
    return StrategyAttribution(shares={strategy: Decimal(1)})


async def _fetch_all(
    config: AccountConfig, source: AllocationSource
) -> tuple[StrategyAllocations, ...]:
    names = config.strategy_names
    if len(names) == 1:
        return (await source.get_allocations(names[0]),)
    # All at once; a TaskGroup cancels the other fetches as soon as one fails. Its error
    # group is unwrapped: callers handle the source's own errors (InvalidInputError,
    # BrokerError) and report the first one, which names its strategy.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(source.get_allocations(name)) for name in names]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return tuple(task.result() for task in tasks)


def blend(
    weights: Mapping[str, Decimal], documents: Mapping[str, StrategyAllocations]
) -> Contributions:
    """Each symbol's weighted allocations, per strategy: ``W_k · a_k,s``."""
    out: Contributions = defaultdict(dict)
    for name, weight in weights.items():
        for item in documents[name].allocations:
            share = out[item.symbol]
            share[name] = share.get(name, Decimal(0)) + weight * item.allocation
    return dict(out)


def _replace(contributions: Contributions, entries: Sequence[Replacement]) -> Contributions:
    """Contributions moved from each source symbol to its target, scaled.

    What ``ReplacementService.apply`` does to the blended weights, kept per strategy: the
    sums are the same, and the strategies of a source symbol carry over to its target.
    """
    by_source = {r.source: r for r in entries}
    out: Contributions = defaultdict(dict)
    for symbol, shares in contributions.items():
        replacement = by_source.get(symbol)
        target = replacement.target if replacement is not None else symbol
        scale = replacement.scale if replacement is not None else Decimal(1)
        merged = out[target]
        for name, value in shares.items():
            merged[name] = merged.get(name, Decimal(0)) + value * scale
    return dict(out)
