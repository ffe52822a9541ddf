"""Seed test 6: a second preview, in a new Python process, uses the first one's cached prices."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from ib_gateway_sim import GatewaySimulator
from ibkr_connector import AllocationService, IBKRClient, IBKRRebalancer
from ibkr_connector.testing import account_config, allocation_document, dumps_document

pytestmark = pytest.mark.timeout(60)

_SECOND_PREVIEW = """
import asyncio, json, logging, sys, time
from pathlib import Path
from ibkr_connector import AllocationService, IBKRClient, IBKRConnectionConfig, IBKRRebalancer
from ibkr_connector.testing import account_config

async def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    port, data_dir, allocations = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    started = time.perf_counter()
    client = IBKRClient(IBKRConnectionConfig(client_id=12, port=port, data_dir=data_dir,
                                             connect_retries=0))
    await client.connect()
    try:
        rebalancer = IBKRRebalancer(
            client, allocation_service=AllocationService(allocations.as_uri())
        )
        preview = await rebalancer.calculate_rebalance(account_config())
    finally:
        await client.disconnect()
    trades = {t.symbol: t.quantity for t in preview.proposed_trades}
    print(json.dumps({"trades": trades, "secs": time.perf_counter() - started}))

asyncio.run(main())
"""


async def test_second_process_preview_uses_cached_prices_and_logs_it(
    sim: GatewaySimulator, client: IBKRClient, tmp_path: Path
) -> None:
    folder = tmp_path / "allocations"
    (folder / "etf-blend").mkdir(parents=True)
    (folder / "etf-blend" / "allocations.json").write_text(
        dumps_document(allocation_document("etf-blend", {"SPY": "0.5", "AGG": "0.5"}))
    )
    rebalancer = IBKRRebalancer(client, allocation_service=AllocationService(folder.as_uri()))
    started = time.perf_counter()
    first = await rebalancer.calculate_rebalance(account_config())
    first_secs = time.perf_counter() - started
    expected = {t.symbol: t.quantity for t in first.proposed_trades}
    # A fresh quote would now change the AGG buy; a cached one does not.
    sim.set_price("AGG", bid=Decimal("50.00"), ask=Decimal("50.02"))

    data_dir = client.config.data_dir
    assert data_dir is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SECOND_PREVIEW,
        str(sim.port),
        str(data_dir),
        str(folder),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 45)
    log = err.decode()
    assert proc.returncode == 0, log
    second = json.loads(out)
    for symbol in ("AGG", "SPY", "TLT", "GLD"):
        assert f"Using cached price for {symbol}" in log
    assert second["trades"] == expected
    print(f"first preview {first_secs:.3f} s in-process; second process {second['secs']:.3f} s")
