"""Where a rebalancer gets target allocations: the ``AllocationSource`` protocol.

The rebalancer is handed a source instead of building one, so the daemon passes the HTTP (or
``file://``) ``AllocationService``, a backtest passes allocations it replays, and tests pass
``StaticAllocationSource``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from broker_connector_base import AllocationItem, InvalidInputError

from rebalance_engine.models import StrategyAllocations

__all__ = ["AllocationSource", "StaticAllocationSource"]


@runtime_checkable
class AllocationSource(Protocol):
    """Gives the latest target allocations of a strategy."""

    async def get_allocations(self, strategy_name: str) -> StrategyAllocations:
        """The validated allocations of ``strategy_name``.

        Raises:
            InvalidInputError: Unknown strategy or an invalid document (names the value).
            BrokerError: The source could not be reached (e.g. ``AllocationServiceError``).
        """
        ...


class StaticAllocationSource:
    """Allocations held in memory: ``{strategy: {symbol: weight}}`` or full documents.

    Args:
        strategies: Each strategy's allocations, as a ``StrategyAllocations`` or as a
            mapping of symbol to weight.
    """

    def __init__(
        self, strategies: Mapping[str, StrategyAllocations | Mapping[str, object]] | None = None
    ) -> None:
        self._strategies: dict[str, StrategyAllocations] = {}
        for name, value in (strategies or {}).items():
            self.set(name, value)
        self.requests: list[str] = []
        """Every strategy name asked for, in order (for tests)."""

    def set(self, name: str, value: StrategyAllocations | Mapping[str, object]) -> None:
        """Replace the allocations of strategy ``name``."""
        if isinstance(value, StrategyAllocations):
            self._strategies[name] = value
            return
        self._strategies[name] = StrategyAllocations(
            name=name,
            strategy_long_name=name,
            last_rebalance_on="",
            allocations=_items(value.items()),
        )

    async def get_allocations(self, strategy_name: str) -> StrategyAllocations:
        """The allocations set for ``strategy_name``.

        Raises:
            InvalidInputError: No allocations were set for it.
        """
        self.requests.append(strategy_name)
        try:
            return self._strategies[strategy_name]
        except KeyError:
            known = ", ".join(sorted(self._strategies)) or "none"
            raise InvalidInputError(
                f"no allocations for strategy {strategy_name!r} (known: {known})",
                source="static allocation source",
            ) from None


def _items(weights: Iterable[tuple[str, object]]) -> list[AllocationItem]:
    return [AllocationItem.model_validate({"symbol": s, "allocation": w}) for s, w in weights]
