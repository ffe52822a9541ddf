"""History, rewind, retention, REST credentials and stalled connections, through the real SDK.

ably-python 3.1.4 reads history through REST only (``channel.history()``; the realtime channel
inherits the REST one), so these tests read it with ``AblyRest`` on token auth, as a client of
the fake must (the SDK refuses basic auth over plain http).
"""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import pytest
from ably import AblyRealtime
from ably.types.channeloptions import ChannelOptions
from ably.util.exceptions import AblyException
from fake_ably_server import FakeAblyServer, realtime_options
from fake_ably_server.pytest_plugin import TEST_API_KEY

Sdk = Any  # conftest.Sdk (test modules cannot import conftest under importlib mode)


def now_ms() -> int:
    return int(time.time() * 1000)


def ids(page: Any) -> list[str]:
    return [message.id for message in page.items]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_history_is_newest_first_with_the_fields_the_sdk_delivered_live(
    fake_ably: FakeAblyServer, sdk: Sdk, binary: bool
) -> None:
    async with (
        sdk.realtime(fake_ably, binary=binary) as client,
        sdk.rest(fake_ably, binary=binary) as rest,
    ):
        received = await sdk.subscribe_queue(client, "c")
        await fake_ably.publish("c", {"exec": "rebalance"}, name="cmd", id="m-1")
        await fake_ably.publish("c", "raw text")
        await fake_ably.publish("c", b"\x00\x01")
        live = [await sdk.next_message(received) for _ in range(3)]
        page = await rest.channels.get("c").history()

    def fields(message: Any) -> tuple[object, ...]:
        return (message.id, message.name, message.data, message.timestamp, message.connection_id)

    assert [fields(m) for m in page.items] == [fields(m) for m in reversed(live)]
    assert page.items[1].id.endswith(":0")  # derived from the publish, as the SDK derives it
    assert all(m.encoding == "" for m in page.items)  # fully decoded
    assert page.is_last()
    content_type = page.response.headers["Content-Type"]
    assert content_type.startswith("application/x-msgpack" if binary else "application/json")


async def test_history_forwards_between_start_and_end_is_that_window_oldest_first(
    sdk: Sdk,
) -> None:
    t0 = now_ms() - 60_000
    async with (
        FakeAblyServer(api_key=TEST_API_KEY, history_retention_secs=3600) as fake,
        sdk.rest(fake) as rest,
    ):
        for i in range(5):
            await fake.publish("c", f"m{i}", id=f"m{i}", timestamp_ms=t0 + i * 1000)
        page = await rest.channels.get("c").history(
            direction="forwards", start=t0 + 1000, end=t0 + 3000
        )
    assert ids(page) == ["m1", "m2", "m3"]


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("backwards", [["m4", "m3"], ["m2", "m1"], ["m0"]]),
        ("forwards", [["m0", "m1"], ["m2", "m3"], ["m4"]]),
    ],
)
async def test_history_pages_follow_the_link_headers_to_the_last_page(
    fake_ably: FakeAblyServer, sdk: Sdk, direction: str, expected: list[list[str]]
) -> None:
    async with sdk.rest(fake_ably) as rest:
        for i in range(5):  # same-millisecond timestamps are ordered by channel serial
            await fake_ably.publish("c", f"m{i}", id=f"m{i}")
        page = await rest.channels.get("c").history(direction=direction, limit=2)
        pages = [ids(page)]
        while page.has_next():
            page = await page.next()
            pages.append(ids(page))
        first = await page.first()
    assert pages == expected
    assert ids(first) == expected[0]


async def test_history_pages_keep_the_end_of_the_first_request(
    fake_ably: FakeAblyServer, sdk: Sdk
) -> None:
    async with sdk.rest(fake_ably) as rest:
        for i in range(3):
            await fake_ably.publish("c", f"m{i}", id=f"m{i}", timestamp_ms=now_ms() - 1000)
        channel = rest.channels.get("c")
        page = await channel.history(direction="forwards", limit=2, end=now_ms() - 500)
        # After the first request's end, before the second request's now: only the end the
        # first page's link keeps leaves it out of the second page.
        await fake_ably.publish("c", "later", id="later", timestamp_ms=now_ms() - 200)
        second = await page.next()
        again = await channel.history(direction="forwards")
    assert (ids(page), ids(second)) == (["m0", "m1"], ["m2"])
    assert ids(again) == ["m0", "m1", "m2", "later"]


@pytest.mark.parametrize(
    ("retention_secs", "expected"),
    [(120, ["recent"]), (3600, ["recent", "old"])],
    ids=["default-2-minutes", "persisted-1-hour"],
)
async def test_history_keeps_messages_for_the_retention_period_only(
    sdk: Sdk, retention_secs: float, expected: list[str]
) -> None:
    async with (
        FakeAblyServer(api_key=TEST_API_KEY, history_retention_secs=retention_secs) as fake,
        sdk.rest(fake) as rest,
    ):
        await fake.publish("c", "old", id="old", timestamp_ms=now_ms() - 180_000)
        await fake.publish("c", "recent", id="recent", timestamp_ms=now_ms() - 60_000)
        page = await rest.channels.get("c").history()
    assert ids(page) == expected


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=1001", "limit must be between 1 and 1000"),
        ("direction=sideways", "direction must be backwards or forwards"),
        ("start=20&end=10", "start (20) must not be after end (10)"),
        ("start=yesterday", "start must be an integer"),
        ("cursor=x", "malformed cursor"),
    ],
)
async def test_history_with_a_bad_parameter_is_refused_naming_it(
    fake_ably: FakeAblyServer, query: str, fragment: str
) -> None:
    basic = base64.b64encode(TEST_API_KEY.encode()).decode()
    url = f"http://{fake_ably.endpoint}/channels/c/messages?{query}"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Authorization": f"Basic {basic}"}) as response,
    ):
        body = await response.json()
    assert response.status == 400
    assert body["error"]["code"] == 40000
    assert fragment in body["error"]["message"]


