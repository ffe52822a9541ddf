"""HistoryReader: the real ably SDK's REST history against fake_ably_server on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from ably.util.exceptions import AblyException
from app.intake.history import HistoryReader
from fake_ably_server import FakeAblyServer, ensure_loopback_bypasses_proxy
from pydantic import SecretStr

SECRET = "hist0ry/Secret+Value"
API_KEY = f"testapp.testkey:{SECRET}"
CHANNEL = "strategy-alpha"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAblyServer]:
    ensure_loopback_bypasses_proxy()
    async with FakeAblyServer(api_key=API_KEY, history_retention_secs=3600) as server:
        yield server


def reader(fake: FakeAblyServer, **options: object) -> HistoryReader:
    return HistoryReader(
        api_key=SecretStr(API_KEY),
        endpoint=fake.endpoint,
        tls=False,
        **options,  # type: ignore[arg-type]
    )


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])
async def test_messages_since_returns_the_messages_from_that_time_oldest_first(
    fake: FakeAblyServer, binary: bool
) -> None:
    t0 = now_ms() - 60_000
    await fake.publish(CHANNEL, {"exec": "rebalance"}, id="before", timestamp_ms=t0 - 1)
    await fake.publish(CHANNEL, {"exec": "rebalance"}, id="at", name="cmd", timestamp_ms=t0)
    await fake.publish(CHANNEL, '{"exec": "print-rebalance"}', id="after", timestamp_ms=t0 + 5)
    await fake.publish("other-channel", {"exec": "rebalance"}, id="elsewhere")
    history = reader(fake, use_binary_protocol=binary)
    try:
        batch = await history.messages_since(CHANNEL, t0)
    finally:
        await history.close()
    assert [(m.message_id, m.name, m.data, m.timestamp_ms) for m in batch.messages] == [
        ("at", "cmd", {"exec": "rebalance"}, t0),
        ("after", None, '{"exec": "print-rebalance"}', t0 + 5),
    ]
    assert {m.channel for m in batch.messages} == {CHANNEL}
    assert batch.complete


async def test_messages_since_follows_pages_and_keeps_the_newest_when_cut(
    fake: FakeAblyServer,
) -> None:
    for i in range(7):
        await fake.publish(CHANNEL, {"n": i}, id=f"m{i}")
    history = reader(fake, page_size=2, max_messages=5)
    everything = reader(fake, page_size=2)
    try:
        cut = await history.messages_since(CHANNEL, 0)
        whole = await everything.messages_since(CHANNEL, 0)
    finally:
        await history.close()
        await everything.close()
    assert [m.message_id for m in cut.messages] == ["m2", "m3", "m4", "m5", "m6"]
    assert not cut.complete
    assert [m.message_id for m in whole.messages] == [f"m{i}" for i in range(7)]
    assert whole.complete


async def test_messages_since_with_a_refused_key_raises_without_the_secret(
    fake: FakeAblyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.api_key = "testapp.testkey:another-secret"
    history = reader(fake)
    try:
        with pytest.raises(AblyException) as refused:
            await history.messages_since(CHANNEL, 0)
    finally:
        await history.close()
    assert refused.value.code == 40101
    assert SECRET not in str(refused.value)
    assert SECRET not in caplog.text
