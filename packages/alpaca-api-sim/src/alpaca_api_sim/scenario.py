"""Scenario file: accounts (each with its API key pair), symbols, market clock and faults.

Numbers in the YAML are read as ``Decimal`` straight from their text (``589.10`` stays
``Decimal("589.10")``), so no binary-float artefact ever reaches cash or prices.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "EXCHANGES",
    "AccountSpec",
    "ClockSpec",
    "FaultSpec",
    "PositionSpec",
    "Scenario",
    "SymbolSpec",
]

EXCHANGES = frozenset({"AMEX", "ARCA", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "OTC"})
"""Listing exchanges alpaca-py's ``AssetExchange`` accepts for a US equity."""

_Money = Annotated[Decimal, Field(allow_inf_nan=False)]
_Price = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader that turns YAML floats into Decimal from their source text."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    return Decimal(text.replace("_", ""))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PositionSpec(_Model):
    """A starting long position: whole shares and average entry price per share."""

    quantity: Annotated[int, Field(gt=0)]
    avg_entry_price: _Price = Decimal(0)


class AccountSpec(_Model):
    """One Alpaca account, reached with its own API key pair.

    ``account_type`` ``cash`` (multiplier 1: cash never goes negative) or ``margin``
    (multiplier 2). ``daytrade_count`` and ``pattern_day_trader`` are the starting PDT state;
    the simulator counts further day trades itself.
    """

    key_id: Annotated[str, Field(min_length=1)]
    secret_key: Annotated[str, Field(min_length=1)]
    cash: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
    account_type: Literal["cash", "margin"] = "cash"
    status: str = "ACTIVE"
    pattern_day_trader: bool = False
    daytrade_count: Annotated[int, Field(ge=0)] = 0
    trading_blocked: bool = False
    positions: dict[str, PositionSpec] = Field(default_factory=dict)


class SymbolSpec(_Model):
    """A tradable US equity and its quote; a zero or absent bid/ask means "no quote"."""

    exchange: str = "ARCA"
    name: str = ""
    bid: _Price | None = None
    ask: _Price | None = None
    last: _Price | None = None
    close: _Price | None = None
    bid_size: Annotated[int, Field(ge=0)] = 100
    ask_size: Annotated[int, Field(ge=0)] = 100
    fractionable: bool = True

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        if value not in EXCHANGES:
            raise ValueError(f"exchange {value!r} is not one of {sorted(EXCHANGES)}")
        return value


class ClockSpec(_Model):
    """Market clock.

    ``time`` unset means real time; set, the clock is frozen at that instant until moved.
    ``always_open`` (the default) makes every minute a market minute so runs do not depend on
    when they happen; set it false for weekday sessions ``open``-``close`` New York time,
    with ``holidays`` closed and ``early_closes`` ending early.
    """

    time: dt.datetime | None = None
    always_open: bool = True
    open: dt.time = dt.time(9, 30)
    close: dt.time = dt.time(16, 0)
    holidays: list[dt.date] = Field(default_factory=list)
    early_closes: dict[dt.date, dt.time] = Field(default_factory=dict)

    @field_validator("time")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("clock.time must carry a UTC offset, e.g. 2026-11-23T10:00:00-05:00")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> ClockSpec:
        if self.open >= self.close:
            raise ValueError(f"clock.open {self.open} must be before clock.close {self.close}")
        return self


class FaultSpec(_Model):
    """Faults; every field can also be changed at run time (``AlpacaApiSimulator.set_faults``).

    Attributes:
        partial_fill_parts: N > 1: every fill comes in N parts.
        partial_fill_stop_after: k: stop after k parts; the rest keeps working.
        partial_fill_interval_secs: pause between parts.
        fill_delay_secs: marketable orders are acknowledged, then fill after this delay.
        reject_symbols: orders for these symbols are accepted, then rejected.
        no_quote_symbols: latest quotes of these have bid and ask 0 (Alpaca's "no quote").
        rate_limit_requests: the next N API requests answer 429.
        server_error_requests: the next N API requests answer 500.
        response_delay_secs: every API answer waits this long (a stalled API).
        lose_order_answers: the next N orders are placed, but the connection closes instead
            of answering (the client cannot tell whether its order went through).
        drop_connections_after_orders: N: once the N-th order (of any account) is placed
            and answered, every connection closes and new ones are refused until this fault
            is cleared (set to null) or the simulator is reset: the broker went away right
            after an order reached it.
    """

    partial_fill_parts: Annotated[int, Field(ge=1)] = 1
    partial_fill_stop_after: Annotated[int, Field(ge=1)] | None = None
    partial_fill_interval_secs: Annotated[float, Field(ge=0)] = 0.0
    fill_delay_secs: Annotated[float, Field(ge=0)] = 0.0
    reject_symbols: list[str] = Field(default_factory=list)
    no_quote_symbols: list[str] = Field(default_factory=list)
    rate_limit_requests: Annotated[int, Field(ge=0)] = 0
    server_error_requests: Annotated[int, Field(ge=0)] = 0
    response_delay_secs: Annotated[float, Field(ge=0)] = 0.0
    lose_order_answers: Annotated[int, Field(ge=0)] = 0
    drop_connections_after_orders: Annotated[int, Field(ge=1)] | None = None


class Scenario(_Model):
    """Everything the simulator starts from. Accounts are keyed by account number."""

    accounts: dict[str, AccountSpec]
    symbols: dict[str, SymbolSpec] = Field(default_factory=dict)
    clock: ClockSpec = Field(default_factory=ClockSpec)
    faults: FaultSpec = Field(default_factory=FaultSpec)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if not self.accounts:
            raise ValueError("a scenario needs at least one account")
        keys = [a.key_id for a in self.accounts.values()]
        if len(set(keys)) != len(keys):
            raise ValueError("accounts must have distinct key_id values")
        for name, account in self.accounts.items():
            for symbol in account.positions:
                if symbol not in self.symbols:
                    raise ValueError(f"account {name} holds {symbol}, which is not in symbols")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        """Validate a scenario given as plain data."""
        return cls.model_validate(data)

    @classmethod
    def from_yaml_text(cls, text: str) -> Scenario:
        """Parse YAML text (floats become Decimal from their source text)."""
        data = yaml.load(text, Loader=_DecimalLoader)
        if not isinstance(data, dict):
            raise ValueError("a scenario file must be a YAML mapping")
        return cls.from_dict(data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        """Load a scenario file."""
        return cls.from_yaml_text(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def builtin(cls, name: str) -> Scenario:
        """Load a scenario shipped with the package (``example``)."""
        resource = resources.files("alpaca_api_sim") / "scenarios" / f"{name}.yaml"
        if not resource.is_file():
            raise ValueError(f"no built-in scenario named {name!r}")
        return cls.from_yaml_text(resource.read_text(encoding="utf-8"))

    @classmethod
    def load(cls, name_or_path: str | Path) -> Scenario:
        """Load a file path, or a built-in scenario by name when no such file exists."""
        path = Path(name_or_path)
        if path.is_file():
            return cls.from_yaml(path)
        return cls.builtin(str(name_or_path))
