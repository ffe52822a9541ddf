"""The price cache (SQLite file or memory) of ``IBKRClient``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from broker_connector_base import ContractPrice
from ibkr_connector.price_cache import PriceCache

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
