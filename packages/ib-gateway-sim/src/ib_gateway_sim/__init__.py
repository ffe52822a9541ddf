"""IB Gateway simulator speaking the TWS API wire protocol to the unmodified ``ib_async`` client."""

from ib_gateway_sim.clock import MarketClock
from ib_gateway_sim.scenario import (
    AccountSpec,
    ClockSpec,
    FaultSpec,
    FillSpec,
    PositionSpec,
    Scenario,
    SymbolSpec,
)
from ib_gateway_sim.server import GatewaySimulator
from ib_gateway_sim.state import AccountState, PositionState, SimFill, SimOrder
from ib_gateway_sim.wire import SERVER_VERSION

__version__ = "1.0.0"

__all__ = [
    "SERVER_VERSION",
    "AccountSpec",
    "AccountState",
    "ClockSpec",
    "FaultSpec",
    "FillSpec",
    "GatewaySimulator",
    "MarketClock",
    "PositionSpec",
    "PositionState",
    "Scenario",
    "SimFill",
    "SimOrder",
    "SymbolSpec",
    "__version__",
]
