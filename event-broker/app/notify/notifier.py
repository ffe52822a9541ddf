"""Notifications through Apprise: one message per account run, never failing the run.

Apprise sends synchronously, so each notification runs in a worker thread under a timeout,
and every Apprise target's own socket timeouts are capped by it so the thread ends soon after.
A notification that fails is logged (naming the target's number and scheme, never its URL)
and reported as ``False``; it never raises into the caller.

Apprise URLs carry credentials (bot tokens, webhook keys, passwords), and Apprise and urllib3
write request URLs into their own DEBUG and ERROR log lines. A redacting filter on those two
loggers replaces every credential-looking part of the configured URLs with ``****`` before any
handler sees the line.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

from broker_connector_base import InvalidInputError
from pydantic import SecretStr

from app.models import AccountExecutionResult
from app.notify.attribution import by_strategy_text, several_strategies, shares_text
from app.notify.execution import execution_line, execution_summary

__all__ = [
    "NotificationLevel",
    "NotificationService",
    "check_notification_urls",
    "format_account_result",
    "format_reconciliation",
]

logger = logging.getLogger(__name__)

NotificationLevel = Literal["info", "success", "warning", "failure"]

_THIRD_PARTY_LOGGERS = ("apprise", "urllib3.connectionpool")
_URL_PARTS = re.compile(r"[/:@?&=#,;]+")
_HOST_NAME = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_MIN_SECRET_LEN = 6


def _secret_fragments(url: str) -> set[str]:
    """The URL and every part of it long enough to be a credential (host names excepted)."""
    _, _, rest = url.partition("://")
    parts = {part for part in _URL_PARTS.split(rest) if len(part) >= _MIN_SECRET_LEN}
    return {url} | {part for part in parts if not _HOST_NAME.match(part)}


class _RedactSecrets(logging.Filter):
    """Replaces registered secret fragments in third-party log records."""

    fragments: ClassVar[set[str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.fragments:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        redacted = message
        # Longest first, so a whole URL is replaced before its pieces.
        for fragment in sorted(self.fragments, key=len, reverse=True):
            redacted = redacted.replace(fragment, "****")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _RedactSecrets()


@functools.cache
def _load_apprise() -> None:
    """Import Apprise and load all its plugins, once, when a notification URL is configured.

    Not at import: Apprise and its plugins (with ``requests`` and ``oauthlib``) hold about
    18 MB, which a daemon without ``NOTIFICATION_URLS`` would carry idle for nothing. With
    URLs they are loaded at start-up, by ``check_notification_urls`` (before anything trades)
    or the ``NotificationService``, never first inside a notification: Apprise loads its
    plugins on first use, and its e-mail plugin imports the stdlib ``imghdr`` module, which
    warns DeprecationWarning on Python 3.11/3.12 (apprise shims it on 3.13); the warning is
    silenced here, where they are loaded.
    """
    from apprise.manager_plugins import NotificationManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        NotificationManager().load_modules()  # type: ignore[no-untyped-call]


def _install_redaction(urls: Sequence[SecretStr]) -> None:
    for url in urls:
        _RedactSecrets.fragments |= _secret_fragments(url.get_secret_value())
    for name in _THIRD_PARTY_LOGGERS:
        third_party = logging.getLogger(name)
        if _REDACTOR not in third_party.filters:
            third_party.addFilter(_REDACTOR)


def check_notification_urls(urls: Sequence[SecretStr]) -> None:
    """Refuse, at start, a notification URL Apprise cannot use (before anything trades).

    Raises:
        InvalidInputError: Naming each bad URL by its number and scheme (never its text: a
            URL carries credentials).
    """
    _install_redaction(urls)
    if not urls:
        return  # nothing to check: Apprise is not loaded at all
    _load_apprise()
    import apprise  # loaded above (see _load_apprise)

    bad = []
    for number, url in enumerate(urls, start=1):
        scheme, separator, _ = url.get_secret_value().partition("://")
        shown = f"{scheme}://..." if separator and scheme.isalnum() else "no scheme://"
        if apprise.Apprise.instantiate(url.get_secret_value()) is None:
            bad.append(f"URL #{number} ({shown}) is not a notification URL Apprise knows")
    if bad:
        raise InvalidInputError("NOTIFICATION_URLS: " + "; ".join(bad), "settings")


def _money(value: object) -> str:
    return "unknown" if value is None else f"${value:,.2f}"


def _trade_line(trade: Any) -> str:
    line = f"{trade.action} {abs(trade.quantity)} {trade.symbol} @ {trade.price}"
    if trade.status is not None:
        line += f" -> {trade.status}"
        if trade.filled_quantity:
            line += f" {abs(trade.filled_quantity)}"
            if trade.avg_fill_price is not None:
                line += f" @ {trade.avg_fill_price}"
    return line


_WHAT = {"print-rebalance": "Preview", "rebalance": "Rebalance", "snapshot": "Snapshot"}


def format_account_result(result: AccountExecutionResult) -> tuple[str, str, NotificationLevel]:
    """Title, body and level of the message for one account run."""
    preview = result.mode == "print-rebalance"
    what = _WHAT[result.mode]
    count = len(result.trades)
    if result.status == "succeeded":
        noun = "proposed trade(s)" if preview else "order(s) placed"
        title = f"{what} finished: {result.account_id} ({count} {noun})"
        summary = f"{count} {noun}" if count else "no trades needed"
        level: NotificationLevel = "info" if preview else "success"
    elif result.status == "refused":
        title, summary, level = f"{what} skipped: {result.account_id}", "skipped", "warning"
    else:
        state = "timed out" if result.status == "timed_out" else "failed"
        title, summary, level = f"{what} {state}: {result.account_id}", state, "failure"
    lines = [f"Account {result.account_id}: {summary} (run {result.run_id})."]
    if result.error:
        lines.append(result.error)
    if result.total_value is not None or result.cash_balance is not None:
        lines.append(
            f"Account value {_money(result.total_value)}, cash {_money(result.cash_balance)}."
        )
    attributed = several_strategies(result)
    lines.extend(
        _trade_line(trade)
        + (f" for {shares_text(trade.attribution)}" if attributed and trade.attribution else "")
        for trade in result.trades
    )
    parts = by_strategy_text(result)
    if parts is not None:
        lines.append(f"By strategy (planned values): {parts}.")
    if result.execution is not None:
        summary = execution_summary(result.execution)
        lines.append(summary[0].upper() + summary[1:] + ".")
        lines.extend(execution_line(order) for order in result.execution.orders)
    lines.extend(f"Note: {note}" for note in result.notes)
    lines.extend(
        f"Position differs from the fills: {d.describe()}" for d in result.position_differences
    )
    lines.extend(f"Warning: {warning}" for warning in result.warnings)
    return title, "\n".join(lines), level


def format_reconciliation(
    result: AccountExecutionResult, why: str
) -> tuple[str, str, NotificationLevel]:
    """Title, body and level of the message for what a reconciliation found."""
    changed = bool(result.position_differences)
    title = (
        f"Positions changed outside the daemon: {result.account_id}"
        if changed
        else f"Orders reconciled with the broker: {result.account_id}"
    )
    lines = [f"Account {result.account_id}, {why}:"]
    lines.extend(f"Order: {note}" for note in result.notes)
    lines.extend(
        f"Position: {d.describe()} (from the journal's fills); nothing was traded"
        for d in result.position_differences
    )
    return title, "\n".join(lines), "warning"


class NotificationService:
    """Sends notifications to every configured Apprise URL.

    Args:
        urls: Apprise URLs (``NOTIFICATION_URLS``); empty disables notifications.
        timeout_secs: Upper bound for one notification, all targets together.
        banner: Called for each notification; a line it returns (trading is halted) heads
            the body and marks the title.
    """

    def __init__(
        self,
        urls: Sequence[SecretStr],
        *,
        timeout_secs: float = 10,
        banner: Callable[[], str | None] | None = None,
    ) -> None:
        if timeout_secs <= 0:
            raise ValueError(f"timeout_secs must be positive, got {timeout_secs}")
        self._urls = tuple(urls)
        self.timeout_secs = timeout_secs
        self._banner = banner
        _install_redaction(self._urls)
        if self._urls:
            _load_apprise()  # now, not in the first notification's thread

    def __repr__(self) -> str:
        return f"NotificationService({len(self._urls)} target(s), timeout {self.timeout_secs}s)"

    @property
    def enabled(self) -> bool:
        """True when at least one URL is configured."""
        return bool(self._urls)

    async def notify(self, *, title: str, body: str, level: NotificationLevel) -> bool:
        """Send one notification to every target.

        Returns:
            True when every target accepted it; False when none is configured, or any target
            failed, was invalid, or the timeout passed. Never raises (except cancellation).
        """
        if not self._urls:
            logger.debug("Notification not sent (no NOTIFICATION_URLS): %s", title)
            return False
        banner = self._banner() if self._banner is not None else None
        if banner:
            # While trading is halted every message says so first (the owner must not forget).
            title, body = f"[HALTED] {title}", f"{banner}\n\n{body}"
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._send, title, body, level),
                timeout=self.timeout_secs,
            )
        except TimeoutError:
            logger.warning(
                "Notification %r not confirmed within %ss; giving up", title, self.timeout_secs
            )
        except Exception:  # a notification must never fail the run that triggered it
            logger.exception("Notification %r failed unexpectedly", title)
        return False

    async def notify_account_result(self, result: AccountExecutionResult) -> bool:
        """Send the message for one account run (finished, previewed, refused or failed)."""
        title, body, level = format_account_result(result)
        return await self.notify(title=title, body=body, level=level)

    async def notify_reconciliation(self, result: AccountExecutionResult, why: str) -> bool:
        """Send what a reconciliation (``why``: start-up, position check, ...) found."""
        title, body, level = format_reconciliation(result, why)
        return await self.notify(title=title, body=body, level=level)

    def _send(self, title: str, body: str, level: NotificationLevel) -> bool:
        """Deliver to each target in turn (runs in a worker thread)."""
        import apprise  # loaded by __init__ (see _load_apprise)

        notify_type = apprise.NotifyType(level)  # our levels are its values
        delivered = 0
        for number, url in enumerate(self._urls, start=1):
            scheme = url.get_secret_value().partition("://")[0] or "?"
            target = apprise.Apprise.instantiate(url.get_secret_value())
            if target is None:
                logger.warning(
                    "Notification URL #%d (%s) is not a valid Apprise URL", number, scheme
                )
                continue
            # Socket timeouts below the overall limit, so the thread ends soon after it.
            target.socket_connect_timeout = min(target.socket_connect_timeout, self.timeout_secs)
            target.socket_read_timeout = min(target.socket_read_timeout, self.timeout_secs)
            if target.notify(body=body, title=title, notify_type=notify_type):
                delivered += 1
            else:
                logger.warning("Notification %r to target #%d (%s) failed", title, number, scheme)
        return delivered == len(self._urls)
