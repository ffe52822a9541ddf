"""Configuration models: a brokerage account (and the strategies it follows), a connection.

Re-exported by ``broker_connector_base.models``, where callers import them from.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from broker_connector_base.order_policy import (
    ACCOUNT_ORDER_TYPES,
    AccountOrderType,
    OrderOptions,
    applicable_options,
)
from broker_connector_base.order_spec import OrderType
from broker_connector_base.plan import STRATEGY_NAME_PATTERN
from broker_connector_base.risk_limits import RiskLimits
from broker_connector_base.types import NonNegativeMoney, to_decimal

__all__ = ["AccountConfig", "BrokerConnectionConfig", "CommissionScheduleName", "StrategyWeight"]

CommissionScheduleName = Literal["ibkr_pro_fixed", "ibkr_pro_tiered", "ibkr_lite", "zero"]
"""The commission schedules the calculator can price orders with
(``rebalance_calculator.commissions`` holds the models and their sources)."""


class _Value(BaseModel):
    """Immutable value object."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_STRATEGY_NAME_RE = re.compile(STRATEGY_NAME_PATTERN)


class StrategyWeight(_Value):
    """One strategy an account follows, and the fraction of the account's value it gets."""

    name: Annotated[str, Field(pattern=STRATEGY_NAME_PATTERN)]
    weight: Annotated[Decimal, Field(gt=0, le=1, allow_inf_nan=False)]

    @field_validator("weight", mode="before")
    @classmethod
    def _exact_weight(cls, value: object) -> object:
        return to_decimal(value)


