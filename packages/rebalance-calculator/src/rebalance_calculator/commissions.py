"""Commission schedules: what one order costs in commission and fees, estimated exactly.

Every schedule has the same shape, the one Interactive Brokers publishes for US stocks and ETFs
(https://www.interactivebrokers.com/en/pricing/commissions-stocks.php), for an order of ``q``
shares at ``price`` (trade value ``v = q * price``):

* commission ``c = min(max(per_share * q, minimum), maximum_rate * v)``: the per-order minimum,
  capped at a percentage of the trade value (when the cap is below the minimum, the cap is
  charged: 1 share at $5 costs 1 % of $5 = $0.05 under IBKR Pro Fixed);
* pass-through fees ``c * pass_through_rate`` (tiered only);
* per-share fees on every order: clearing, the FINRA Consolidated Audit Trail fee and, for
  tiered, the exchange fee (``min(exchange_per_share, exchange_rate * price)`` per share);
* on sales only: the SEC transaction fee ``sec_rate * v`` and the FINRA Trading Activity Fee
  ``min(taf_per_share * q, taf_maximum)``.

The total is rounded **up** to the cent: the estimate is the cash an order must leave room
for, so however the broker rounds a fraction of a cent, the estimate is not below it.
Regulatory rates change (the SEC resets its fee each fiscal year); the figures below are the
ones IB's page listed when this was written, and a lower current rate only makes the estimate
err high.

The calculator searches on integer micro-dollars: :meth:`CommissionModel.bound` gives a
piecewise-linear upper bound of :meth:`CommissionModel.estimate` for one price, cheap to
evaluate, and the final plan is re-checked with the exact estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from types import MappingProxyType

from broker_connector_base import AccountConfig, CommissionScheduleName, InvalidInputError
from broker_connector_base.types import CENT

__all__ = [
    "BROKER_DEFAULT_SCHEDULES",
    "COMMISSION_SCHEDULES",
    "IBKR_LITE",
    "IBKR_PRO_FIXED",
    "IBKR_PRO_TIERED",
    "ZERO",
    "CommissionModel",
    "OrderCostBound",
    "commission_model",
    "default_commission_schedule",
    "resolve_commission_schedule",
]

_MICROS = 1_000_000
_CENT_MICROS = 10_000
_ZERO = Decimal(0)
_UNBOUNDED = 2**62


def _ceil_micros(value: Decimal) -> int:
    return int((value * _MICROS).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class OrderCostBound:
    """An upper bound of one side's order cost at one price, in integer micro-dollars.

    For ``q >= 1`` shares it is ``min(max(A q, M), C q) + B q + min(T q, T_max) + rounding``
    (``C`` absent: no cap), and 0 for ``q = 0``. Every coefficient is the exact one rounded up
    and ``rounding`` is one cent when anything is charged, so the bound is at least the exact
    estimate rounded up to the cent. It is linear in ``q`` between a few breakpoints, which is
    what lets the search move many shares at once.

    Attributes:
        per_share: ``A``.
        minimum: ``M``.
        maximum_per_share: ``C``, or ``None`` without a cap.
        fees_per_share: ``B``.
        capped_per_share: ``T`` (the FINRA TAF on sales).
        capped_maximum: ``T_max``.
        rounding: One cent (10,000 micros) when the schedule charges anything, else 0.
    """

    per_share: int
    minimum: int
    maximum_per_share: int | None
    fees_per_share: int
    capped_per_share: int
    capped_maximum: int
    rounding: int
    _points: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Where the slope may change (M/A, M/C, T_max/T), as (floor, ceiling) integer pairs.
        fractions = [(self.minimum, self.per_share), (self.capped_maximum, self.capped_per_share)]
        if self.maximum_per_share is not None:
            fractions.append((self.minimum, self.maximum_per_share))
        points = tuple((n // d, -(-n // d)) for n, d in fractions if d > 0)
        object.__setattr__(self, "_points", points)

    def __call__(self, quantity: int) -> int:
        """The bound for ``quantity`` shares (0 for none)."""
        if quantity <= 0:
            return 0
        # Comparisons rather than min()/max(): the search calls this in its inner loop.
        commission = self.per_share * quantity
        if commission < self.minimum:
            commission = self.minimum
        cap = self.maximum_per_share
        if cap is not None and cap * quantity < commission:
            commission = cap * quantity
        capped = self.capped_per_share * quantity
        if capped > self.capped_maximum:
            capped = self.capped_maximum
        return commission + self.fees_per_share * quantity + capped + self.rounding

    def step(self, shares: int, away: bool) -> tuple[int, int]:
        """The change of the bound per share, and for how many shares it stays that.

        From an order of ``shares``, ``away`` adds shares, else removes them. The share from
        or to zero is a run of its own (it carries the per-order minimum and the rounding); a
        run of 1 is returned where a breakpoint falls inside the next share.

        Returns:
            (change of the bound for each share of the run, shares in the run >= 1).
        """
        here = self(shares)
        if away:
            change = self(shares + 1) - here
            if shares == 0:
                return change, 1
            run = _UNBOUNDED
            for floor, ceiling in self._points:
                if ceiling > shares and floor - shares < run:  # a breakpoint beyond
                    run = floor - shares
        else:
            change = self(shares - 1) - here
            run = shares - 1  # the last share, to zero, is a run of its own
            for floor, ceiling in self._points:
                if floor < shares and shares - ceiling < run:  # a breakpoint below
                    run = shares - ceiling
        return change, run if run > 1 else 1


@dataclass(frozen=True, slots=True)
class CommissionModel:
    """One commission schedule (see the module docstring for the formula).

    Attributes:
        name: The schedule's name in ``AccountConfig.commission_schedule``.
        per_share: Commission per share.
        minimum: Commission per order at least (before the cap).
        maximum_rate: Commission at most this fraction of the trade value; ``None``: no cap.
        pass_through_rate: Fees proportional to the commission (NYSE and FINRA pass-through).
        per_share_fees: Clearing and CAT fees per share, on every order.
        exchange_per_share: Exchange fee per share, on every order.
        exchange_rate: Exchange fee at most this fraction of the price (sub-dollar stocks).
        sec_rate: SEC transaction fee, a fraction of the value of sales.
        taf_per_share: FINRA Trading Activity Fee per share sold.
        taf_maximum: FINRA Trading Activity Fee at most this per order.
    """

    name: CommissionScheduleName
    per_share: Decimal = _ZERO
    minimum: Decimal = _ZERO
    maximum_rate: Decimal | None = None
    pass_through_rate: Decimal = _ZERO
    per_share_fees: Decimal = _ZERO
    exchange_per_share: Decimal = _ZERO
    exchange_rate: Decimal = _ZERO
    sec_rate: Decimal = _ZERO
    taf_per_share: Decimal = _ZERO
    taf_maximum: Decimal = _ZERO
    _parts: _FixedParts = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # What every bound of this schedule shares whatever the price, computed once: the
        # search asks for two bounds per line of every plan.
        scale = 1 + self.pass_through_rate
        rates = (self.per_share, self.minimum, self.per_share_fees, self.exchange_per_share)
        is_zero = not any(rates) and not self.sec_rate and not self.taf_per_share
        parts = _FixedParts(
            is_zero=is_zero,
            scale=scale,
            per_share=_ceil_micros(self.per_share * scale),
            minimum=_ceil_micros(self.minimum * scale),
            taf_per_share=_ceil_micros(self.taf_per_share),
            taf_maximum=_ceil_micros(self.taf_maximum),
            rounding=0 if is_zero else _CENT_MICROS,
        )
        object.__setattr__(self, "_parts", parts)

    @property
    def is_zero(self) -> bool:
        """True when every order is free (no commission, no fee)."""
        return self._parts.is_zero

    def commission(self, shares: int, price: Decimal) -> Decimal:
        """The broker's commission alone (no fee, not rounded), as IB's examples show it."""
        commission = max(self.per_share * shares, self.minimum) if shares else _ZERO
        if self.maximum_rate is not None:
            commission = min(commission, self.maximum_rate * shares * price)
        return commission

    def _per_share_fee(self, price: Decimal) -> Decimal:
        return self.per_share_fees + min(self.exchange_per_share, self.exchange_rate * price)

    def estimate(self, quantity: int, price: Decimal) -> Decimal:
        """Commission and fees of one order, rounded up to the cent.

        Args:
            quantity: Shares; negative sells (sales also pay the SEC fee and FINRA TAF).
            price: The price the order is expected to fill at.

        Returns:
            ``Decimal`` with two places; ``0.00`` for ``quantity == 0`` or a free schedule.
        """
        shares = abs(quantity)
        if shares == 0 or self.is_zero:
            return _ZERO.quantize(CENT)
        value = shares * price
        total = self.commission(shares, price) * (1 + self.pass_through_rate)
        total += shares * self._per_share_fee(price)
        if quantity < 0:
            total += self.sec_rate * value + min(self.taf_per_share * shares, self.taf_maximum)
        return total.quantize(CENT, rounding=ROUND_CEILING)

    def bound(self, price: Decimal, *, sell: bool) -> OrderCostBound:
        """The integer upper bound of :meth:`estimate` for orders at ``price`` on one side."""
        parts = self._parts
        fees = _ceil_micros(self._per_share_fee(price))
        if sell:
            fees += _ceil_micros(self.sec_rate * price)
        rate = self.maximum_rate
        cap = None if rate is None else _ceil_micros(rate * price * parts.scale)
        return OrderCostBound(
            per_share=parts.per_share,
            minimum=parts.minimum,
            maximum_per_share=cap,
            fees_per_share=fees,
            capped_per_share=parts.taf_per_share if sell else 0,
            capped_maximum=parts.taf_maximum if sell else 0,
            rounding=parts.rounding,
        )


@dataclass(frozen=True, slots=True)
class _FixedParts:
    """The parts of a schedule's bounds that do not depend on the price (micro-dollars)."""

    is_zero: bool
    scale: Decimal
    per_share: int
    minimum: int
    taf_per_share: int
    taf_maximum: int
    rounding: int


