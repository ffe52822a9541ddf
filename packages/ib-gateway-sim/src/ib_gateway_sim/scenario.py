"""Scenario file: accounts, symbols, market clock, fill behaviour and faults.

Numbers in the YAML are read as ``Decimal`` straight from their text (``589.10`` stays
``Decimal("589.10")``), so no binary-float artefact ever reaches cash or prices.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ib_gateway_sim.bars import HistoryBar, read_bars_csv

__all__ = [
    "AccountSpec",
    "ClockSpec",
    "FaultSpec",
    "FillSpec",
    "HistoryBar",
    "PositionSpec",
    "Scenario",
    "SymbolSpec",
]


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader that turns YAML floats into Decimal from their source text."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    return Decimal(text.replace("_", ""))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PositionSpec(_Model):
    """A starting position: share quantity and average cost per share."""

    quantity: Decimal
    avg_cost: Decimal = Decimal("0")


class AccountSpec(_Model):
    """A managed account. ``settled_cash`` defaults to ``cash``."""

    cash: Decimal
    settled_cash: Decimal | None = None
    account_type: Literal["cash", "margin"] = "cash"
    currency: str = "USD"
    positions: dict[str, PositionSpec] = Field(default_factory=dict)


class SymbolSpec(_Model):
    """A tradable symbol: contract details and its quote (any price may be absent).

    ``symbol`` is the ticker when it differs from the scenario key: a second listing of an
    ambiguous ticker (key ``ABC.PINK``, ``symbol: ABC``), which a lookup by ticker alone then
    finds twice. ``isin`` makes the contract findable by ISIN (``secIdType`` ``ISIN``).
    """

    con_id: int = Field(gt=0)
    symbol: str | None = None
    isin: str | None = None
    sec_type: str = "STK"
    exchange: str = "SMART"
    primary_exchange: str = "ARCA"
    currency: str = "USD"
    long_name: str = ""
    stock_type: str = "ETF"
    min_tick: Decimal = Decimal("0.01")
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    close: Decimal | None = None
    bid_size: int = 100
    ask_size: int = 100
    last_size: int = 100
    volume: int = 1000000
    history: list[HistoryBar] | None = None

    @field_validator("long_name")
    @classmethod
    def _plain_ascii(cls, value: str) -> str:
        # ib_async runs longName through unicode-escape decoding: keep it plain ASCII.
        if not value.isascii() or "\\" in value:
            raise ValueError(f"long_name {value!r} must be ASCII without backslashes")
        return value

    @field_validator("history", mode="before")
    @classmethod
    def _bars_file(cls, value: Any, info: ValidationInfo) -> Any:
        # A string is a CSV path, relative to the scenario file's folder when there is one.
        if not isinstance(value, str | Path):
            return value
        path = Path(value)
        base = (info.context or {}).get("base_dir")
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        return read_bars_csv(path)

    @field_validator("history")
    @classmethod
    def _dated_once(cls, value: list[HistoryBar] | None) -> list[HistoryBar] | None:
        if value is None:
            return None
        ordered = sorted(value, key=lambda bar: bar.date)
        for before, after in itertools.pairwise(ordered):
            if before.date == after.date:
                raise ValueError(f"two bars dated {after.date}")
        return ordered


class ClockSpec(_Model):
    """Market clock.

    ``time`` unset means real time; set, the clock is frozen at that instant until moved.
    ``always_open`` (the default) makes every minute a liquid minute so runs do not depend on
    when they happen; set it false to get weekday ``liquid_hours``/``trading_hours`` in
    ``timezone`` with weekends and ``holidays`` closed.
    """

    time: dt.datetime | None = None
    timezone: str = "US/Eastern"
    always_open: bool = True
    liquid_hours: str = "09:30-16:00"
    trading_hours: str = "04:00-20:00"
    holidays: list[dt.date] = Field(default_factory=list)

    @field_validator("time")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("clock.time must carry a UTC offset, e.g. 2026-11-23T10:00:00-05:00")
        return value

    @field_validator("liquid_hours", "trading_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        start, _, end = value.partition("-")
        for part in (start, end):
            dt.time.fromisoformat(part)
        if dt.time.fromisoformat(start) >= dt.time.fromisoformat(end):
            raise ValueError(f"hours {value!r} must be HH:MM-HH:MM with start before end")
        return value


class FillSpec(_Model):
    """How marketable orders fill and what they cost (IB fixed pricing by default)."""

    commission_per_share: Decimal = Decimal("0.005")
    commission_min: Decimal = Decimal("1.00")
    commission_max_pct: Decimal = Decimal("1")
    filled_status_before_exec: bool = False
    outside_hours_warning: bool = False
    moc_cutoff: dt.time | None = dt.time(15, 50)
    midprice_rounding: Literal["exact", "favour", "against"] = "exact"
    adaptive_patient_delay_secs: float = Field(default=0.0, ge=0)

    @field_validator("moc_cutoff", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 15:50 as the base-60 number 950.
            raise ValueError(f'write moc_cutoff as a quoted "HH:MM" string, not {value}')
        return value


class FaultSpec(_Model):
    """Faults; every field can also be changed at run time (``GatewaySimulator.set_faults``)."""

    partial_fill_parts: int = Field(default=1, ge=1)
    partial_fill_stop_after: int | None = Field(default=None, ge=1)
    partial_fill_interval_secs: float = Field(default=0.0, ge=0)
    fill_delay_secs: float = Field(default=0.0, ge=0)
    reject_symbols: list[str] = Field(default_factory=list)
    no_market_data_symbols: list[str] = Field(default_factory=list)
    drop_connections_after_orders: int | None = Field(default=None, ge=1)
    drop_connections_at: dt.datetime | None = None
    refuse_connections_secs: float = Field(default=0.0, ge=0)
    pacing_limit_per_sec: int | None = Field(default=None, ge=1)
    pacing_scope: Literal["client", "gateway"] = "client"
    delayed_market_data_only: bool = False
    historical_pacing: bool = False
    historical_pacing_max_requests: int = Field(default=60, ge=1)
    historical_pacing_window_secs: float = Field(default=600.0, gt=0)
    historical_identical_window_secs: float = Field(default=15.0, ge=0)
    cancel_races_fill: Literal["fill_first", "error_first"] | None = None
    order_warning_code: int | None = None
    order_warning_text: str = ""
    restart_at: dt.datetime | None = None
    restart_after_orders: int | None = Field(default=None, ge=1)
    restart_resets_order_ids: bool = True
    restart_keeps_completed_orders: bool = True
    restart_keeps_executions: bool = True


class Scenario(_Model):
    """Everything the simulator starts from."""

    accounts: dict[str, AccountSpec]
    symbols: dict[str, SymbolSpec] = Field(default_factory=dict)
    clock: ClockSpec = Field(default_factory=ClockSpec)
    fills: FillSpec = Field(default_factory=FillSpec)
    faults: FaultSpec = Field(default_factory=FaultSpec)
    history_seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if not self.accounts:
            raise ValueError("a scenario needs at least one account")
        con_ids = [s.con_id for s in self.symbols.values()]
        if len(set(con_ids)) != len(con_ids):
            raise ValueError("symbols must have distinct con_id values")
        isins = [s.isin for s in self.symbols.values() if s.isin is not None]
        if len(set(isins)) != len(isins):
            raise ValueError("symbols must have distinct isin values")
        for name, account in self.accounts.items():
            for symbol in account.positions:
                if symbol not in self.symbols:
                    raise ValueError(f"account {name} holds {symbol}, which is not in symbols")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: Path | None = None) -> Scenario:
        """Validate a scenario given as plain data (bar CSV paths relative to ``base_dir``)."""
        return cls.model_validate(data, context={"base_dir": base_dir})

    @classmethod
    def from_yaml_text(cls, text: str, *, base_dir: Path | None = None) -> Scenario:
        """Parse YAML text (floats become Decimal from their source text)."""
        data = yaml.load(text, Loader=_DecimalLoader)
        if not isinstance(data, dict):
            raise ValueError("a scenario file must be a YAML mapping")
        return cls.from_dict(data, base_dir=base_dir)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        """Load a scenario file; bar CSV paths in it are relative to its folder."""
        path = Path(path)
        return cls.from_yaml_text(path.read_text(encoding="utf-8"), base_dir=path.parent)

    @classmethod
    def builtin(cls, name: str) -> Scenario:
        """Load a scenario shipped with the package (``example``)."""
        resource = resources.files("ib_gateway_sim") / "scenarios" / f"{name}.yaml"
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
