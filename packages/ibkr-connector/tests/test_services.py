"""ReplacementService, the allocation-to-calculator transform, and the price cache."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from broker_connector_base import AllocationItem, ContractPrice, InvalidInputError
from ibkr_connector.planning import calculator_targets
from ibkr_connector.price_cache import PriceCache
from ibkr_connector.replacement_service import ReplacementService

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


def test_calculator_targets_full_allocation_keeps_reserve() -> None:
    weights, reserve = calculator_targets(_items(SPY="0.6", AGG="0.4"), Decimal(1))
    assert [(a.symbol, a.allocation) for a in weights] == [
        ("SPY", Decimal("0.6")),
        ("AGG", Decimal("0.4")),
    ]
    assert reserve == Decimal(1)


def test_calculator_targets_scaled_allocation_moves_rest_into_reserve() -> None:
    # IRA set: GLD 0.2 at scale 0.5 became IAU 0.1; kept share k = 0.9.
    items = _items(SPY="0.6", PDBC="0.2", IAU="0.1")
    weights, reserve = calculator_targets(items, Decimal(2))
    assert sum(w.allocation for w in weights) == 1
    # reserve' = 100 * (1 - 0.98 * 0.9) = 11.8
    assert reserve == Decimal("11.800")
    total = Decimal(100000)
    investable = total * (1 - reserve / 100)
    for original, weight in zip(items, weights, strict=True):
        intended = original.allocation * (total - total * Decimal("0.02"))
        assert abs(weight.allocation * investable - intended) < Decimal("1e-20")


def test_calculator_targets_sum_above_one_floors_reserve_at_zero() -> None:
    weights, reserve = calculator_targets(_items(SPY="0.505", AGG="0.505"), Decimal(0))
    assert reserve == 0
    assert sum(w.allocation for w in weights) == 1


def test_calculator_targets_thirds_sum_exactly_one() -> None:
    weights, _ = calculator_targets(_items(A="0.3", B="0.3", C="0.3"), Decimal(1))
    assert sum(w.allocation for w in weights) == 1


def test_calculator_targets_empty_means_all_cash() -> None:
    assert calculator_targets([], Decimal(1)) == ([], Decimal(1))


NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def _price(symbol: str = "SPY") -> ContractPrice:
    return ContractPrice(symbol=symbol, bid=Decimal("589.10"), ask=Decimal("589.12"))


def test_price_cache_file_serves_fresh_entries_to_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "data" / "price_cache.sqlite3"
    PriceCache(path, ttl_secs=60).put([_price(), _price("QQQ")], NOW)
    later = PriceCache(path, ttl_secs=60)
    found = later.get_fresh(["SPY", "AGG"], NOW + dt.timedelta(seconds=5))
    assert list(found) == ["SPY"]
    assert found["SPY"].price == _price()
    assert found["SPY"].cached_at == NOW
    assert type(found["SPY"].price.bid) is Decimal


def test_price_cache_entry_older_than_ttl_is_not_served(tmp_path: Path) -> None:
    cache = PriceCache(tmp_path / "c.sqlite3", ttl_secs=60)
    cache.put([_price()], NOW)
    assert cache.get_fresh(["SPY"], NOW + dt.timedelta(seconds=61)) == {}


def test_price_cache_ttl_zero_disables_cache(tmp_path: Path) -> None:
    cache = PriceCache(None, ttl_secs=0)
    cache.put([_price()], NOW)
    assert cache.get_fresh(["SPY"], NOW) == {}


def test_price_cache_memory_only_serves_same_instance() -> None:
    cache = PriceCache(None, ttl_secs=60)
    cache.put([_price()], NOW)
    assert "SPY" in cache.get_fresh(["SPY"], NOW)


def test_price_cache_corrupt_file_degrades_to_no_cache(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    cache = PriceCache(path, ttl_secs=60)
    path.write_bytes(b"not a database" * 100)
    assert cache.get_fresh(["SPY"], NOW) == {}
    cache.put([_price()], NOW)  # logs a warning, does not raise
