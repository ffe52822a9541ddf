"""ReplacementService: loading, validating and applying replacement sets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from broker_connector_base import AllocationItem, InvalidInputError
from rebalance_engine.replacement_service import Replacement, ReplacementService

IRA_YAML = """
ira:
  - {source: DBC, target: PDBC, scale: 1.0}
  - {source: GLD, target: IAU, scale: 0.5}
"""


def _items(**weights: str) -> list[AllocationItem]:
    return [AllocationItem(symbol=s, allocation=Decimal(w)) for s, w in weights.items()]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "replacement-sets.yaml"
    path.write_text(text)
    return path


def test_replacement_apply_maps_sources_and_scales_weights(tmp_path: Path) -> None:
    service = ReplacementService.from_yaml(_write(tmp_path, IRA_YAML))
    assert service.set_names() == frozenset({"ira"})
    out = service.apply(_items(SPY="0.6", DBC="0.2", GLD="0.2"), "ira")
    assert {(a.symbol, a.allocation) for a in out} == {
        ("SPY", Decimal("0.6")),
        ("PDBC", Decimal("0.20")),
        ("IAU", Decimal("0.10")),
    }


def test_replacement_apply_without_set_returns_input(tmp_path: Path) -> None:
    service = ReplacementService.from_yaml(_write(tmp_path, IRA_YAML))
    items = _items(SPY="1")
    assert service.apply(items, None) == items


def test_replacement_apply_target_already_in_strategy_adds_weights(tmp_path: Path) -> None:
    service = ReplacementService.from_yaml(
        _write(tmp_path, "s:\n  - {source: A, target: B, scale: 1}\n")
    )
    out = service.apply(_items(A="0.3", B="0.7"), "s")
    assert [(a.symbol, a.allocation) for a in out] == [("B", Decimal("1.0"))]


def test_replacement_unknown_set_raises_naming_known_sets(tmp_path: Path) -> None:
    service = ReplacementService.from_yaml(_write(tmp_path, IRA_YAML))
    with pytest.raises(InvalidInputError, match=r"unknown replacement set 'roth' \(known: ira\)"):
        service.apply(_items(SPY="1"), "roth")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "the top level must map set names to lists of replacements, got a list"),
        ("ira: [\n", "replacement sets file is not valid YAML"),
        ("ira: []\nira: []\n", "duplicate key 'ira'"),
        ("? [a]\n: []\n", "found unhashable key at line 1, column 3"),
        ("1: []\n", "set name 1 is not a name (non-empty text)"),
        ("a: &x [*x]\n", "expands to more than 100000 values (aliases counted)"),
    ],
)
def test_replacement_from_yaml_unusable_file_raises_naming_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InvalidInputError) as caught:
        ReplacementService.from_yaml(path)
    assert message in str(caught.value)
    assert caught.value.source == str(path)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("{source: A}", "set 'ira': a mapping is not a list"),
        ("[5]", "set 'ira': [0]: 5 is not a mapping"),
        ("[{source: A, target: B, scale: 1.5}]", "[0].scale: 1.5 is not within 0..1"),
        ("[{source: A, target: B, scale: 0}]", "[0].scale: 0 is not within 0..1"),
        ("[{source: A, target: B, scale: '0.5'}]", "[0].scale: '0.5' is text, not a number"),
        ("[{source: A, target: B, scale: .nan}]", "[0].scale: NaN is not a finite number"),
        ("[{source: A, scale: 1}]", "[0].target: is required"),
        ("[{source: A, target: B, extra: 2}]", "[0].extra: is not a known field"),
        ("[{source: A, target: B}, {source: a, target: C}]", "[1].source: A is already replaced"),
        ("[{source: A, target: a}]", "entry [0]: replaces A by itself"),
        (
            "[{source: A, target: B}, {source: B, target: A}]",
            "entry [0].target: B is itself replaced (entry [1]: B -> A)",
        ),
        (
            "[{source: A, target: B}, {source: B, target: C}]",
            "entry [0].target: B is itself replaced (entry [1]: B -> C); a set is applied once, "
            "so chains and cycles are refused",
        ),
    ],
)
def test_replacement_invalid_set_is_refused_naming_file_set_entry_and_value_others_usable(
    tmp_path: Path, entries: str, message: str
) -> None:
    path = _write(tmp_path, f"ira: {entries}\nroth:\n  - {{source: DBC, target: PDBC}}\n")
    service = ReplacementService.from_yaml(path)
    assert message in service.invalid_sets()["ira"]
    with pytest.raises(InvalidInputError) as caught:
        service.apply(_items(A="1"), "ira")
    assert message in str(caught.value)
    assert caught.value.source == str(path)
    # The other set of the same file is still used.
    assert [a.symbol for a in service.apply(_items(DBC="1"), "roth")] == ["PDBC"]


def test_replacement_from_yaml_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="replacement sets file not found"):
        ReplacementService.from_yaml(tmp_path / "absent.yaml")


def test_replacement_scale_defaults_to_one(tmp_path: Path) -> None:
    service = ReplacementService.from_yaml(_write(tmp_path, "s:\n  - {source: a, target: b}\n"))
    assert service.replacements("s") == [Replacement(source="A", target="B", scale=Decimal(1))]


def test_replacement_scale_is_exact_decimal(tmp_path: Path) -> None:
    service = ReplacementService.from_yaml(
        _write(tmp_path, "s:\n  - {source: A, target: B, scale: 0.1}\n")
    )
    assert service.replacements("s")[0].scale == Decimal("0.1")
