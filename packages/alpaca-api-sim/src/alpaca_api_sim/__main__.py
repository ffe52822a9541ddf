"""Command line: ``python -m alpaca_api_sim --scenario example --port 0``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from alpaca_api_sim.scenario import Scenario
from alpaca_api_sim.server import AlpacaApiSimulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alpaca_api_sim",
        description="Local Alpaca Trading API v2 + Market Data v2 for alpaca-py clients.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback)")
    parser.add_argument("--port", type=int, default=0, help="listen port (0 picks a free one)")
    parser.add_argument(
        "--scenario", default="example", help="scenario YAML file, or a built-in name"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


async def _serve(sim: AlpacaApiSimulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        # One parseable line so scripts can wait for readiness and learn an ephemeral port.
        print(f"alpaca_api_sim listening on {sim.base_url}", flush=True)
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
    asyncio.run(_serve(AlpacaApiSimulator(scenario, host=args.host, port=args.port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