async def test_history_without_credentials_or_with_a_wrong_key_is_refused(
    fake_ably: FakeAblyServer, sdk: Sdk
) -> None:
    url = f"http://{fake_ably.endpoint}/channels/c/messages"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        anonymous = (response.status, (await response.json())["error"]["code"])
    async with sdk.rest(fake_ably, key="fakeapp.fakekey:wrong-secret") as rest:
        with pytest.raises(AblyException) as refused:
            await rest.channels.get("c").history()
    assert anonymous == (401, 40101)
    assert refused.value.code == 40101  # the token request's signature does not match


async def test_realtime_client_connects_with_a_token_the_fake_issued_and_not_a_made_up_one(
    fake_ably: FakeAblyServer, sdk: Sdk
) -> None:
    async with sdk.rest(fake_ably) as rest:
        details = await rest.auth.request_token()
    options = realtime_options(fake_ably.endpoint)
    for token, outcome in ((details.token, "connected"), ("made-up", "failed")):
        client = AblyRealtime(token=token, **options)
        try:
            change = await sdk.next_event(client.connection, outcome)
        finally:
            await client.close()
        assert change.current == outcome
    assert details.expires - details.issued == 3_600_000


async def test_rewind_by_time_on_first_attach_sends_only_that_period(sdk: Sdk) -> None:
    async with (
        FakeAblyServer(api_key=TEST_API_KEY, history_retention_secs=3600) as fake,
        sdk.realtime(fake) as client,
    ):
        await fake.publish("c", "old", id="old", timestamp_ms=now_ms() - 600_000)
        await fake.publish("c", "recent", id="recent", timestamp_ms=now_ms() - 30_000)
        received = await sdk.subscribe_queue(client, "c", params={"rewind": "1m"})
        await fake.publish("c", "live", id="live")
        got = [(await sdk.next_message(received)).id for _ in range(2)]
    assert got == ["recent", "live"]


async def test_rewind_by_count_cutting_into_a_publish_keeps_the_message_ids(
    fake_ably: FakeAblyServer, sdk: Sdk
) -> None:
    await fake_ably.publish_raw("c", [{"data": "a"}, {"data": "b"}, {"data": "c"}])
    publish_id = fake_ably.history("c")[0]["id"]
    async with sdk.realtime(fake_ably) as client:
        channel = client.channels.get("c", ChannelOptions(params={"rewind": "2"}))
        received = await sdk.subscribe_queue(client, "c")
        got = [await sdk.next_message(received) for _ in range(2)]
    assert [(m.id, m.data) for m in got] == [(f"{publish_id}:1", "b"), (f"{publish_id}:2", "c")]
    assert channel.params == {"rewind": "2"}


async def test_rewind_sends_at_most_100_messages(fake_ably: FakeAblyServer, sdk: Sdk) -> None:
    for i in range(120):
        await fake_ably.publish("c", f"m{i}", id=f"m{i}")
    async with sdk.realtime(fake_ably) as client:
        received = await sdk.subscribe_queue(client, "c", params={"rewind": "500"})
        await fake_ably.publish("c", "end", id="end")
        got = [(await sdk.next_message(received)).id]
        while got[-1] != "end":
            got.append((await sdk.next_message(received)).id)
    assert got == [f"m{i}" for i in range(20, 120)] + ["end"]


async def test_stalled_connection_stays_connected_but_deaf_until_unstalled(
    fake_ably: FakeAblyServer, sdk: Sdk
) -> None:
    async with (
        sdk.realtime(fake_ably, realtime_request_timeout=500) as client,
        sdk.rest(fake_ably) as rest,
    ):
        received = await sdk.subscribe_queue(client, "c")
        assert fake_ably.stall() == 1
        await fake_ably.publish("c", "while stalled", id="unheard")
        with pytest.raises(AblyException, match="Timeout waiting for ping"):
            await client.connection.ping()
        state_while_stalled = client.connection.state
        async with sdk.realtime(fake_ably) as other:  # a new connection is served
            other_received = await sdk.subscribe_queue(other, "c")
            await fake_ably.publish("c", "to the new one", id="heard")
            assert (await sdk.next_message(other_received)).id == "heard"
        assert fake_ably.unstall() == 1
        assert await client.connection.ping() >= 0
        history = await rest.channels.get("c").history(direction="forwards")
    assert state_while_stalled == "connected"
    assert received.empty()  # neither message reached the stalled connection
    assert ids(history) == ["unheard", "heard"]
