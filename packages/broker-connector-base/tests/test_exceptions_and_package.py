"""Exception tree (hierarchy, messages, pickling) and the package's import surface."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import broker_connector_base
import pytest
from broker_connector_base.exceptions import (
    AuthenticationError,
    BrokerAPIError,
    BrokerConnectionError,
    BrokerError,
    InvalidInputError,
    MarketClosedError,
    OrderExecutionError,
    RateLimitError,
    RiskLimitError,
    TradingHaltedError,
)

_EXCEPTIONS: list[tuple[Exception, dict[str, object]]] = [
    (BrokerError("boom"), {}),
    (BrokerConnectionError("gateway 127.0.0.1:4002 refused"), {}),
    (AuthenticationError("session rejected"), {}),
    (BrokerAPIError("no security definition for ZZZ", api_code="200"), {"api_code": "200"}),
    (BrokerAPIError("no code"), {"api_code": None}),
    (RateLimitError("pacing violation", api_code="100"), {"api_code": "100"}),
    (OrderExecutionError("order 17 rejected", order_id="17"), {"order_id": "17"}),
    (
        MarketClosedError("market closed", next_open="2026-11-24T14:30:00+00:00"),
        {"next_open": "2026-11-24T14:30:00+00:00"},
    ),
    (InvalidInputError("allocation 1.5 exceeds 1", source="api:/allocations/s1"), {}),
    (InvalidInputError("bad", source=None), {"source": None}),
    (
        RiskLimitError(
            "order too big", limit="max_order_value", value="9", threshold="5", symbol="SPY"
        ),
        {"limit": "max_order_value", "value": "9", "threshold": "5", "symbol": "SPY"},
    ),
    (TradingHaltedError("halted", reason="bad data"), {"reason": "bad data"}),
]


@pytest.mark.parametrize(("exc", "fields"), _EXCEPTIONS, ids=lambda v: type(v).__name__)
def test_exception_pickles_with_type_message_and_fields(
    exc: Exception, fields: dict[str, object]
) -> None:
    for copied in (pickle.loads(pickle.dumps(exc)), copy.deepcopy(exc)):
        assert type(copied) is type(exc)
        assert str(copied) == str(exc)
        assert copied.args == exc.args
        assert vars(copied) == vars(exc)
        for name, value in fields.items():
            assert getattr(copied, name) == value


def test_invalid_input_error_prefixes_source_and_is_a_value_error() -> None:
    exc = InvalidInputError("allocation 1.5 exceeds 1", source="accounts.yaml")
    assert isinstance(exc, ValueError)
    assert not isinstance(exc, BrokerError)
    assert str(exc) == "accounts.yaml: allocation 1.5 exceeds 1"
    assert exc.source == "accounts.yaml"
    assert str(pickle.loads(pickle.dumps(exc))) == "accounts.yaml: allocation 1.5 exceeds 1"


def test_exception_hierarchy_separates_input_errors_from_broker_failures() -> None:
    assert issubclass(AuthenticationError, BrokerConnectionError)
    assert issubclass(RateLimitError, BrokerAPIError)
    for cls in (BrokerConnectionError, BrokerAPIError, OrderExecutionError, MarketClosedError):
        assert issubclass(cls, BrokerError)
        assert not issubclass(cls, ValueError)


def test_exception_raised_from_cause_still_pickles() -> None:
    try:
        try:
            raise OSError("socket closed")
        except OSError as cause:
            raise BrokerConnectionError("gateway dropped the connection") from cause
    except BrokerConnectionError as exc:
        copied = pickle.loads(pickle.dumps(exc))
    assert str(copied) == "gateway dropped the connection"


def test_package_version_and_exports() -> None:
    assert broker_connector_base.__version__ == "1.0.0"
    for name in broker_connector_base.__all__:
        assert hasattr(broker_connector_base, name), name
    assert "BrokerClient" in broker_connector_base.__all__


def test_importing_package_and_fake_does_not_import_pytest() -> None:
    code = (
        "import sys, broker_connector_base, broker_connector_base.fake;"
        "bad = [m for m in ('pytest', 'hypothesis', '_pytest') if m in sys.modules];"
        "sys.exit(repr(bad) if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
