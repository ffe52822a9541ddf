"""AblyService with the real ably SDK against fake_ably_server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from app.intake.messages import ReceivedMessage, decode_message_data
from app.intake.sdk_decoding import UndecodableData
from app.intake.sdk_noise import quiet_sdk_loose_ends, sdk_coroutine_name
from app.intake.subscriber import AblyConnectionFailed, AblyService
from broker_connector_base.exceptions import InvalidInputError
from fake_ably_server import FakeAblyServer, ensure_loopback_bypasses_proxy
from pydantic import SecretStr

# A secret with characters that URL-quoting changes, to prove the quoted form is redacted too.
SECRET = "s3cr3t/Value+With=Chars"
API_KEY = f"testapp.testkey:{SECRET}"
CHANNEL = "strategy-alpha"


class Collector:
    """An ``on_message`` handler that records every message and lets a test await the next."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMessage] = []
        self._queue: asyncio.Queue[ReceivedMessage] = asyncio.Queue()
        self.fail_next = False

    async def __call__(self, message: ReceivedMessage) -> None:
        self.messages.append(message)
        self._queue.put_nowait(message)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("handler blew up")

    async def next(self) -> ReceivedMessage:
        return await asyncio.wait_for(self._queue.get(), 10)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAblyServer]:
    ensure_loopback_bypasses_proxy()
    server = FakeAblyServer(api_key=API_KEY)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_service(fake: FakeAblyServer, collector: Collector, **overrides: Any) -> AblyService:
    options: dict[str, Any] = {
        "api_key": SecretStr(API_KEY),
        "channels": [CHANNEL],
        "on_message": collector,
        "endpoint": fake.endpoint,
        "tls": False,
        "watchdog_interval_secs": 0.2,
        "connect_timeout_secs": 5.0,
        "ping_timeout_secs": 1.0,
        "request_timeout_secs": 1.0,
        "retry_timeout_secs": 0.2,
    }
    options.update(overrides)
    return AblyService(**options)


@asynccontextmanager
async def running(service: AblyService) -> AsyncIterator[asyncio.Task[None]]:
    """Start the service and its watchdog; always close both."""
    await service.start()
    task = asyncio.create_task(service.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AblyConnectionFailed):
            await task
        await service.close()


# -- decode_message_data ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"exec": "rebalance"},
        '{"exec": "rebalance"}',
        b'{"exec": "rebalance"}',
        bytearray(b'{"exec": "rebalance"}'),
    ],
    ids=["dict", "json-str", "bytes", "bytearray"],
)
def test_decode_message_data_with_json_object_forms_returns_dict(data: object) -> None:
    assert decode_message_data(data, source="ably:c") == {"exec": "rebalance"}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (42, "got int: 42"),
        (None, "got NoneType"),
        ("not json", "not valid JSON"),
        ("[1, 2]", "got list"),
        (b"\xff\xfe", "not UTF-8"),
        ("x" * 70_000, "is 70000 bytes, more than the limit of 65536"),
        ({"exec": "rebalance", "pad": "x" * 70_000}, "is 70032 bytes, more than the limit"),
        ('{"exec": "rebalance", "exec": "print-rebalance"}', "'exec' appears more than once"),
        ('{"exec": NaN}', "NaN is not a number"),
    ],
    ids=[
        "int",
        "none",
        "not-json",
        "json-array",
        "bad-utf8",
        "too-long",
        "dict-too-long",
        "dup",
        "nan",
    ],
)
def test_decode_message_data_with_bad_value_raises_invalid_input_naming_source(
    data: object, fragment: str
) -> None:
    with pytest.raises(InvalidInputError, match=fragment) as caught:
        decode_message_data(data, source="ably:strategy-alpha")
    assert caught.value.source == "ably:strategy-alpha"


# -- delivery ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        ({"exec": "rebalance"}, None, {"exec": "rebalance"}),
        ('{"exec":"rebalance"}', None, '{"exec":"rebalance"}'),
        ('{"exec":"rebalance"}', "json", {"exec": "rebalance"}),
        (b'{"exec":"rebalance"}', None, b'{"exec":"rebalance"}'),
    ],
    ids=["dict", "raw-string", "json-string", "bytes"],
)
async def test_each_data_form_is_delivered_once_with_metadata(
    fake: FakeAblyServer, data: object, encoding: str | None, expected: object
) -> None:
    collector = Collector()
    async with running(make_service(fake, collector)):
        await fake.publish(CHANNEL, data, name="cmd", id="m-1", encoding=encoding)
        await fake.publish(CHANNEL, "marker", id="m-2")
        first, marker = await collector.next(), await collector.next()
    assert (first.channel, first.message_id, first.name, first.data) == (
        CHANNEL,
        "m-1",
        "cmd",
        expected,
    )
    assert decode_message_data(first.data, source="test") == {"exec": "rebalance"}
    assert first.timestamp_ms is not None
    assert abs(first.timestamp_ms - time.time() * 1000) < 60_000
    assert marker.message_id == "m-2"


