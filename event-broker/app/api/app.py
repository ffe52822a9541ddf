"""``create_app``: the FastAPI app of the daemon, built from its ``Runtime``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from app import __version__
from app.api.account_views import AccountViews
from app.api.auth import API_KEY_HEADER, AuthGuard
from app.api.context import ApiContext
from app.api.errors import install_error_handlers
from app.api.hot_reads import HotReads
from app.api.metrics import DaemonMetrics
from app.api.metrics import router as metrics_router
from app.api.reports import AccountReports
from app.api.routes import accounts, connection, health, runs, stream
from app.api.security import SecurityMiddleware
from app.api.static import mount_static
from app.runtime import Runtime

__all__ = ["DaemonApp", "create_app"]

_DESCRIPTION = f"""
Preview and rebalance the daemon's accounts, read its journal (runs, orders, events), follow
runs live (Server-Sent Events) and scrape its metrics.

Every endpoint but `/api/v1/health` needs the daemon's `API_KEY` in the `{API_KEY_HEADER}`
header (or `Authorization: Bearer`). Requests that change something need a JSON body
(`Content-Type: application/json`). Money, prices and weights are decimal strings.
"""


class DaemonApp(FastAPI):
    """The daemon's FastAPI app: the polled reads answered by ``hot_reads`` when it can."""

    hot_reads: HotReads | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot_reads is not None and await self.hot_reads.answer(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(
    runtime: Runtime, *, realtime_state: Callable[[], str] = lambda: "disabled"
) -> DaemonApp:
    """The API and dashboard over ``runtime``.

    Args:
        runtime: The daemon's object graph; runs started here go through its executors.
        realtime_state: The realtime link's state, read on each status request.
    """
    settings = runtime.config.settings
    app = DaemonApp(
        title="Portfolio rebalancer daemon",
        version=__version__,
        description=_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    guard = AuthGuard(settings.api_key, max_failures=settings.api_auth_max_failures)
    metrics = DaemonMetrics(runtime, realtime_state, guard)
    runtime.executor.add_listener(metrics)
    app.state.ctx = ApiContext(runtime, realtime_state, __version__)
    app.state.guard = guard
    app.state.metrics = metrics
    app.state.account_views = views = AccountViews(runtime)
    app.state.account_reports = AccountReports(runtime.reader)
    install_error_handlers(app)
    for module in (health, accounts, runs, connection, stream):
        app.include_router(module.router)
    app.include_router(metrics_router)
    mount_static(app)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api_cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=[API_KEY_HEADER, "Authorization", "Content-Type"],
        )
    app.add_middleware(SecurityMiddleware, allowed_origins=settings.api_cors_origins)
    app.hot_reads = HotReads(guard, views, metrics)
    return app