# Regulatory fees IB passes through on its US stock schedules (its page's "Regulatory Fees"):
# SEC transaction fee USD 0.0000278 * value of aggregate sales, FINRA Trading Activity Fee
# USD 0.000166 * quantity sold (at most USD 8.30 per trade, FINRA By-Laws Schedule A), FINRA
# Consolidated Audit Trail fee USD 0.000072 * quantity.
_SEC_RATE = Decimal("0.0000278")
_TAF_PER_SHARE = Decimal("0.000166")
_TAF_MAXIMUM = Decimal("8.30")
_CAT_PER_SHARE = Decimal("0.000072")

IBKR_PRO_FIXED = CommissionModel(
    name="ibkr_pro_fixed",
    # IB page, "Fixed": USD 0.005 per share, minimum USD 1.00, maximum 1 % of trade value;
    # exchange and clearing fees are included, regulatory fees are not. IB's own examples:
    # 100 shares at USD 25 = USD 1.00; 1,000 at USD 25 = USD 5.00; 1,000 at USD 0.25 = USD 2.50.
    per_share=Decimal("0.005"),
    minimum=Decimal("1.00"),
    maximum_rate=Decimal("0.01"),
    per_share_fees=_CAT_PER_SHARE,
    sec_rate=_SEC_RATE,
    taf_per_share=_TAF_PER_SHARE,
    taf_maximum=_TAF_MAXIMUM,
)
"""IBKR Pro, fixed pricing (the default for ``broker: ibkr``)."""

