"""``OrderSpec`` (the order a connector sends) and ``InstrumentRef`` (a pinned symbol)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from broker_connector_base import InstrumentRef, InvalidInputError, OrderSpec
from broker_connector_base.instruments import check_isin
from pydantic import ValidationError


@pytest.mark.parametrize(
    ("order_type", "price", "priority", "message"),
    [
        ("LIMIT", None, None, "a LIMIT order needs a limit price"),
        ("MARKET", Decimal("1"), None, "a MARKET order takes no price, got 1"),
        ("MOC", Decimal("1"), None, "a MOC order takes no price"),
        ("MOC", None, "Urgent", r"a priority \(Urgent\) is for ADAPTIVE orders, not MOC"),
        ("ADAPTIVE", None, "Fast", "priority: .*got 'Fast'"),
        ("STOP", None, None, "type: .*got 'STOP'"),
        ("LIMIT", Decimal("0"), None, "must be positive, got 0"),
        ("MIDPRICE", Decimal("-1"), None, "limit_price: .*got Decimal\\('-1'\\)"),
    ],
)
def test_order_spec_of_bad_arguments_raises_invalid_input_naming_the_value(
    order_type: str, price: Decimal | None, priority: str | None, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        OrderSpec.of(order_type, limit_price=price, priority=priority)
    assert caught.value.source == "order"


def test_order_spec_validated_as_a_model_refuses_a_limit_without_price() -> None:
    with pytest.raises(ValidationError, match="needs a limit price"):
        OrderSpec(type="LIMIT")


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (OrderSpec(), "MARKET"),
        (OrderSpec(type="LIMIT", limit_price=Decimal("100.05")), "LIMIT 100.05"),
        (OrderSpec(type="MIDPRICE", limit_price=Decimal("50")), "MIDPRICE cap 50"),
        (OrderSpec(type="MIDPRICE"), "MIDPRICE"),
        (OrderSpec(type="MOC"), "MOC"),
        (OrderSpec(type="ADAPTIVE"), "ADAPTIVE Normal"),
        (OrderSpec.of("ADAPTIVE", priority="Patient"), "ADAPTIVE Patient"),
    ],
)
def test_order_spec_describe_names_type_priority_and_price(spec: OrderSpec, text: str) -> None:
    assert spec.describe() == text


def test_adaptive_order_spec_defaults_to_normal_priority() -> None:
    assert OrderSpec(type="ADAPTIVE").priority == "Normal"
    assert OrderSpec.model_validate({"type": "ADAPTIVE"}).priority == "Normal"


@pytest.mark.parametrize("isin", ["US0378331005", "US78462F1030", "IE00B4L5Y983"])
def test_check_isin_accepts_real_isins(isin: str) -> None:
    assert check_isin(isin) == isin


@pytest.mark.parametrize(
    ("isin", "message"),
    [
        ("US0378331006", "check digit 6, expected 5"),
        ("us0378331005", "is not an ISIN"),
        ("US037833100", "is not an ISIN"),
        ("1S0378331005", "is not an ISIN"),
    ],
)
def test_check_isin_refuses_malformed_or_wrong_check_digit(isin: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_isin(isin)


def test_instrument_ref_needs_something_to_pin_and_describes_it() -> None:
    with pytest.raises(ValidationError, match="give a con_id, an isin or a primary_exchange"):
        InstrumentRef(symbol="SPY")
    ref = InstrumentRef(symbol="spy", con_id=756733, isin="US78462F1030", primary_exchange="ARCA")
    assert ref.symbol == "SPY"
    assert ref.describe() == "SPY (conid 756733, ISIN US78462F1030, ARCA)"


@pytest.mark.parametrize("field", [{"con_id": 0}, {"primary_exchange": "arca"}, {"isin": "X"}])
def test_instrument_ref_refuses_bad_identifiers(field: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        InstrumentRef.model_validate({"symbol": "SPY", **field})
