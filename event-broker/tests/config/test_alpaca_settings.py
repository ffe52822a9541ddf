"""Alpaca accounts in the configuration: key pairs from the environment, base URL, checks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from app.config.logs import secrets_of
from app.config.settings import AppConfig, load_app_config, load_settings
from app.trading.connections import AlpacaWorkerConnection, connection_for
from broker_connector_base import InvalidInputError

BASE_ENV = {"ALLOCATIONS_API_URL": "file:///srv/allocations"}
KEY_ID = "PKTESTKEYID000000001"
SECRET = "test-secret-value-0001"


def _accounts(tmp_path: Path, *entries: str) -> dict[str, str]:
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts:\n" + "".join(entries), encoding="utf-8")
    return {"ACCOUNTS_FILE": str(path), "REPLACEMENT_SETS_FILE": str(tmp_path / "none.yaml")}


def _alpaca(account_id: str, **fields: str) -> str:
    values = {"type": "paper", "strategy_name": "s1", "broker": "alpaca", **fields}
    inner = ", ".join(f"{key}: {value}" for key, value in values.items())
    return f"  - {{account_id: {account_id}, {inner}}}\n"


def _load(tmp_path: Path, *entries: str, **environ: str) -> AppConfig:
    env = {**BASE_ENV, **_accounts(tmp_path, *entries), **environ}
    return load_app_config(env_file=None, environ=env)


def _connection(config: AppConfig, account_id: str) -> AlpacaWorkerConnection:
    connection = connection_for(config.settings, config.account(account_id))
    assert isinstance(connection, AlpacaWorkerConnection)
    return connection


def test_alpaca_account_uses_the_daemon_key_pair_and_base_url(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        _alpaca("PA1111"),
        ALPACA_API_KEY_ID=KEY_ID,
        ALPACA_API_SECRET_KEY=SECRET,
        ALPACA_BASE_URL="http://127.0.0.1:8765/",
    )

    connection = _connection(config, "PA1111")

    assert connection.key_id.get_secret_value() == KEY_ID
    assert connection.secret_key.get_secret_value() == SECRET
    assert connection.base_url == "http://127.0.0.1:8765"
    assert KEY_ID not in repr(connection)
    assert SECRET not in repr(config.settings)


def test_alpaca_accounts_with_own_key_pairs_each_get_their_own(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        _alpaca("PA1111"),
        _alpaca("pa-2222"),
        ALPACA_API_KEY_ID="daemon-key",
        ALPACA_API_SECRET_KEY="daemon-secret",
        ALPACA_PA1111_API_KEY_ID="key-1111",
        ALPACA_PA1111_API_SECRET_KEY="secret-1111",
        alpaca_pa_2222_api_key_id="key-2222",  # names are case-insensitive; "-" is "_"
        ALPACA_PA_2222_API_SECRET_KEY="secret-2222",
    )

    first, second = _connection(config, "PA1111"), _connection(config, "pa-2222")

    assert (first.key_id.get_secret_value(), first.secret_key.get_secret_value()) == (
        "key-1111",
        "secret-1111",
    )
    assert (second.key_id.get_secret_value(), second.secret_key.get_secret_value()) == (
        "key-2222",
        "secret-2222",
    )


def test_alpaca_account_pair_is_read_from_env_file_and_the_environment_wins(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        textwrap.dedent(
            """\
            ALPACA_PA1111_API_KEY_ID=file-key
            ALPACA_PA1111_API_SECRET_KEY=file-secret
            """
        ),
        encoding="utf-8",
    )
    environ = {
        **BASE_ENV,
        **_accounts(tmp_path, _alpaca("PA1111")),
        "ALPACA_PA1111_API_SECRET_KEY": "environment-secret",
    }

    config = load_app_config(env_file=env_file, environ=environ)

    connection = _connection(config, "PA1111")
    assert connection.key_id.get_secret_value() == "file-key"
    assert connection.secret_key.get_secret_value() == "environment-secret"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ALPACA_API_KEY_ID": KEY_ID},
            "ALPACA_API_SECRET_KEY is required when ALPACA_API_KEY_ID is set",
        ),
        (
            {"ALPACA_API_SECRET_KEY": SECRET},
            "ALPACA_API_KEY_ID is required when ALPACA_API_SECRET_KEY is set",
        ),
        (
            {"ALPACA_PA1111_API_KEY_ID": KEY_ID},
            "ALPACA_PA1111_API_SECRET_KEY: is required when ALPACA_PA1111_API_KEY_ID is set",
        ),
        (
            {"ALPACA_PA1111_API_SECRET_KEY": SECRET},
            "ALPACA_PA1111_API_KEY_ID: is required when ALPACA_PA1111_API_SECRET_KEY is set",
        ),
    ],
)
def test_half_an_alpaca_key_pair_names_the_missing_variable_never_the_value(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=None, environ={**BASE_ENV, **environ})

    assert message in str(caught.value)
    assert KEY_ID not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_tradable_alpaca_account_without_keys_is_refused_naming_the_variables(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _load(tmp_path, _alpaca("PA1111"), _alpaca("PA3333", strategy_name="s2"))

    message = str(caught.value)
    for account in ("PA1111", "PA3333"):
        assert (
            f"Alpaca account {account} has no API keys: set ALPACA_{account}_API_KEY_ID and "
            f"ALPACA_{account}_API_SECRET_KEY (this account's own pair) or ALPACA_API_KEY_ID "
            "and ALPACA_API_SECRET_KEY" in message
        )


def test_alpaca_account_that_is_not_tradable_needs_no_keys(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        _alpaca("PA1111", enabled="false"),
        _alpaca("A2222", type="live"),
        "  - {account_id: DU1001, type: paper, strategy_name: s1}\n",
    )

    assert [a.account_id for a in config.tradable_accounts()] == ["DU1001"]


def test_two_alpaca_accounts_on_the_daemon_key_pair_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _load(
            tmp_path,
            _alpaca("PA1111"),
            _alpaca("PA3333"),
            ALPACA_API_KEY_ID=KEY_ID,
            ALPACA_API_SECRET_KEY=SECRET,
        )

    assert "Alpaca accounts PA1111, PA3333 would all use ALPACA_API_KEY_ID" in str(caught.value)
    assert "give each its own pair (ALPACA_PA1111_API_KEY_ID, ...)" in str(caught.value)


def test_alpaca_accounts_whose_ids_share_a_variable_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _load(
            tmp_path,
            _alpaca("PA-1"),
            _alpaca("PA_1"),
            ALPACA_PA_1_API_KEY_ID=KEY_ID,
            ALPACA_PA_1_API_SECRET_KEY=SECRET,
        )

    assert "Alpaca accounts PA-1 and PA_1 both read ALPACA_PA_1_API_KEY_ID" in str(caught.value)


@pytest.mark.parametrize(
    ("mode", "url", "problem"),
    [
        ("live", "http://alpaca.example", "must be https:// when TRADING_MODE is live"),
        ("paper", "ftp://127.0.0.1", "must be an http(s) URL"),
        ("paper", "http://127.0.0.1:8765/v2", "must be a bare origin"),
        ("paper", "http://user:pw@127.0.0.1:8765", "must be a bare origin"),
    ],
)
def test_bad_alpaca_base_url_is_refused_naming_the_variable_not_the_value(
    mode: str, url: str, problem: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(
            env_file=None, environ={**BASE_ENV, "TRADING_MODE": mode, "ALPACA_BASE_URL": url}
        )

    assert f"ALPACA_BASE_URL: {problem}" in str(caught.value)
    assert url not in str(caught.value)


@pytest.mark.parametrize(
    ("mode", "url"), [("live", "https://alpaca-proxy.example"), ("paper", "http://sim:8765")]
)
def test_alpaca_base_url_is_accepted_https_for_live_and_http_for_paper(mode: str, url: str) -> None:
    settings = load_settings(
        env_file=None, environ={**BASE_ENV, "TRADING_MODE": mode, "ALPACA_BASE_URL": url}
    )

    assert settings.alpaca_base_url == url


def test_secrets_of_config_lists_every_alpaca_key_for_log_redaction(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        _alpaca("PA1111"),
        _alpaca("PA3333"),
        ALPACA_API_KEY_ID="daemon-key",
        ALPACA_API_SECRET_KEY="daemon-secret",
        ALPACA_PA3333_API_KEY_ID="key-3333",
        ALPACA_PA3333_API_SECRET_KEY="secret-3333",
    )

    redacted = {s.get_secret_value() for s in secrets_of(config) if s is not None}

    assert {"daemon-key", "daemon-secret", "key-3333", "secret-3333"} <= redacted
