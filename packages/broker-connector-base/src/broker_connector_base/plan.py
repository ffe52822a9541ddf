"""The plan vocabulary (seed 001, phase 1): what a rebalance intends per symbol and for whom.

``RebalancePlan`` is one symbol's line of a plan (shares, weights, values, the whole-share
trade), ``PositionDelta`` the same trade in shares (``RebalancePlan.delta()``),
``StrategyAttribution`` which strategies of the account hold or target the symbol. All are
frozen values with exact ``Decimal`` money and integer share deltas; the lines are built by
``rebalance_engine`` from the calculator's result and carried by
``CalculateRebalanceResult``/``RebalanceResult`` (so they cross the daemon's worker boundary
as JSON and come back equal); the deltas are derived from them.

Unlike the seed's sketch there is no 0.01-share threshold: the calculator trades whole shares,
so a delta is an ``int`` that is either 0 or at least one share, and a float threshold would
only hide rounding the exact arithmetic does not have.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from broker_connector_base.types import Money, NonNegativeMoney, Shares, Symbol, to_decimal

__all__ = [
    "STRATEGY_NAME_PATTERN",
    "DeltaAction",
    "PositionDelta",
    "RebalancePlan",
    "StrategyAttribution",
    "TradeDirection",
]

STRATEGY_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
"""A strategy name: letters, digits, ``_``, ``.`` and ``-`` (it becomes a URL path segment)."""

TradeDirection = Literal["BUY", "SELL", "HOLD"]
DeltaAction = Literal["no_change", "sell_excess", "buy_more"]

StrategyName = Annotated[str, Field(pattern=STRATEGY_NAME_PATTERN)]
Fraction = Annotated[Decimal, Field(allow_inf_nan=False)]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrategyAttribution(_Value):
    """Which strategies of an account a symbol belongs to, and in which shares.

    ``shares`` maps strategy name to its share of the symbol's target (each in (0, 1], summing
    to exactly 1). Empty means no strategy of the account targets the symbol: a position held
    for no strategy (it is being sold, or cannot be sold today).
    """

    shares: dict[StrategyName, Fraction] = Field(default_factory=dict)

    @field_validator("shares", mode="before")
    @classmethod
    def _exact_shares(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: to_decimal(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> StrategyAttribution:
        bad = {k: str(v) for k, v in self.shares.items() if not Decimal(0) < v <= 1}
        if bad:
            raise ValueError(f"strategy shares must be in (0, 1], got {bad}")
        total = sum(self.shares.values(), Decimal(0))
        if self.shares and total != 1:
            raise ValueError(f"strategy shares must sum to 1, got {total} from {self.shares}")
        return self

    @classmethod
    def of(cls, contributions: dict[str, Decimal]) -> StrategyAttribution:
        """Shares proportional to ``contributions`` (strategy -> weight); zeros are dropped.

        The division leaves the sum a few units in the 28th digit off 1; the remainder goes to
        the largest share so the shares sum to exactly 1.
        """
        positive = {k: v for k, v in contributions.items() if v > 0}
        total = sum(positive.values(), Decimal(0))
        if not positive:
            return cls()
        shares = {k: v / total for k, v in sorted(positive.items())}
        largest = max(shares, key=lambda k: (shares[k], k))
        shares[largest] += 1 - sum(shares.values(), Decimal(0))
        return cls(shares=shares)

    @property
    def strategies(self) -> tuple[str, ...]:
        """The strategy names, sorted; empty when no strategy targets the symbol."""
        return tuple(sorted(self.shares))

    def split(self, amount: Decimal) -> dict[str, Decimal]:
        """``amount`` (a value, a quantity) divided among the strategies by their shares."""
        return {name: amount * share for name, share in sorted(self.shares.items())}


def _sign(value: Decimal | int) -> int:
    return (value > 0) - (value < 0)


def _check_direction(quantity: int, direction: TradeDirection, where: str) -> None:
    expected: TradeDirection = "HOLD" if quantity == 0 else ("BUY" if quantity > 0 else "SELL")
    if direction != expected:
        raise ValueError(f"{where}: direction {direction} contradicts a trade of {quantity}")


class RebalancePlan(_Value):
    """One symbol's line of a rebalance plan.

    ``current_qty`` is the shares held (as the broker reports them, possibly fractional).
    Weights are fractions of the account's total value ``V`` (the target weight is the
    strategies' allocation scaled by ``1 - reserve``). ``trade_quantity`` is the whole-share
    trade the calculator chose (negative sells) and ``trade_amount`` its value at the planned
    price (negative for a sell); ``needs_rebalance`` is true exactly when something trades. A
    symbol off its target by less than a share, or whose trade would only pay the spread, is
    ``HOLD``. ``attribution`` is ``None`` when the plan was built without strategy
    information.
    """

    symbol: Symbol
    current_qty: Decimal = Field(default=Decimal(0), allow_inf_nan=False)
    current_weight: Fraction
    target_weight: Fraction
    current_value: Money
    target_value: NonNegativeMoney
    trade_quantity: Shares = 0
    trade_amount: Money = Decimal(0)
    direction: TradeDirection = "HOLD"
    needs_rebalance: bool = False
    attribution: StrategyAttribution | None = None

    @field_validator("current_qty", "current_weight", "target_weight", mode="before")
    @classmethod
    def _exact_weights(cls, value: object) -> object:
        return to_decimal(value)

    @model_validator(mode="after")
    def _consistent(self) -> RebalancePlan:
        _check_direction(self.trade_quantity, self.direction, self.symbol)
        if self.needs_rebalance != (self.trade_quantity != 0):
            raise ValueError(
                f"{self.symbol}: needs_rebalance={self.needs_rebalance} contradicts a trade of "
                f"{self.trade_quantity}"
            )
        if _sign(self.trade_amount) != _sign(self.trade_quantity):
            raise ValueError(
                f"{self.symbol}: trade_amount {self.trade_amount} has not the sign of "
                f"the trade of {self.trade_quantity}"
            )
        return self

    @property
    def weight_diff(self) -> Decimal:
        """``target_weight - current_weight``."""
        return self.target_weight - self.current_weight

    def delta(self) -> PositionDelta:
        """This line's change in shares, with a sentence an owner can read."""
        quantity = self.trade_quantity
        action: DeltaAction = (
            "no_change" if quantity == 0 else ("buy_more" if quantity > 0 else "sell_excess")
        )
        return PositionDelta(
            symbol=self.symbol,
            current_qty=self.current_qty,
            target_qty=self.current_qty + quantity,
            delta=quantity,
            action=action,
            quantity=abs(quantity),
            message=self._message(),
        )

    def _message(self) -> str:
        held, quantity = self.current_qty, self.trade_quantity
        who = _for_whom(self.attribution)
        if quantity > 0:
            return f"{self.symbol}: buy {quantity} shares ({held} held){who}"
        if quantity < 0:
            gone = " (target 0: liquidated)" if self.target_value == 0 else ""
            return f"{self.symbol}: sell {-quantity} of {held} shares{gone}{who}"
        return f"{self.symbol}: no change, {held} shares held{who}"