@pytest.mark.parametrize(
    ("data", "encoding", "reason"),
    [
        ('{"exec": "rebal', "json", "does not decode as its encoding 'json': JSONDecodeError"),
        ("@@not base64@@", "base64", "does not decode as its encoding 'base64'"),
    ],
    ids=["broken-json", "broken-base64"],
)
async def test_data_the_sdk_cannot_decode_is_delivered_as_undecodable_not_dropped(
    fake: FakeAblyServer, data: str, encoding: str, reason: str
) -> None:
    collector = Collector()
    async with running(make_service(fake, collector)):
        await fake.publish(CHANNEL, data, id="m-1", encoding=encoding)
        await fake.publish(CHANNEL, {"exec": "rebalance"}, id="m-2")
        broken, good = await collector.next(), await collector.next()
    assert broken.message_id == "m-1"
    assert isinstance(broken.data, UndecodableData)
    with pytest.raises(InvalidInputError) as caught:
        decode_message_data(broken.data, source="ably:c m-1")
    assert reason in str(caught.value)
    assert caught.value.source == "ably:c m-1"
    assert good.data == {"exec": "rebalance"}  # the SDK goes on delivering


async def test_duplicate_id_is_handed_on_for_the_journal_to_refuse(
    fake: FakeAblyServer,
) -> None:
    # De-duplication is the handler's (EventProcessor claims the id in the journal): the
    # subscriber keeps no store of its own, so both deliveries reach on_message, in order.
    collector = Collector()
    async with running(make_service(fake, collector)):
        for message_id in ("dup", "dup", "after"):
            await fake.publish(CHANNEL, {"n": message_id}, id=message_id)
        for _ in range(3):
            await collector.next()
    assert [m.message_id for m in collector.messages] == ["dup", "dup", "after"]


async def test_message_older_than_the_limit_on_arrival_is_handed_on_marked_stale(
    fake: FakeAblyServer,
) -> None:
    collector = Collector()
    ten_minutes_ago = int(time.time() * 1000) - 600_000
    async with running(make_service(fake, collector, max_message_age_secs=300)):
        await fake.publish(CHANNEL, {"old": True}, id="stale", timestamp_ms=ten_minutes_ago)
        await fake.publish(CHANNEL, {"old": False}, id="fresh")
        stale, fresh = await collector.next(), await collector.next()
    assert (stale.message_id, stale.stale) == ("stale", "published 600 s ago (limit 300 s)")
    assert (fresh.message_id, fresh.stale, fresh.recovered) == ("fresh", None, False)


async def test_handler_exception_is_logged_and_next_message_still_delivered(
    fake: FakeAblyServer, caplog: pytest.LogCaptureFixture
) -> None:
    collector = Collector()
    collector.fail_next = True
    async with running(make_service(fake, collector)):
        await fake.publish(CHANNEL, {}, id="boom")
        await fake.publish(CHANNEL, {}, id="ok")
        await collector.next()
        await collector.next()
    assert [m.message_id for m in collector.messages] == ["boom", "ok"]
    assert "Handling Ably message boom on strategy-alpha failed" in caplog.text


# -- reconnection and failure -----------------------------------------------------------------


async def test_drop_all_reconnects_and_later_messages_are_delivered(fake: FakeAblyServer) -> None:
    collector = Collector()
    async with running(make_service(fake, collector)) as run_task:
        await fake.drop_all(abrupt=True)
        await fake.wait_attached(CHANNEL, count=2)
        await fake.publish(CHANNEL, {}, id="after-drop")
        assert (await collector.next()).message_id == "after-drop"
        assert not run_task.done()


async def test_deaf_connection_is_recreated_by_watchdog(fake: FakeAblyServer) -> None:
    collector = Collector()
    service = make_service(fake, collector)
    async with running(service):
        # A DISCONNECTED with a 5xx leaves the SDK "connected" but without a socket.
        await fake.send_disconnected(status_code=500)
        await fake.wait_connected(count=2)
        await fake.wait_attached(CHANNEL, count=2)
        await service.wait_until_healthy(True, timeout_secs=10)
        await fake.publish(CHANNEL, {}, id="after-recreate")
        assert (await collector.next()).message_id == "after-recreate"


