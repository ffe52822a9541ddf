"""Local Alpaca Trading API v2 and Market Data v2 for the unmodified ``alpaca-py`` SDK."""

from alpaca_api_sim.clock import MarketClock
from alpaca_api_sim.scenario import (
    AccountSpec,
    ClockSpec,
    FaultSpec,
    PositionSpec,
    Scenario,
    SymbolSpec,
)
from alpaca_api_sim.server import AlpacaApiSimulator
from alpaca_api_sim.state import AccountState, PositionState, SimFill, SimOrder

__version__ = "1.0.0"

__all__ = [
    "AccountSpec",
    "AccountState",
    "AlpacaApiSimulator",
    "ClockSpec",
    "FaultSpec",
    "MarketClock",
    "PositionSpec",
    "PositionState",
    "Scenario",
    "SimFill",
    "SimOrder",
    "SymbolSpec",
    "__version__",
]