IBKR_PRO_TIERED = CommissionModel(
    name="ibkr_pro_tiered",
    # IB page, "Tiered": USD 0.0035 per share for the first 300,000 shares a month (the highest
    # tier: larger monthly volumes pay less, so this errs high), minimum USD 0.35, maximum 1 %
    # of trade value; plus NYSE (0.000175) and FINRA (0.000563) pass-through fees on the
    # commission, NSCC/DTC clearing USD 0.00020 per share, and exchange fees. The exchange fee
    # is approximated by the most a marketable order can be charged for taking liquidity on a
    # lit venue (Reg NMS Rule 610(c)): USD 0.0030 per share, 0.3 % of the price below USD 1.
    # Venues that charge less, or pay rebates, make the estimate err high.
    per_share=Decimal("0.0035"),
    minimum=Decimal("0.35"),
    maximum_rate=Decimal("0.01"),
    pass_through_rate=Decimal("0.000738"),
    per_share_fees=Decimal("0.00020") + _CAT_PER_SHARE,
    exchange_per_share=Decimal("0.0030"),
    exchange_rate=Decimal("0.003"),
    sec_rate=_SEC_RATE,
    taf_per_share=_TAF_PER_SHARE,
    taf_maximum=_TAF_MAXIMUM,
)
"""IBKR Pro, tiered pricing, at the first (most expensive) volume tier."""

