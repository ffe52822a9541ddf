"""``python -m fake_ably_server --port 0``: serve until SIGINT/SIGTERM.

Prints ``FAKE_ABLY_PORT=<port>`` as the first stdout line (flushed) so a parent process can
read the ephemeral port, then serves the websocket and the HTTP routes of ``fake_ably_server.rest``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from fake_ably_server.channel_history import DEFAULT_RETENTION_SECS
from fake_ably_server.server import FakeAblyServer


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fake_ably_server", description=__doc__)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0 only in a container)"
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 = any free")
    parser.add_argument("--api-key", default=None, help="reject clients with another key (40101)")
    parser.add_argument("--heartbeat-secs", type=float, default=None, help="send heartbeats")
    parser.add_argument(
        "--history-retention-secs",
        type=float,
        default=DEFAULT_RETENTION_SECS,
        help="how long messages stay in history (Ably: 120 without persisted history)",
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    server = FakeAblyServer(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        heartbeat_every_secs=args.heartbeat_secs,
        history_retention_secs=args.history_retention_secs,
    )
    await server.start()
    print(f"FAKE_ABLY_PORT={server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the fake until interrupted; return the exit status."""
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