async def test_channel_error_is_repaired_by_watchdog_reattach(fake: FakeAblyServer) -> None:
    collector = Collector()
    service = make_service(fake, collector)
    async with running(service):
        await fake.channel_error(CHANNEL)
        await service.wait_until_healthy(False, timeout_secs=10)
        await fake.wait_attached(CHANNEL, count=2)
        await service.wait_until_healthy(True, timeout_secs=10)
        await fake.publish(CHANNEL, {}, id="after-error")
        assert (await collector.next()).message_id == "after-error"


async def test_healthy_flips_false_during_outage_and_true_after_recovery(
    fake: FakeAblyServer,
) -> None:
    service = make_service(fake, Collector(), max_watchdog_failures=100)
    health = [service.healthy]
    async with running(service):
        health.append(service.healthy)
        await fake.stop()
        await service.wait_until_healthy(False, timeout_secs=10)
        await fake.start()
        await service.wait_until_healthy(True, timeout_secs=15)
    health.append(service.healthy)
    assert health == [False, True, False]


async def test_wrong_key_makes_start_raise_connection_failed(fake: FakeAblyServer) -> None:
    fake.api_key = "testapp.testkey:other"
    service = make_service(fake, Collector())
    started = time.monotonic()
    with pytest.raises(AblyConnectionFailed, match="40101"):
        await service.start()
    assert time.monotonic() - started < 5
    assert not service.healthy


async def test_key_refused_after_reconnect_makes_run_raise(fake: FakeAblyServer) -> None:
    async with running(make_service(fake, Collector())) as run_task:
        fake.api_key = "testapp.testkey:revoked"
        await fake.drop_all()
        with pytest.raises(AblyConnectionFailed, match="40101"):
            await asyncio.wait_for(run_task, 10)


async def test_server_gone_for_good_makes_run_raise_within_bounded_time(
    fake: FakeAblyServer,
) -> None:
    service = make_service(fake, Collector(), connect_timeout_secs=1.0)
    async with running(service) as run_task:
        await fake.stop()
        started = time.monotonic()
        with pytest.raises(AblyConnectionFailed, match="watchdog"):
            await asyncio.wait_for(run_task, 20)
    # 3 checks, each at most interval + ping timeout + connect timeout, plus slack.
    assert time.monotonic() - started < 3 * (0.2 + 1.0 + 1.0) + 5


async def test_api_key_secret_never_appears_in_logs_or_repr(
    fake: FakeAblyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    collector = Collector()
    service = make_service(fake, collector)
    async with running(service):
        await fake.publish(CHANNEL, {}, id="m")
        await collector.next()
        await fake.drop_all()
        await fake.wait_attached(CHANNEL, count=2)
        fake.api_key = "testapp.testkey:revoked"
        await fake.drop_all()
        await service.wait_until_healthy(False)
    rendered = caplog.text + "".join(f"{r.getMessage()}{r.exc_text or ''}" for r in caplog.records)
    # The SDK logs the websocket URL; it must be there, with the secret replaced.
    assert "attempting to connect to ws://127.0.0.1" in rendered
    assert "***" in rendered
    for form in (SECRET, "s3cr3t%2FValue%2BWith%3DChars", "s3cr3t"):
        assert form not in rendered
    assert SECRET not in repr(service)


async def test_malformed_key_makes_start_raise_without_quoting_the_key(
    fake: FakeAblyServer,
) -> None:
    service = make_service(fake, Collector(), api_key=SecretStr(SECRET))
    with pytest.raises(AblyConnectionFailed) as caught:
        await service.start()
    assert SECRET not in str(caught.value)
    assert not service.healthy


async def test_unreachable_endpoint_fails_start_without_sdk_tracebacks_in_the_log(
    fake: FakeAblyServer, caplog: pytest.LogCaptureFixture
) -> None:
    await fake.stop()  # nothing listens on its port any more
    service = make_service(fake, Collector(), connect_timeout_secs=1.5)

    with pytest.raises(AblyConnectionFailed, match="could not connect"):
        await service.start()
    await service.close()
    await asyncio.sleep(0.5)  # the SDK's own tasks and state changes after the close
    gc.collect()  # "Task exception was never retrieved" is logged when such a task is freed
    await asyncio.sleep(0)

    noise = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR and (r.name == "asyncio" or r.name.startswith("ably"))
    ]
    assert noise == []


async def test_quieting_the_sdk_leaves_our_own_task_errors_reported_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_sdk_loose_ends(asyncio.get_running_loop())

    async def ours() -> None:
        raise ValueError("a bug of ours")

    task = asyncio.create_task(ours())
    await asyncio.wait({task})
    assert sdk_coroutine_name(task) is None
    del task
    gc.collect()  # freed without anyone retrieving its exception

    (record,) = [r for r in caplog.records if r.name == "asyncio"]
    assert record.levelno == logging.ERROR
    assert "Task exception was never retrieved" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
