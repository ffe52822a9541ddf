"""Daily bars a scenario gives for a symbol: inline in the YAML or in a CSV file.

CSV layout (header required, one bar per line)::

    date,open,high,low,close,volume
    2026-11-20,588.10,590.02,587.55,589.11,48211300

Dates are ``YYYY-MM-DD`` or ``YYYYMMDD``; prices are read as ``Decimal`` from their text.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["CSV_COLUMNS", "HistoryBar", "read_bars_csv"]

CSV_COLUMNS = ("date", "open", "high", "low", "close", "volume")


class HistoryBar(BaseModel):
    """One daily bar: prices exact, volume in shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    open: Decimal = Field(gt=0)
    high: Decimal = Field(gt=0)
    low: Decimal = Field(gt=0)
    close: Decimal = Field(gt=0)
    volume: int = Field(ge=0)

    @field_validator("date", mode="before")
    @classmethod
    def _compact_date(cls, value: Any) -> Any:
        # IB writes daily bar dates as YYYYMMDD; accept that spelling next to ISO dates.
        if isinstance(value, str | int) and len(str(value)) == 8 and str(value).isdigit():
            text = str(value)
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HistoryBar:
        if self.high < max(self.open, self.close) or self.low > min(self.open, self.close):
            raise ValueError(
                f"bar {self.date}: high {self.high} and low {self.low} must enclose "
                f"open {self.open} and close {self.close}"
            )
        return self


def read_bars_csv(path: Path) -> list[HistoryBar]:
    """Read a ``date,open,high,low,close,volume`` CSV file.

    Raises:
        ValueError: the file is missing, has other columns, or a row is not a valid bar; the
            message names the file and the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read bars file {path}: {exc.strerror}") from exc
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise ValueError(
            f"{path}: header must be {','.join(CSV_COLUMNS)}, found {reader.fieldnames}"
        )
    bars: list[HistoryBar] = []
    for row in reader:
        line = reader.line_num
        try:
            prices = {k: Decimal(row[k].strip()) for k in ("open", "high", "low", "close")}
            bars.append(
                HistoryBar(date=row["date"].strip(), volume=row["volume"].strip(), **prices)
            )
        except (InvalidOperation, AttributeError) as exc:
            raise ValueError(f"{path}:{line}: not a number in {dict(row)}") from exc
        except ValidationError as exc:
            reasons = "; ".join(str(e["msg"]) for e in exc.errors())
            raise ValueError(f"{path}:{line}: {reasons}") from exc
    return bars
