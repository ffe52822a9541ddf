"""Replacement sets: trade a substitute symbol instead of the strategy's one in some accounts.

``replacement-sets.yaml`` maps a set name to a list of replacements::

    ira:
      - {source: DBC, target: PDBC, scale: 1.0}
      - {source: GLD, target: IAU, scale: 0.5}

For an account with ``replacement_set: ira``, a DBC allocation of 10 % becomes a PDBC
allocation of 10 %, and a GLD allocation of 10 % an IAU allocation of 5 %: the other 5 % stays
in cash (a scale below 1 never moves money into another symbol; ``scale`` defaults to 1). A
held DBC or GLD position is no longer a target, so the rebalance sells it.

The file is parsed strictly, by the one parser here (the daemon checks it with it at start):
a set is applied once, so a target that is also a source of the same set (a chain A→B, B→C,
or a cycle A→B, B→A) is refused, as are a source replaced twice and a source replacing
itself. A set with such a problem is invalid, not the file: accounts using another set keep
trading (``invalid_sets``), accounts using it are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from broker_connector_base import AllocationItem, InvalidInputError
from broker_connector_base.documents import (
    parse_yaml,
    read_text_file,
    show,
    validate_document,
)
from broker_connector_base.types import Symbol, to_decimal
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel

__all__ = ["DOCUMENT", "Replacement", "ReplacementService", "parse_replacement_sets"]

DOCUMENT = "replacement sets file"


class Replacement(BaseModel):
    """Trade ``target`` instead of ``source`` at ``scale`` times its allocation (0 < scale ≤ 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Symbol
    target: Symbol
    scale: Annotated[
        Decimal, BeforeValidator(to_decimal), Field(gt=0, le=1, allow_inf_nan=False)
    ] = Decimal(1)


class _Set(RootModel[list[Replacement]]):
    """One set's entries, validated strictly."""


class ReplacementService:
    """The replacement sets of one file; ``apply`` maps an allocation list through one set.

    Args:
        sets: The valid sets, by name.
        invalid: Sets that failed validation: name -> the reason (with the file).
        source: Where the sets came from, for messages.
    """

    def __init__(
        self,
        sets: Mapping[str, Sequence[Replacement]],
        *,
        invalid: Mapping[str, str] | None = None,
        source: str | None = None,
    ) -> None:
        self._sets = {name: list(entries) for name, entries in sets.items()}
        self._invalid = dict(invalid or {})
        self._source = source

    @classmethod
    def from_yaml(cls, path: Path) -> ReplacementService:
        """Load and validate a replacement-sets file.

        Raises:
            InvalidInputError: The file is unreadable, not YAML, or not a mapping of set names
                to lists (a problem inside one set only makes that set invalid).
        """
        text = read_text_file(path, document=DOCUMENT)
        return parse_replacement_sets(text, source=str(path))

    def set_names(self) -> frozenset[str]:
        """The names of every set in the file, valid or not."""
        return frozenset(self._sets) | frozenset(self._invalid)

    def invalid_sets(self) -> dict[str, str]:
        """Sets that cannot be used: name -> why (an account naming one is refused)."""
        return dict(self._invalid)

    def replacements(self, set_name: str) -> list[Replacement]:
        """The entries of one set.

        Raises:
            InvalidInputError: No set has that name, or the set is invalid (the reason).
        """
        if set_name in self._invalid:
            raise InvalidInputError(self._invalid[set_name], self._source)
        if set_name not in self._sets:
            known = ", ".join(sorted(self.set_names())) or "none"
            raise InvalidInputError(
                f"unknown replacement set {set_name!r} (known: {known})", self._source
            )
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


def parse_replacement_sets(text: str, *, source: str) -> ReplacementService:
    """Parse the text of a replacement-sets file (see the module docstring).

    Raises:
        InvalidInputError: Not YAML, or not a mapping of set names to lists.
    """
    data = parse_yaml(text, document=DOCUMENT, source=source)
    if data is None:
        return ReplacementService({}, source=source)
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{DOCUMENT}: the top level must map set names to lists of replacements, "
            f"got {show(data)}",
            source,
        )
    sets: dict[str, list[Replacement]] = {}
    invalid: dict[str, str] = {}
    for name, entries in data.items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(
                f"{DOCUMENT}: set name {show(name)} is not a name (non-empty text)", source
            )
        try:
            sets[name] = _parse_set(name, entries, source)
        except InvalidInputError as exc:
            invalid[name] = exc.message.removeprefix(f"{source}: ")
    return ReplacementService(sets, invalid=invalid, source=source)


def _parse_set(name: str, entries: Any, source: str) -> list[Replacement]:
    parsed = validate_document(
        _Set, entries, document=f"{DOCUMENT}: set {name!r}", source=source
    ).root
    first: dict[str, int] = {}
    for index, entry in enumerate(parsed):
        where = f"{DOCUMENT}: set {name!r} entry [{index}]"
        if entry.source == entry.target:
            raise InvalidInputError(f"{where}: replaces {entry.source} by itself", source)
        earlier = first.setdefault(entry.source, index)
        if earlier != index:
            raise InvalidInputError(
                f"{where}.source: {entry.source} is already replaced by entry [{earlier}]", source
            )
    for index, entry in enumerate(parsed):
        if entry.target in first:
            other = parsed[first[entry.target]]
            raise InvalidInputError(
                f"{DOCUMENT}: set {name!r} entry [{index}].target: {entry.target} is itself "
                f"replaced (entry [{first[entry.target]}]: {other.source} -> {other.target}); a "
                f"set is applied once, so chains and cycles are refused: map {entry.source} "
                "straight to the symbol it should end as",
                source,
            )
    return parsed