def _for_whom(attribution: StrategyAttribution | None) -> str:
    if attribution is None:
        return ""
    if not attribution.shares:
        return "; no strategy of the account targets it"
    return "; for " + ", ".join(f"{name} {share:.1%}" for name, share in attribution.shares.items())


class PositionDelta(_Value):
    """One symbol's change in shares: from ``current_qty`` by ``delta`` to ``target_qty``.

    ``current_qty`` is what the broker reports (possibly fractional); ``delta`` is the
    whole-share trade (0, or at least one share); ``quantity`` is its size.
    """

    symbol: Symbol
    current_qty: Decimal = Field(allow_inf_nan=False)
    target_qty: Decimal = Field(allow_inf_nan=False)
    delta: Shares
    action: DeltaAction
    quantity: Annotated[int, Field(ge=0)]
    message: str

    @field_validator("current_qty", "target_qty", mode="before")
    @classmethod
    def _exact_quantities(cls, value: object) -> object:
        return to_decimal(value)

    @model_validator(mode="after")
    def _consistent(self) -> PositionDelta:
        if self.target_qty != self.current_qty + self.delta:
            raise ValueError(
                f"{self.symbol}: target_qty {self.target_qty} is not current_qty "
                f"{self.current_qty} + delta {self.delta}"
            )
        expected: DeltaAction = (
            "no_change" if self.delta == 0 else ("buy_more" if self.delta > 0 else "sell_excess")
        )
        if self.action != expected or self.quantity != abs(self.delta):
            raise ValueError(
                f"{self.symbol}: action {self.action} / quantity {self.quantity} contradict "
                f"delta {self.delta}"
            )
        return self
