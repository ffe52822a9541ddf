"""Replacement sets: trade a substitute symbol instead of the strategy's one in some accounts.

``replacement-sets.yaml`` maps a set name to a list of replacements::

    ira:
      - {source: DBC, target: PDBC, scale: 1.0}
      - {source: GLD, target: IAU, scale: 0.5}

For an account with ``replacement_set: ira``, a DBC allocation of 10 % becomes a PDBC
allocation of 10 %, and a GLD allocation of 10 % an IAU allocation of 5 %: the other 5 % stays
in cash (a scale below 1 never moves money into another symbol). A held DBC or GLD position is
no longer a target, so the rebalance sells it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from broker_connector_base import AllocationItem, InvalidInputError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["Replacement", "ReplacementService"]


class Replacement(BaseModel):
    """Trade ``target`` instead of ``source`` at ``scale`` times its allocation (0 < scale ≤ 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    scale: Decimal = Field(gt=0, le=1, allow_inf_nan=False)


class ReplacementService:
    """The replacement sets of one file; ``apply`` maps an allocation list through one set."""

    def __init__(self, sets: dict[str, list[Replacement]]) -> None:
        self._sets = {name: list(entries) for name, entries in sets.items()}

    @classmethod
    def from_yaml(cls, path: Path) -> ReplacementService:
        """Load and validate a replacement-sets file.

        Raises:
            InvalidInputError: The file is unreadable or invalid; the message names the file,
                the set, the entry and the field.
        """
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read replacement sets: {exc}", source) from None
        try:
            # Floats are read from their text so a scale of 0.1 is exactly Decimal("0.1").
            document = yaml.load(text, Loader=_DecimalLoader)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"not valid YAML: {exc}", source) from None
        if document is None:
            return cls({})
        if not isinstance(document, dict):
            raise InvalidInputError("top level must map set names to lists", source)
        return cls({str(k): _parse_set(str(k), v, source) for k, v in document.items()})

    def set_names(self) -> frozenset[str]:
        """The names of the sets in the file."""
        return frozenset(self._sets)

    def replacements(self, set_name: str) -> list[Replacement]:
        """The entries of one set.

        Raises:
            InvalidInputError: No set has that name.
        """
        if set_name not in self._sets:
            known = ", ".join(sorted(self._sets)) or "none"
            raise InvalidInputError(f"unknown replacement set {set_name!r} (known: {known})")
        return list(self._sets[set_name])

    def apply(
        self, allocations: Sequence[AllocationItem], set_name: str | None
    ) -> list[AllocationItem]:
        """Allocations with each source symbol replaced by its target at ``allocation × scale``.

        The result sums to less than the input when a scale is below 1: the difference is meant
        to stay in cash. A target that is also in the strategy gets both shares added.

        Raises:
            InvalidInputError: ``set_name`` is not a known set.
        """
        if set_name is None:
            return list(allocations)
        by_source = {r.source: r for r in self.replacements(set_name)}
        merged: dict[str, Decimal] = {}
        for item in allocations:
            replacement = by_source.get(item.symbol)
            symbol, weight = (
                (replacement.target, item.allocation * replacement.scale)
                if replacement
                else (item.symbol, item.allocation)
            )
            merged[symbol] = merged.get(symbol, Decimal(0)) + weight
        return [AllocationItem(symbol=s, allocation=min(w, Decimal(1))) for s, w in merged.items()]


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader that reads YAML floats as Decimal from their source text."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    return Decimal(str(loader.construct_scalar(node)).replace("_", ""))  # type: ignore[arg-type]


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _parse_set(name: str, entries: Any, source: str) -> list[Replacement]:
    if not isinstance(entries, list):
        raise InvalidInputError(f"set {name!r} must be a list of replacements", source)
    parsed: list[Replacement] = []
    for index, entry in enumerate(entries):
        where = f"set {name!r} entry {index}"
        if not isinstance(entry, dict):
            raise InvalidInputError(f"{where} must be a mapping, got {entry!r}", source)
        try:
            parsed.append(Replacement.model_validate(_normalised(entry)))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "entry"
            raise InvalidInputError(
                f"{where} field {field!r}: {first['msg']} (got {first.get('input')!r})", source
            ) from None
    sources = [r.source for r in parsed]
    duplicates = sorted({s for s in sources if sources.count(s) > 1})
    if duplicates:
        raise InvalidInputError(f"set {name!r} replaces {duplicates} more than once", source)
    return parsed


def _normalised(entry: dict[Any, Any]) -> dict[Any, Any]:
    out = dict(entry)
    for key in ("source", "target"):
        if isinstance(out.get(key), str):
            out[key] = out[key].strip().upper()
    if isinstance(out.get("scale"), int) and not isinstance(out.get("scale"), bool):
        out["scale"] = Decimal(out["scale"])
    return out
