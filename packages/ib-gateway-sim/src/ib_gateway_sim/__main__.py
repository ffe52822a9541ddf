"""Command line: ``python -m ib_gateway_sim --port 4002 --scenario example``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from ib_gateway_sim.scenario import Scenario
from ib_gateway_sim.server import GatewaySimulator

logger = logging.getLogger("ib_gateway_sim")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ib_gateway_sim",
        description="IB Gateway simulator for the TWS API (ib_async clients).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="API listen address (loopback)")
    parser.add_argument("--port", type=int, default=4002, help="API port (0 picks a free one)")
    parser.add_argument(
        "--scenario", default="example", help="scenario YAML file, or a built-in name"
    )
    parser.add_argument("--control-host", default="127.0.0.1", help="control endpoint address")
    parser.add_argument(
        "--control-port", type=int, default=None, help="HTTP control port (omit: no endpoint)"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


async def _serve(sim: GatewaySimulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        control = (
            f", control http://{sim.control_host}:{sim.control_port}"
            if (sim.control_port is not None)
            else ""
        )
        # One parseable line so scripts can wait for readiness and learn an ephemeral port.
        print(f"ib_gateway_sim listening on {sim.host}:{sim.port}{control}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        scenario = Scenario.load(args.scenario)
    except (OSError, ValueError) as exc:
        print(f"cannot load scenario {args.scenario!r}: {exc}", file=sys.stderr)
        return 2
    sim = GatewaySimulator(
        scenario,
        host=args.host,
        port=args.port,
        control_host=args.control_host,
        control_port=args.control_port,
    )
    asyncio.run(_serve(sim))
    return 0


if __name__ == "__main__":
    sys.exit(main())
