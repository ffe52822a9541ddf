"""The simulator's observable state as JSON-friendly data (``GET /state``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ib_gateway_sim.server import GatewaySimulator

_QUOTE = {"con_id", "bid", "ask", "last", "close"}


def build_snapshot(sim: GatewaySimulator) -> dict[str, Any]:
    """Clock, accounts, every order, quotes, faults and fill settings of ``sim``."""
    engine, clock = sim.engine, sim.clock
    return {
        "server_version": sim.server_version,
        "port": sim.port,
        "clients": sim.client_ids(),
        "clock": {
            "now": clock.now().isoformat(),
            "real_time": clock.is_real_time,
            "always_open": clock.always_open,
            "liquid": clock.is_liquid(),
        },
        "accounts": {n: a.to_dict(engine.symbols) for n, a in engine.accounts.items()},
        "orders": [o.to_dict() for o in sim.orders()],
        "symbols": {
            n: s.model_dump(mode="json", include=_QUOTE) for n, s in engine.symbols.items()
        },
        "faults": engine.faults.model_dump(mode="json"),
        "fills": engine.fill_spec.model_dump(mode="json"),
    }
