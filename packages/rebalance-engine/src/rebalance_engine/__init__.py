"""Broker-agnostic rebalance engine: sell first, wait for fills, buy with the cash the sells
really freed, in rounds until the plan is empty, through any ``BrokerClient``.

Allocation sources (HTTP/``file://`` ``AllocationService``, ``StaticAllocationSource``) and
replacement sets are injected; several strategies per account are blended by weight and every
plan line and trade is attributed to its strategies. ``rebalance_engine.conformance`` is the
pytest suite that checks the engine on a connector's broker.

``AllocationService`` (and aiohttp with it) is imported on first use: the daemon uses the
engine's parsers and values but fetches no allocations itself (its workers and the quote
recorder do), and aiohttp would cost it ~11 MB of idle memory.
"""

import importlib
from typing import TYPE_CHECKING, Any

from broker_connector_base import (
    PositionDelta,
    RebalancePlan,
    StrategyAttribution,
    StrategyWeight,
)

from rebalance_engine.allocation_document import (
    MAX_ALLOCATION_SYMBOLS,
    AllocationsDocument,
    parse_allocations,
)
from rebalance_engine.halt import HaltSwitch
from rebalance_engine.models import StrategyAllocations
from rebalance_engine.planning import calculator_targets
from rebalance_engine.plans import plan_lines
from rebalance_engine.rebalancer import Rebalancer
from rebalance_engine.reconciliation import (
    OrderResolution,
    PositionReconciler,
    resolve_orders,
)
from rebalance_engine.replacement_service import Replacement, ReplacementService
from rebalance_engine.risk import RiskUsage, Violation, check_plan, plan_violations
from rebalance_engine.sources import AllocationSource, StaticAllocationSource
from rebalance_engine.targets import AccountTargets, fetch_targets

if TYPE_CHECKING:
    from rebalance_engine.allocation_service import AllocationService, AllocationServiceError

__version__ = "1.0.0"

__all__ = [
    "MAX_ALLOCATION_SYMBOLS",
    "AccountTargets",
    "AllocationService",
    "AllocationServiceError",
    "AllocationSource",
    "AllocationsDocument",
    "HaltSwitch",
    "OrderResolution",
    "PositionDelta",
    "PositionReconciler",
    "RebalancePlan",
    "Rebalancer",
    "Replacement",
    "ReplacementService",
    "RiskUsage",
    "StaticAllocationSource",
    "StrategyAllocations",
    "StrategyAttribution",
    "StrategyWeight",
    "Violation",
    "__version__",
    "calculator_targets",
    "check_plan",
    "fetch_targets",
    "parse_allocations",
    "plan_lines",
    "plan_violations",
    "resolve_orders",
]

_AIOHTTP_PARTS = ("AllocationService", "AllocationServiceError")


def __getattr__(name: str) -> Any:
    """The HTTP allocation source, imported when first asked for (PEP 562)."""
    if name not in _AIOHTTP_PARTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.allocation_service"), name)
    globals()[name] = value  # asked once: later lookups find it directly
    return value
