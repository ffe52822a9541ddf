"""The package's shape: version, exports, and what importing it loads (no broker library)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import rebalance_engine


def test_version_is_1_0_0_and_all_names_resolve() -> None:
    assert rebalance_engine.__version__ == "1.0.0"
    for name in rebalance_engine.__all__:
        assert getattr(rebalance_engine, name) is not None, name


def _fresh_interpreter(code: str) -> str:
    """What ``code`` prints in a new interpreter (imports not shared with this test run)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_import_loads_no_broker_library_connector_or_test_framework() -> None:
    code = (
        "import sys, rebalance_engine\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "banned = {'ib_async', 'ibkr_connector', 'alpaca', 'pytest', 'ib_gateway_sim'}\n"
        "print(sorted(roots & banned))"
    )
    assert _fresh_interpreter(code).strip() == "[]"


def test_import_loads_aiohttp_only_with_the_allocation_service() -> None:
    # The daemon imports the engine but fetches no allocations: aiohttp stays out of it.
    code = (
        "import sys, rebalance_engine\n"
        "before = 'aiohttp' in sys.modules\n"
        "service = rebalance_engine.AllocationService\n"
        "print(before, 'aiohttp' in sys.modules, service.__module__)"
    )
    assert _fresh_interpreter(code).split() == [
        "False",
        "True",
        "rebalance_engine.allocation_service",
    ]


def test_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = rebalance_engine.NoSuchName
