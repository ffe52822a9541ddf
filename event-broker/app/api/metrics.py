"""``GET /metrics``: Prometheus metrics of the daemon (key required, like every endpoint).

Prometheus sends the key as a bearer token::

    scrape_configs:
      - job_name: rebalancer
        authorization: {type: Bearer, credentials_file: /etc/prometheus/rebalancer.key}
        static_configs: [{targets: ["127.0.0.1:8000"]}]

Counters count from the daemon's start (Prometheus handles the reset); the run counters see
every run of this daemon, whatever started it (signal, API), and change only when a run ends:
their exposition text is rendered then, not at every scrape. Gauges are read at scrape time;
the newest snapshot of each account is read from the journal only when the journal changed
since the last scrape (snapshots taken by the CLI in another process count too). Their text
is rendered again when one of them changed or a new second began (the snapshot ages count
in seconds): many scrapers at once cost one rendering a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from app.api.auth import AuthGuard, require_api_key
from app.models import AccountExecutionResult, RunMode
from app.runtime import Runtime
from app.store.queries import JournalReader, source_of_channel

__all__ = ["DaemonMetrics", "router"]

_DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900)


class _LastSnapshots:
    """Each account's newest snapshot time, read again only once the journal changed.

    Called on the event loop's thread only (``data_version`` is per thread).
    """

    def __init__(self, reader: JournalReader) -> None:
        self.reader = reader
        self._version: int | None = None
        self._times: dict[str, datetime] = {}

    def times(self) -> dict[str, datetime]:
        version = self.reader.data_version()
        if version != self._version:
            self._times = self.reader.last_snapshot_times()
            self._version = version
        return self._times


class _ReadAtScrape(Collector):
    """Values read when Prometheus scrapes: snapshot ages, failed API authentications."""

    def __init__(self, runtime: Runtime, guard: AuthGuard) -> None:
        self.snapshots = _LastSnapshots(runtime.reader)
        self.guard = guard

    def collect(self) -> Iterable[Metric]:
        ages = GaugeMetricFamily(
            "rebalancer_last_snapshot_age_seconds",
            "Seconds since the newest portfolio snapshot of each account",
            labels=["account_id"],
        )
        now = time.time()
        for account_id, taken_at in sorted(self.snapshots.times().items()):
            ages.add_metric([account_id], now - taken_at.timestamp())
        yield ages
        failures = CounterMetricFamily(
            "rebalancer_api_auth_failures",
            "API requests refused for a missing or wrong key",
        )
        failures.add_metric([], self.guard.failures_total)
        yield failures


class DaemonMetrics:
    """The daemon's metrics, in registries of their own; a ``RunListener``.

    ``registry`` holds what changes when a run ends (rendered once per change), ``live``
    what is read at every scrape.

    Args:
        runtime: The daemon's runtime (journal reader, strategies).
        realtime_state: The realtime link's state (``connected`` counts as up).
        guard: The API's key check (its failure count).
    """

    def __init__(
        self, runtime: Runtime, realtime_state: Callable[[], str], guard: AuthGuard
    ) -> None:
        self.runtime = runtime
        self.realtime_state = realtime_state
        self.guard = guard
        self.registry = CollectorRegistry()
        self.live = CollectorRegistry()
        self._rendered: bytes | None = None
        self._live_rendered: tuple[tuple[object, ...], bytes] | None = None
        self.clock: Callable[[], float] = time.time
        """Seconds since the epoch; the live gauges are rendered at most once in each."""
        self._sources: dict[str, str] = {}
        self.runs = Counter(
            "rebalancer_runs",
            "Account runs ended, by mode, status and source (signal, api, cli)",
            ["mode", "status", "source"],
            registry=self.registry,
        )
        self.failures = Counter(
            "rebalancer_run_failures",
            "Account runs that did not succeed (failed, refused, timed out)",
            ["mode", "status"],
            registry=self.registry,
        )
        self.orders = Counter(
            "rebalancer_orders",
            "Orders placed, by side and final status",
            ["side", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "rebalancer_run_duration_seconds",
            "Wall-clock length of account runs",
            ["mode"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        realtime = Gauge(
            "rebalancer_realtime_connected",
            "1 while the realtime (Ably) link is connected",
            registry=self.live,
        )
        realtime.set_function(lambda: 1.0 if realtime_state() == "connected" else 0.0)
        active = Gauge("rebalancer_active_runs", "Account runs in progress", registry=self.live)
        active.set_function(lambda: float(runtime.strategies.active_runs))
        self.live.register(_ReadAtScrape(runtime, guard))

    def run_started(
        self, *, run_id: str, account_id: str, mode: RunMode, event_row: int | None
    ) -> None:
        """Remember who started the run (for the ``source`` label)."""
        del account_id, mode
        channel = None if event_row is None else self.runtime.reader.channel_of_event(event_row)
        self._sources[run_id] = source_of_channel(channel)

    def run_finished(self, result: AccountExecutionResult) -> None:
        """Count the run, its orders, its duration."""
        self._rendered = None
        source = self._sources.pop(result.run_id, "unknown")
        self.runs.labels(result.mode, result.status, source).inc()
        if not result.success:
            self.failures.labels(result.mode, result.status).inc()
        self.duration.labels(result.mode).observe(result.duration_secs)
        for trade in result.trades:
            if trade.order_id is not None:
                status = "unknown" if trade.status is None else str(trade.status)
                self.orders.labels(trade.action, status).inc()

    def render(self) -> bytes:
        """The exposition text."""
        if self._rendered is None:
            self._rendered = generate_latest(self.registry)
        return self._rendered + self._render_live()

    def _render_live(self) -> bytes:
        # Everything the live gauges are made of, and the second they are rendered in.
        key = (
            self.realtime_state(),
            self.runtime.strategies.active_runs,
            self.runtime.reader.data_version(),
            self.guard.failures_total,
            int(self.clock()),
        )
        if self._live_rendered is None or self._live_rendered[0] != key:
            self._live_rendered = (key, generate_latest(self.live))
        return self._live_rendered[1]


router = APIRouter(tags=["metrics"], dependencies=[Depends(require_api_key)])


async def _metrics(request: Request) -> DaemonMetrics:
    metrics: DaemonMetrics = request.app.state.metrics
    return metrics


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(daemon: Annotated[DaemonMetrics, Depends(_metrics)]) -> Response:
    """Runs, orders, failures, run durations, realtime link, snapshot ages, auth failures."""
    return Response(daemon.render(), media_type=CONTENT_TYPE_LATEST)
