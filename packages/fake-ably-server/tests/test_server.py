"""The fake driven by the real ably SDK (AblyRealtime / AblyRest 3.1.4) over loopback."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
import pytest
from fake_ably_server import Action, FakeAblyServer

Sdk = Any  # conftest.Sdk (test modules cannot import conftest under importlib mode)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        ({"exec": "rebalance"}, None, {"exec": "rebalance"}),
        ('{"exec": "rebalance"}', None, '{"exec": "rebalance"}'),
        ('{"exec":"rebalance"}', "json", {"exec": "rebalance"}),
        (b'{"exec":"rebalance"}', None, bytearray(b'{"exec":"rebalance"}')),
    ],
    ids=["dict", "raw-string", "json-string", "bytes"],
)
async def test_publish_each_data_form_reaches_sdk_subscriber_as_documented(
    fake_ably: FakeAblyServer,
    binary: bool,
    data: object,
    encoding: str | None,
    expected: object,
    sdk: Sdk,
) -> None:
    async with sdk.realtime(fake_ably, binary=binary) as client:
        received = await sdk.subscribe_queue(client, "strategy-alpha")
        message_id = await fake_ably.publish(
            "strategy-alpha", data, name="cmd", id="pub-1", encoding=encoding
        )
        message = await sdk.next_message(received)
    assert message.data == expected
    assert type(message.data) is type(expected)
    assert (message.id, message.name, message_id) == ("pub-1", "cmd", "pub-1")
    assert isinstance(message.timestamp, int)
    assert fake_ably.request_queries[0].get("format") == ("msgpack" if binary else None)


async def test_publish_without_id_gets_unique_ids_per_server_instance(
    fake_ably: FakeAblyServer,
) -> None:
    other = FakeAblyServer()
    first = await fake_ably.publish("c", "x")
    second = await fake_ably.publish("c", "y")
    third = await other.publish("c", "z")
    assert len({first, second, third}) == 3


async def test_wrong_key_sends_connection_to_failed_with_40101(
    fake_ably: FakeAblyServer, sdk: Sdk
) -> None:
    async with sdk.realtime(fake_ably, key="fakeapp.fakekey:wrong") as client:
        change = await asyncio.wait_for(client.connection.once_async("failed"), 5)
    assert change.reason.code == 40101
    assert fake_ably.connect_count == 0


async def test_ping_is_echoed_and_attach_params_are_echoed(
    fake_ably: FakeAblyServer, sdk: Sdk
) -> None:
    from ably.types.channeloptions import ChannelOptions

    async with sdk.realtime(fake_ably) as client:
        await client.connection.once_async("connected")
        assert await client.connection.ping() >= 0
        channel = client.channels.get("c", ChannelOptions(params={"rewind": "1"}))
        await fake_ably.publish("c", "before-attach")
        received: asyncio.Queue[Any] = asyncio.Queue()
        await channel.subscribe(received.put_nowait)
        rewound = await sdk.next_message(received)
    assert rewound.data == "before-attach"
    assert channel.params == {"rewind": "1"}
    heartbeats = [f for f in fake_ably.inbound if f.frame["action"] == Action.HEARTBEAT]
    assert heartbeats
    assert "id" in heartbeats[0].frame


async def test_drop_all_resumes_connection_and_reports_resumed_attach(
    fake_ably: FakeAblyServer,
    sdk: Sdk,
) -> None:
    async with sdk.realtime(fake_ably) as client:
        received = await sdk.subscribe_queue(client, "c")
        connection_id = client.connection.connection_manager.connection_id
        channel = client.channels.get("c")
        reattached = sdk.next_event(channel, "attached")
        assert await fake_ably.drop_all(abrupt=True) == 1
        change = await asyncio.wait_for(reattached, 5)
        await fake_ably.publish("c", "after-drop")
        message = await sdk.next_message(received)
        assert client.connection.connection_manager.connection_id == connection_id
    assert change.resumed is True
    assert message.data == "after-drop"
    assert "resume" in fake_ably.request_queries[1]


async def test_refused_resume_gives_new_connection_and_unresumed_attach(
    fake_ably: FakeAblyServer,
    sdk: Sdk,
) -> None:
    fake_ably.refuse_resume = True
    async with sdk.realtime(fake_ably) as client:
        await sdk.subscribe_queue(client, "c")
        first_id = client.connection.connection_manager.connection_id
        reattached = sdk.next_event(client.channels.get("c"), "attached")
        await fake_ably.drop_all(abrupt=False)
        change = await asyncio.wait_for(reattached, 5)
        assert client.connection.connection_manager.connection_id != first_id
    assert change.resumed is False


async def test_server_down_and_back_replays_messages_published_during_outage(
    fake_ably: FakeAblyServer,
    sdk: Sdk,
) -> None:
    async with sdk.realtime(fake_ably, realtime_request_timeout=1000) as client:
        received = await sdk.subscribe_queue(client, "c")
        await fake_ably.stop()
        await asyncio.wait_for(client.connection.once_async("disconnected"), 5)
        await fake_ably.publish("c", "while-away")
        await fake_ably.start()
        await fake_ably.wait_attached("c", count=2)
        message = await sdk.next_message(received)
    assert message.data == "while-away"


async def test_send_disconnected_makes_client_reconnect(
    fake_ably: FakeAblyServer, sdk: Sdk
) -> None:
    async with sdk.realtime(fake_ably) as client:
        received = await sdk.subscribe_queue(client, "c")
        await fake_ably.send_disconnected()
        await fake_ably.wait_connected(count=2)
        await fake_ably.wait_attached("c", count=2)
        await fake_ably.publish("c", "again")
        assert (await sdk.next_message(received)).data == "again"


async def test_channel_error_fails_only_that_channel(fake_ably: FakeAblyServer, sdk: Sdk) -> None:
    async with sdk.realtime(fake_ably) as client:
        await sdk.subscribe_queue(client, "c")
        channel = client.channels.get("c")
        failed = sdk.next_event(channel, "failed")
        await fake_ably.channel_error("c")
        change = await asyncio.wait_for(failed, 5)
        assert client.connection.state == "connected"
    assert change.reason.code == 40160


async def test_client_publish_is_acked_and_fanned_out_and_detach_answered(
    fake_ably: FakeAblyServer,
    sdk: Sdk,
) -> None:
    async with sdk.realtime(fake_ably) as client:
        received = await sdk.subscribe_queue(client, "c")
        channel = client.channels.get("c")
        await asyncio.wait_for(channel.publish("cmd", {"exec": "rebalance"}), 5)
        message = await sdk.next_message(received)
        await asyncio.wait_for(channel.detach(), 5)
        assert channel.state == "detached"
    assert message.data == {"exec": "rebalance"}
    assert fake_ably.history("c")[0]["messages"][0]["name"] == "cmd"
    await fake_ably.wait_inbound(Action.CLOSE)  # sent by client.close()
    actions = [f.frame["action"] for f in fake_ably.inbound]
    assert actions.count(Action.DETACH) == 1


async def test_withheld_attach_times_out_in_the_sdk(fake_ably: FakeAblyServer, sdk: Sdk) -> None:
    fake_ably.withhold_attach = True
    async with sdk.realtime(fake_ably, realtime_request_timeout=300) as client:
        with pytest.raises(Exception, match="timed out"):
            await client.channels.get("c").attach()
    await fake_ably.wait_inbound(Action.ATTACH)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_rest_publish_from_sdk_reaches_realtime_subscriber_and_history(
    fake_ably: FakeAblyServer, binary: bool, sdk: Sdk
) -> None:
    async with sdk.realtime(fake_ably) as client, sdk.rest(fake_ably, binary=binary) as rest:
        received = await sdk.subscribe_queue(client, "c")
        await rest.channels.get("c").publish("cmd", {"exec": "print-rebalance"})
        message = await sdk.next_message(received)
        history = await rest.channels.get("c").history()
    assert message.data == {"exec": "print-rebalance"}
    assert [m.data for m in history.items] == [{"exec": "print-rebalance"}]


async def test_http_publish_route_publishes_each_form(fake_ably: FakeAblyServer, sdk: Sdk) -> None:
    base = f"http://{fake_ably.endpoint}"
    async with sdk.realtime(fake_ably) as client, aiohttp.ClientSession() as http:
        received = await sdk.subscribe_queue(client, "c")
        for body in ({"data": {"exec": "rebalance"}, "id": "m1"}, {"data_base64": "eyJ9"}):
            async with http.post(f"{base}/publish/c", json=body) as response:
                assert response.status == 201
        async with http.post(f"{base}/publish/c", json={"nodata": 1}) as response:
            assert response.status == 400
        first, second = await sdk.next_message(received), await sdk.next_message(received)
    assert (first.id, first.data) == ("m1", {"exec": "rebalance"})
    assert second.data == bytearray(b'{"}')


async def test_cli_prints_port_and_serves_until_sigterm_with_the_retention_given() -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "fake_ably_server", "--port", "0"),
        *("--history-retention-secs", "3600"),
        stdout=asyncio.subprocess.PIPE,
    )
    ten_minutes_ago = int(time.time() * 1000) - 600_000
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        port = int(line.strip().removeprefix("FAKE_ABLY_PORT="))
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            body = {"data": "x", "id": "old", "timestamp_ms": ten_minutes_ago}
            async with http.post(f"{base}/publish/c", json=body) as response:
                assert response.status == 201
                assert json.loads(await response.text())["id"] == "old"
            async with http.get(f"{base}/channels/c/messages") as response:
                history = await response.json()
            async with http.post(f"{base}/control/stall") as response:
                stalled = await response.json()
    finally:
        process.terminate()
        status = await asyncio.wait_for(process.wait(), 10)
    assert status == 0
    assert [(m["id"], m["timestamp"]) for m in history] == [("old", ten_minutes_ago)]
    assert stalled == {"stalled": 0}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="127.0.0.2 is Linux loopback")
async def test_server_listens_on_the_host_it_is_given_and_its_endpoint_names_it(sdk: Sdk) -> None:
    async def published_at(address: str, port: int) -> bool:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.post(f"http://{address}:{port}/publish/c", json={"data": "x"}):
                    return True
            except aiohttp.ClientConnectionError:
                return False

    async with FakeAblyServer(host="127.0.0.2") as only_there:
        assert only_there.endpoint == f"127.0.0.2:{only_there.port}"
        async with sdk.realtime(only_there) as client:
            await asyncio.wait_for(sdk.next_event(client.connection, "connected"), 5)
        assert not await published_at("127.0.0.1", only_there.port)
    async with FakeAblyServer(host="0.0.0.0") as everywhere:
        assert everywhere.endpoint == f"127.0.0.1:{everywhere.port}"
        assert await published_at("127.0.0.2", everywhere.port)


async def test_history_is_capped_at_history_max_oldest_dropped() -> None:
    server = FakeAblyServer(history_max=2)
    for data in ("a", "b", "c"):
        await server.publish("c", data)
    assert [frame["messages"][0]["data"] for frame in server.history("c")] == ["b", "c"]
