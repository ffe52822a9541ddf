"""The package's shape: version, exports, and what importing it loads (no broker library)."""

from __future__ import annotations

import subprocess
import sys

import rebalance_engine


def test_version_is_1_0_0_and_all_names_resolve() -> None:
    assert rebalance_engine.__version__ == "1.0.0"
    for name in rebalance_engine.__all__:
        assert getattr(rebalance_engine, name) is not None, name


def test_import_loads_no_broker_library_connector_or_test_framework() -> None:
    code = (
        "import sys, rebalance_engine\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "banned = {'ib_async', 'ibkr_connector', 'alpaca', 'pytest', 'ib_gateway_sim'}\n"
        "print(sorted(roots & banned))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