class AccountConfig(_Value):
    """One brokerage account as configured in ``accounts.yaml``.

    The account follows one strategy (``strategy_name: X``, read as ``strategies:
    [{name: X, weight: 1}]``) or several (``strategies: [{name: A, weight: 0.6}, {name: B,
    weight: 0.4}]``: weights in (0, 1] summing to exactly 1, names unique); exactly one of the
    two forms is given. ``strategies`` always lists them; ``strategy_name`` is the single
    strategy's name, or for several the names joined by ``+`` (never a valid strategy name,
    so never sent to an allocations API); ``strategy_names`` lists every name.
    ``type`` is what the account is (paper or live); the daemon trades it only when it equals
    the daemon's ``TRADING_MODE``, so a live account needs "live" said twice.
    ``min_trade_value`` (dollars) and ``drift_band_percent`` (percent of account value) are
    optional calculator thresholds, off (0) by default. ``commission_schedule`` is what the
    calculator prices each order with; ``None`` means the broker's default
    (``rebalance_calculator.default_commission_schedule``: ``ibkr_pro_fixed`` for ``ibkr``,
    ``zero`` for ``alpaca``). ``order_type`` (``market``, ``limit``, ``midprice``, ``moc``,
    ``adaptive``) and ``order_options`` say how its orders are sent
    (``broker_connector_base.order_policy``); the broker must support the type, which the
    daemon checks when it loads the accounts. ``risk_limits`` are the pre-trade limits every
    plan of the account must keep (``RiskLimits``; defaults no normal rebalance reaches).
    """

    account_id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
    type: Literal["paper", "live"]
    enabled: bool = True
    # Derived from ``strategies`` (see the class docstring); left out of dumps so that a
    # dumped config validates again as the form ``strategies``.
    strategy_name: str = Field(default="", exclude=True)
    strategies: tuple[StrategyWeight, ...] = ()
    cash_reserve_percent: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)] = Decimal(1)
    replacement_set: str | None = None
    pdt_protection_enabled: bool = False
    broker: str = "ibkr"
    min_trade_value: NonNegativeMoney = Decimal(0)
    drift_band_percent: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)] = Decimal(0)
    commission_schedule: CommissionScheduleName | None = None
    risk_limits: RiskLimits = RiskLimits()
    order_type: AccountOrderType = "market"
    order_options: OrderOptions = OrderOptions()

    @model_validator(mode="before")
    @classmethod
    def _one_strategy_form(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        has_name, has_list = "strategy_name" in data, "strategies" in data
        if has_name and has_list:
            raise ValueError(
                "give strategy_name (one strategy) or strategies (several, with weights), "
                f"not both (strategy_name={data['strategy_name']!r})"
            )
        if not has_name and not has_list:
            raise ValueError(
                "strategy_name (one strategy) or strategies (several, with weights) is required"
            )
        if has_name:
            name = data["strategy_name"]
            if not isinstance(name, str) or not _STRATEGY_NAME_RE.match(name):
                raise ValueError(
                    f"strategy_name {name!r} is not a strategy name (letters, digits, '_', '.', "
                    "'-'; 1 to 128 characters)"
                )
            return {**data, "strategies": ({"name": name, "weight": Decimal(1)},)}
        entries = data["strategies"]
        # YAML and JSON give a list; strict validation (documents) takes the tuple only.
        entries = tuple(entries) if isinstance(entries, list) else entries
        return {**data, "strategies": entries, "strategy_name": _label(entries)}

    @field_validator("strategies")
    @classmethod
    def _weights_sum_to_one(cls, value: tuple[StrategyWeight, ...]) -> tuple[StrategyWeight, ...]:
        if not value:
            raise ValueError("must list at least one strategy")
        names = [s.name for s in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"strategy names must be unique; repeated: {', '.join(repeated)}")
        total = sum((s.weight for s in value), Decimal(0))
        if total != 1:
            terms = " + ".join(f"{s.name} {s.weight}" for s in value)
            raise ValueError(f"strategy weights must sum to exactly 1, got {total} ({terms})")
        return value

    @field_serializer("order_options")
    def _options_as_given(self, options: OrderOptions) -> dict[str, object]:
        # Only what was set: a dump validates again (the worker's request) without defaults
        # of other order types' options looking like misplaced settings.
        return options.model_dump(exclude_unset=True)

    @model_validator(mode="after")
    def _options_of_the_order_type(self) -> AccountConfig:
        misplaced = sorted(
            self.order_options.model_fields_set - applicable_options(self.order_type)
        )
        if misplaced:
            applies = ", ".join(sorted(applicable_options(self.order_type))) or "none"
            raise ValueError(
                f"order_options {', '.join(misplaced)} do not apply to order_type "
                f"{self.order_type!r} (its options: {applies})"
            )
        return self

    @property
    def broker_order_type(self) -> OrderType:
        """The contract's ``OrderType`` that ``order_type`` sends (``limit`` -> ``LIMIT``)."""
        return ACCOUNT_ORDER_TYPES[self.order_type]

    @property
    def strategy_names(self) -> tuple[str, ...]:
        """Every strategy the account follows, in configuration order."""
        return tuple(s.name for s in self.strategies)

    @field_validator("cash_reserve_percent", "drift_band_percent", mode="before")
    @classmethod
    def _exact_percent(cls, value: object) -> object:
        return to_decimal(value)

    @field_validator("broker")
    @classmethod
    def _lower_broker(cls, value: str) -> str:
        value = value.strip().lower()
        if not value:
            raise ValueError("broker must not be empty")
        return value

    @field_validator("replacement_set")
    @classmethod
    def _non_empty_set(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("replacement_set must be a set name or absent, not empty")
        return value.strip() if value is not None else None


def _label(entries: object) -> str:
    """``strategy_name`` of a ``strategies`` list as given: the names joined by ``+``.

    Entries that are not well formed give a partial label; validating ``strategies`` then
    refuses them anyway.
    """
    if not isinstance(entries, list | tuple):
        return ""
    names = []
    for entry in entries:
        name = entry.name if isinstance(entry, StrategyWeight) else None
        if isinstance(entry, dict):
            name = entry.get("name")
        names.append(name if isinstance(name, str) else "?")
    return "+".join(names)


class BrokerConnectionConfig(_Value):
    """Broker-agnostic connection settings; each connector extends it with its own fields."""

    broker_type: str = Field(min_length=1)
    trading_mode: Literal["paper", "live"]
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    timeout_secs: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 30.0
