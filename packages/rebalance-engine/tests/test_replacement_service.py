"""ReplacementService: loading, validating and applying replacement sets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from broker_connector_base import AllocationItem, InvalidInputError
from rebalance_engine.replacement_service import ReplacementService

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
        ("- a\n- b\n", "top level must map set names"),
        ("ira: {source: A}\n", "set 'ira' must be a list"),
        ("ira:\n  - 5\n", "set 'ira' entry 0 must be a mapping"),
        ("ira:\n  - {source: A, target: B, scale: 1.5}\n", "entry 0 field 'scale'"),
        ("ira:\n  - {source: A, target: B, scale: 0}\n", "entry 0 field 'scale'"),
        ("ira:\n  - {source: A, scale: 1}\n", "entry 0 field 'target'"),
        ("ira:\n  - {source: A, target: B, scale: 1, extra: 2}\n", "entry 0 field 'extra'"),
        (
            "ira:\n  - {source: A, target: B, scale: 1}\n  - {source: a, target: C, scale: 1}\n",
            "replaces ['A'] more than once",
        ),
        ("ira: [\n", "not valid YAML"),
    ],
)
def test_replacement_from_yaml_invalid_raises_naming_file_set_entry_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InvalidInputError) as caught:
        ReplacementService.from_yaml(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_replacement_from_yaml_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        ReplacementService.from_yaml(tmp_path / "absent.yaml")


def test_replacement_scale_is_exact_decimal(tmp_path: Path) -> None:
    service = ReplacementService.from_yaml(
        _write(tmp_path, "s:\n  - {source: A, target: B, scale: 0.1}\n")
    )
    assert service.replacements("s")[0].scale == Decimal("0.1")