IBKR_LITE = CommissionModel(
    name="ibkr_lite",
    # IBKR Lite: no commission on US exchange-listed stocks and ETFs; the regulatory fees are
    # still passed through.
    per_share_fees=_CAT_PER_SHARE,
    sec_rate=_SEC_RATE,
    taf_per_share=_TAF_PER_SHARE,
    taf_maximum=_TAF_MAXIMUM,
)
"""IBKR Lite: commission-free US stocks and ETFs, regulatory fees only."""

ZERO = CommissionModel(name="zero")
"""No commission and no fee (Alpaca's default; or an explicit opt-out)."""

COMMISSION_SCHEDULES: MappingProxyType[CommissionScheduleName, CommissionModel] = MappingProxyType(
    {model.name: model for model in (IBKR_PRO_FIXED, IBKR_PRO_TIERED, IBKR_LITE, ZERO)}
)
"""Every schedule by name; the names are those ``AccountConfig.commission_schedule`` accepts."""

BROKER_DEFAULT_SCHEDULES: MappingProxyType[str, CommissionScheduleName] = MappingProxyType(
    {"ibkr": "ibkr_pro_fixed", "alpaca": "zero"}
)
"""The schedule an account of each broker is priced with when it names none."""


def default_commission_schedule(broker: str) -> CommissionScheduleName:
    """The schedule of a ``broker`` account without ``commission_schedule``.

    ``ibkr`` accounts default to ``ibkr_pro_fixed`` (IBKR Pro is what the API requires;
    fixed is its default pricing), ``alpaca`` accounts to ``zero``.

    Raises:
        InvalidInputError: No default is known for ``broker``; the account must name one.
    """
    try:
        return BROKER_DEFAULT_SCHEDULES[broker]
    except KeyError:
        names = ", ".join(COMMISSION_SCHEDULES)
        raise InvalidInputError(
            f"no default commission schedule for broker {broker!r}; set commission_schedule "
            f"to one of: {names}",
            source="account config",
        ) from None


def resolve_commission_schedule(
    account_config: AccountConfig, override: CommissionScheduleName | None = None
) -> CommissionScheduleName:
    """``override``, else the account's ``commission_schedule``, else its broker's default.

    Raises:
        InvalidInputError: Neither names a schedule and the broker has no default.
    """
    if override is not None:
        return override
    if account_config.commission_schedule is not None:
        return account_config.commission_schedule
    return default_commission_schedule(account_config.broker)


def commission_model(name: CommissionScheduleName) -> CommissionModel:
    """The model of the schedule called ``name``."""
    return COMMISSION_SCHEDULES[name]
