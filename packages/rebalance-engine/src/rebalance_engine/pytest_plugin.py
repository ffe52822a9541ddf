"""Pytest fixtures for suites that need a local allocations API (imports pytest and aiohttp's
server; ``rebalance_engine`` itself never imports this module).

Import the fixture into a ``conftest.py``::

    from rebalance_engine.pytest_plugin import allocations_api
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from rebalance_engine.testing import API_KEY, ENDLESS_CAP_BYTES, AllocationsAPI, dumps_document

__all__ = ["allocations_api"]


@pytest.fixture
async def allocations_api() -> AsyncIterator[AllocationsAPI]:
    """A real aiohttp server on 127.0.0.1 serving ``GET /v1/{strategy}/allocations``.

    It answers 401 without ``x-api-key: API_KEY``, 404 for a strategy without a document, the
    queued ``statuses`` first, and nothing while ``hang`` is set (until ``release``); answers
    carry ``content_type`` and ``headers``; ``endless`` streams a body that never ends.
    """
    api = AllocationsAPI()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await _answer(api, request)

    app = web.Application()
    app.router.add_get("/v1/{strategy}/allocations", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield api
    finally:
        api.release.set()
        await runner.cleanup()


async def _endless(request: web.Request, content_type: str) -> web.StreamResponse:
    """A 200 answer whose chunked body never ends (capped at ``ENDLESS_CAP_BYTES``)."""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b" " * 65_536
    with contextlib.suppress(ConnectionResetError):  # the client hung up: what we want
        for _ in range(ENDLESS_CAP_BYTES // len(chunk)):
            await response.write(chunk)
    return response


async def _answer(api: AllocationsAPI, request: web.Request) -> web.StreamResponse:
    """What ``api`` answers to one request (see ``allocations_api``)."""
    api.requests.append(dict(request.headers))
    if api.hang:
        await api.release.wait()
    if api.statuses:
        status = api.statuses.pop(0)
        if status != 200:
            return web.Response(status=status, text=f"status {status}", headers=api.headers)
    if request.headers.get("x-api-key") != API_KEY:
        return web.Response(status=401, text='{"error": "bad key"}')
    if api.endless:
        return await _endless(request, api.content_type)
    document = api.documents.get(request.match_info["strategy"])
    if document is None:
        return web.Response(status=404, text='{"error": "unknown strategy"}')
    if isinstance(document, bytes):
        body = document
    else:
        text = document if isinstance(document, str) else dumps_document(document)
        body = text.encode()
    # Content-Type as a raw header: aiohttp's content_type= would add its own charset.
    headers = {"Content-Type": api.content_type, **api.headers}
    return web.Response(body=body, headers=headers)
