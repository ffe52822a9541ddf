"""``AuthGuard`` on its own clock: the failure window ends, successes do not count."""

from __future__ import annotations

import pytest
from app.api.auth import AuthGuard
from app.api.errors import ApiError
from pydantic import SecretStr

KEY = "k" * 24


def test_blocked_client_may_try_again_once_the_window_has_passed() -> None:
    now = [1000.0]
    guard = AuthGuard(SecretStr(KEY), max_failures=2, window_secs=60, clock=lambda: now[0])
    for guess in ("a", "b"):
        with pytest.raises(ApiError):
            guard.check("192.0.2.7", guess, what="GET /x")
    with pytest.raises(ApiError) as blocked:
        guard.check("192.0.2.7", KEY, what="GET /x")
    now[0] += 60.5

    guard.check("192.0.2.7", KEY, what="GET /x")

    assert blocked.value.status == 429
    assert blocked.value.headers == {"Retry-After": "60"}
    assert guard.failures_total == 2


def test_right_keys_never_count_as_failures() -> None:
    guard = AuthGuard(SecretStr(KEY), max_failures=1)
    for _ in range(5):
        guard.check("192.0.2.8", KEY, what="GET /x")

    assert guard.retry_after("192.0.2.8") == 0
    assert guard.failures_total == 0


def test_guard_repr_never_shows_the_key() -> None:
    assert KEY not in repr(AuthGuard(SecretStr(KEY)))
