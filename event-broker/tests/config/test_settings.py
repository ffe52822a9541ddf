"""Settings, accounts.yaml and replacement-sets.yaml loading, and the errors an operator sees."""

from __future__ import annotations

import pickle
import re
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from app.config.files import load_accounts_file, load_replacement_sets
from app.config.settings import (
    AppConfig,
    Settings,
    load_app_config,
    load_settings,
)
from app.trading.connections import IBKRWorkerConnection, connection_for
from broker_connector_base import AccountConfig, InvalidInputError

REPO_ROOT = Path(__file__).resolve().parents[3]
BASE_ENV = {"ALLOCATIONS_API_URL": "file:///srv/allocations"}


def ib_client_id(settings: Settings, account: AccountConfig) -> int:
    connection = connection_for(settings, account)
    assert isinstance(connection, IBKRWorkerConnection)
    return connection.client_id


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def account_yaml(**fields: object) -> str:
    values: dict[str, object] = {
        "account_id": "DU111111",
        "type": "paper",
        "strategy_name": "s1",
    }
    values.update(fields)
    lines = [f"    {key}: {value}" for key, value in values.items()]
    lines[0] = "  - " + lines[0].lstrip()
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------


def test_load_settings_with_only_required_variable_uses_documented_defaults() -> None:
    settings = load_settings(env_file=None, environ=BASE_ENV)

    assert settings.trading_mode == "paper"
    assert settings.gateway_port == 4002
    assert settings.data_dir == Path("data")
    assert settings.notification_urls == ()
    assert settings.max_parallel_accounts == 4
    assert settings.realtime_api_key is None


def test_load_settings_live_mode_defaults_gateway_port_to_4001() -> None:
    settings = load_settings(env_file=None, environ={**BASE_ENV, "TRADING_MODE": "live"})

    assert settings.gateway_port == 4001


def test_load_settings_explicit_port_overrides_mode_default() -> None:
    settings = load_settings(env_file=None, environ={**BASE_ENV, "IB_GATEWAY_PORT": "7497"})

    assert settings.gateway_port == 7497


def test_load_settings_variable_names_are_case_insensitive() -> None:
    settings = load_settings(env_file=None, environ={**BASE_ENV, "trading_mode": "live"})

    assert settings.trading_mode == "live"


def test_load_settings_bad_trading_mode_names_variable_value_and_choices() -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=None, environ={**BASE_ENV, "TRADING_MODE": "lve"})

    assert "TRADING_MODE: 'lve' is not one of paper, live" in str(caught.value)


def test_load_settings_missing_allocations_url_is_reported_with_other_errors() -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=None, environ={"MAX_PARALLEL_ACCOUNTS": "0"})

    message = str(caught.value)
    assert "ALLOCATIONS_API_URL: is required" in message
    assert "MAX_PARALLEL_ACCOUNTS: '0' is not within 1..64" in message


def test_load_settings_plain_http_to_remote_host_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="ALLOCATIONS_API_URL"):
        load_settings(env_file=None, environ={"ALLOCATIONS_API_URL": "http://api.example.com/"})


@pytest.mark.parametrize(
    "url",
    ["https://api.example.com/v1", "file:///srv/allocations", "http://127.0.0.1:8080/"],
)
def test_load_settings_accepts_https_file_and_loopback_http(url: str) -> None:
    settings = load_settings(env_file=None, environ={"ALLOCATIONS_API_URL": url})

    assert settings.allocations_api_url == url


def test_load_settings_bad_url_error_does_not_echo_credentials_in_it() -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=None, environ={"ALLOCATIONS_API_URL": "ftp://user:hunter2@x/"})

    assert "hunter2" not in str(caught.value)


def test_load_settings_notification_urls_split_on_commas_and_whitespace() -> None:
    environ = {**BASE_ENV, "NOTIFICATION_URLS": "json://a/tok1, json://b/tok2\n  json://c/tok3"}

    settings = load_settings(env_file=None, environ=environ)

    urls = [url.get_secret_value() for url in settings.notification_urls]
    assert urls == ["json://a/tok1", "json://b/tok2", "json://c/tok3"]


def test_settings_repr_never_shows_secret_values() -> None:
    environ = {
        **BASE_ENV,
        "REALTIME_API_KEY": "app.key:SECRETABLY",
        "ALLOCATIONS_API_KEY": "SECRETALLOC",
        "NOTIFICATION_URLS": "tgram://SECRETBOT/123",
    }

    settings = load_settings(env_file=None, environ=environ)

    for text in (repr(settings), str(settings), repr(settings.model_dump())):
        assert "SECRET" not in text


def test_load_settings_reads_env_file_below_environment(tmp_path: Path) -> None:
    env_file = write(
        tmp_path / ".env",
        """\
        ALLOCATIONS_API_URL=https://from-file.example.com
        LOG_LEVEL=debug
        COMPOSE_PROJECT_NAME=ignored
        """,
    )

    settings = load_settings(env_file=env_file, environ={"LOG_LEVEL": "warning"})

    assert settings.allocations_api_url == "https://from-file.example.com"
    assert settings.log_level == "WARNING"


def test_load_settings_without_mapping_reads_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALLOCATIONS_API_URL", "https://api.example.com")
    monkeypatch.setenv("Trading_Mode", "live")

    settings = load_settings(env_file=None)

    assert (settings.allocations_api_url, settings.trading_mode) == (
        "https://api.example.com",
        "live",
    )


def test_load_settings_empty_values_count_as_unset(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "REALTIME_API_KEY=\nIB_GATEWAY_PORT=\n")

    settings = load_settings(env_file=env_file, environ={**BASE_ENV, "NOTIFICATION_URLS": ""})

    assert settings.realtime_api_key is None
    assert settings.ib_gateway_port is None
    assert settings.notification_urls == ()


def test_load_settings_ably_endpoint_must_be_host_and_port() -> None:
    with pytest.raises(InvalidInputError, match="ABLY_ENDPOINT: 'localhost' is not host:port"):
        load_settings(env_file=None, environ={**BASE_ENV, "ABLY_ENDPOINT": "localhost"})


@pytest.mark.parametrize("endpoint", ["realtime:8765", "ably-fake:443"])
def test_load_settings_ably_endpoint_without_dot_is_refused_not_sent_to_ably(
    endpoint: str,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=None, environ={**BASE_ENV, "ABLY_ENDPOINT": endpoint})

    message = str(caught.value)
    assert f"ABLY_ENDPOINT: {endpoint!r}" in message
    assert f"{endpoint}.realtime.ably.net" in message


@pytest.mark.parametrize(
    "endpoint", ["127.0.0.1:8765", "localhost:8765", "realtime.internal:8765", "[::1]:8765"]
)
def test_load_settings_ably_endpoint_that_the_sdk_reads_as_a_host_is_kept(endpoint: str) -> None:
    settings = load_settings(env_file=None, environ={**BASE_ENV, "ABLY_ENDPOINT": endpoint})

    assert settings.ably_endpoint == endpoint


def test_load_settings_error_is_picklable_with_its_message() -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=None, environ={**BASE_ENV, "LOG_LEVEL": "loud"})

    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    assert "LOG_LEVEL: 'loud' is not one of" in str(copy)


@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "-1", "0", "1e308", "86401"])
@pytest.mark.parametrize(
    "variable", ["ACCOUNT_RUN_TIMEOUT_SECS", "FILL_TIMEOUT_SECS", "EVENT_MAX_AGE_SECS"]
)
def test_load_settings_duration_not_finite_positive_and_at_most_a_day_is_refused(
    variable: str, value: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=None, environ={**BASE_ENV, variable: value})

    assert f"{variable}: '{value}'" in str(caught.value)


@pytest.mark.parametrize("value", ["inf", "nan", "-0.5", "10.5", "1e308", "soon"])
def test_load_settings_shared_quote_max_age_not_finite_between_0_and_10_is_refused(
    value: str,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=None, environ={**BASE_ENV, "IB_SHARED_QUOTE_MAX_AGE_SECS": value})

    assert f"IB_SHARED_QUOTE_MAX_AGE_SECS: '{value}'" in str(caught.value)


@pytest.mark.parametrize(("value", "expected"), [(None, 1.0), ("0", 0.0), ("10", 10.0)])
def test_load_settings_shared_quote_max_age_defaults_to_1_and_accepts_0_to_10(
    value: str | None, expected: float
) -> None:
    extra = {} if value is None else {"IB_SHARED_QUOTE_MAX_AGE_SECS": value}

    settings = load_settings(env_file=None, environ={**BASE_ENV, **extra})

    assert settings.ib_shared_quote_max_age_secs == expected


def test_load_settings_env_file_bad_line_names_file_and_line_never_the_value(
    tmp_path: Path,
) -> None:
    env_file = write(
        tmp_path / ".env",
        'ALLOCATIONS_API_URL=file:///x\nALLOCATIONS_API_KEY="sk-secret-1234\nsk-pasted-secret\n'
        "TRADING_MODE\n",
    )

    with pytest.raises(InvalidInputError) as caught:
        load_settings(env_file=env_file, environ={})

    message = str(caught.value)
    assert caught.value.source == str(env_file)
    assert f"{env_file}: env file: line 2: the value of ALLOCATIONS_API_KEY does not parse" in (
        message
    )
    assert "TRADING_MODE' has no '='" in message
    assert "sk-" not in message


def test_load_settings_env_file_not_utf8_names_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"LOG_LEVEL=d\xe9bug\n")

    with pytest.raises(InvalidInputError, match=r"\.env: env file is not UTF-8 text: byte 0xe9"):
        load_settings(env_file=env_file, environ=BASE_ENV)


def test_load_settings_env_file_directory_is_refused_even_by_default(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="env file is a directory, not a file"):
        load_settings(env_file=tmp_path, environ=BASE_ENV)


def test_load_settings_named_env_file_missing_is_refused_default_missing_is_fine(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "prod.env"
    with pytest.raises(InvalidInputError, match=r"prod\.env: env file not found"):
        load_settings(env_file=missing, environ=BASE_ENV, env_file_required=True)

    assert load_settings(env_file=missing, environ=BASE_ENV).trading_mode == "paper"


def test_load_app_config_bad_notification_url_refused_before_anything_runs(tmp_path: Path) -> None:
    write(tmp_path / "accounts.yaml", "accounts:\n" + account_yaml())
    environ = {
        **BASE_ENV,
        "ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
        "NOTIFICATION_URLS": "json://localhost/ok tgrm://bot-secret-token/123",
    }

    with pytest.raises(InvalidInputError) as caught:
        load_app_config(env_file=None, environ=environ)

    assert "NOTIFICATION_URLS: URL #2 (tgrm://...) is not a notification URL" in str(caught.value)
    assert "bot-secret-token" not in str(caught.value)


# ------------------------------------------------------------------------------------------
# accounts.yaml
# ------------------------------------------------------------------------------------------


def test_load_accounts_bad_entries_are_not_served_and_named_others_go_on(tmp_path: Path) -> None:
    path = write(
        tmp_path / "accounts.yaml",
        "accounts:\n"
        + account_yaml(account_id="DU1", cash_reserve_percent=5)
        + account_yaml(account_id="DU2", cash_reserve_percent=150)
        + account_yaml(account_id="DU3", type="demo", colour="red"),
    )

    loaded = load_accounts_file(path, replacement_sets=None)

    assert [a.account_id for a in loaded.accounts] == ["DU1"]
    assert [(e.index, e.account_id, e.strategy_names) for e in loaded.invalid] == [
        (1, "DU2", ("s1",)),
        (2, "DU3", ("s1",)),
    ]
    assert loaded.invalid[0].problems == (
        "accounts[1].cash_reserve_percent: 150 is not within 0..100 (account DU2)",
    )
    third = str(loaded.invalid[1].error())
    assert third.startswith(f"{path}: accounts[2] (account DU3) is not served (never traded)")
    assert "accounts[2].type: 'demo' is not one of paper, live (account DU3)" in third
    assert "accounts[2].colour: is not a known field" in third


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cash_reserve_percent", "'5'", "cash_reserve_percent: '5' is text, not a number"),
        ("enabled", "'yes'", "enabled: 'yes' is text, not true or false"),
        ("acount_id", "DU9", "acount_id: is not a known field"),
        ("pdt_protection_enabled", "1", "pdt_protection_enabled: 1 is not true or false"),
        ("risk_limits", "{max_order_value: '100'}", "risk_limits.max_order_value: '100' is text"),
    ],
)
def test_load_accounts_strict_types_refuse_coercions(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    path = write(
        tmp_path / "a.yaml",
        "accounts:\n"
        + account_yaml(account_id="DU1")
        + account_yaml(account_id="DU2", **{field: value}),
    )

    loaded = load_accounts_file(path, replacement_sets=None)

    assert [a.account_id for a in loaded.accounts] == ["DU1"]
    assert message in loaded.invalid[0].problems[0]


def test_load_accounts_unknown_commission_schedule_names_the_account_and_the_choices(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "accounts.yaml",
        "accounts:\n"
        + account_yaml(account_id="DU1", commission_schedule="ibkr_lite")
        + account_yaml(account_id="DU2", commission_schedule="ibkr_pro"),
    )

    loaded = load_accounts_file(path, replacement_sets=None)

    assert [(a.account_id, a.commission_schedule) for a in loaded.accounts] == [
        ("DU1", "ibkr_lite")
    ]
    assert [e.problems for e in loaded.invalid] == [
        (
            "accounts[1].commission_schedule: 'ibkr_pro' is not one of ibkr_pro_fixed, "
            "ibkr_pro_tiered, ibkr_lite, zero (account DU2)",
        )
    ]


def test_load_accounts_duplicate_ids_serve_neither_entry(tmp_path: Path) -> None:
    path = write(
        tmp_path / "accounts.yaml",
        "accounts:\n"
        + account_yaml(account_id="DU5")
        + account_yaml(account_id="du5")
        + account_yaml(account_id="DU6"),
    )

    loaded = load_accounts_file(path, replacement_sets=None)

    assert [a.account_id for a in loaded.accounts] == ["DU6"]
    assert [e.problems for e in loaded.invalid] == [
        ("accounts[0].account_id: 'DU5' is used by another entry (account DU5)",),
        ("accounts[1].account_id: 'du5' is used by another entry (account du5)",),
    ]


def test_load_accounts_id_shared_with_an_invalid_entry_serves_neither(tmp_path: Path) -> None:
    # Found by the fuzz suite: which of the two the owner meant cannot be known.
    path = write(
        tmp_path / "accounts.yaml",
        "accounts:\n"
        + account_yaml(account_id="DU5")
        + account_yaml(account_id="DU5", type="null")
        + account_yaml(account_id="DU6"),
    )

    loaded = load_accounts_file(path, replacement_sets=None)

    assert [a.account_id for a in loaded.accounts] == ["DU6"]
    assert [e.index for e in loaded.invalid] == [0, 1]


def test_load_accounts_unknown_or_broken_replacement_set_is_not_served(tmp_path: Path) -> None:
    sets = load_replacement_sets(
        write(
            tmp_path / "sets.yaml",
            "ira: [{source: A, target: B}]\n"
            "loop: [{source: A, target: B}, {source: B, target: A}]\n",
        )
    )
    path = write(
        tmp_path / "a.yaml",
        "accounts:\n"
        + account_yaml(account_id="DU1", replacement_set="iraa")
        + account_yaml(account_id="DU2", replacement_set="loop")
        + account_yaml(account_id="DU3", replacement_set="ira"),
    )

    loaded = load_accounts_file(path, replacement_sets=sets)

    assert [a.account_id for a in loaded.accounts] == ["DU3"]
    assert (
        "'iraa' is not a known replacement set (known: ira, loop)"
        in (loaded.invalid[0].problems[0])
    )
    assert (
        "'loop' is invalid: replacement sets file: set 'loop' entry [0].target: B is itself"
        in (loaded.invalid[1].problems[0])
    )


def test_load_accounts_every_entry_invalid_refuses_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", "accounts:\n" + account_yaml(cash_reserve_percent=150))

    with pytest.raises(InvalidInputError) as caught:
        load_accounts_file(path, replacement_sets=None)

    assert str(caught.value) == (
        f"{path}: accounts[0].cash_reserve_percent: 150 is not within 0..100 (account DU111111)"
    )


def test_load_accounts_duplicate_yaml_key_is_refused_not_last_one_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        "accounts:\n" + account_yaml(cash_reserve_percent=5) + "    cash_reserve_percent: 50\n",
    )

    with pytest.raises(InvalidInputError, match="duplicate key 'cash_reserve_percent' at line 6"):
        load_accounts_file(path, replacement_sets=None)


def test_load_accounts_numeric_account_id_asks_for_quotes(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", "accounts:\n" + account_yaml(account_id="1234567"))

    with pytest.raises(InvalidInputError, match="1234567 is a number; write it in quotes"):
        load_accounts_file(path, replacement_sets=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("- a\n- b\n", "top level must be a mapping with an 'accounts' list, got a list"),
        ("acounts: []\n", "'acounts': unknown top-level key"),
        ("accounts: 3\n", "accounts: must be a list of accounts, got 3"),
        ("accounts:\n  - just-a-string\n", "accounts[0]: must be a mapping of account fields"),
        ("accounts: [\n", "accounts file is not valid YAML"),
    ],
)
def test_load_accounts_structural_problem_refuses_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path / "accounts.yaml", text)

    with pytest.raises(InvalidInputError) as caught:
        load_accounts_file(path, replacement_sets=None)

    assert expected in str(caught.value)
    assert caught.value.source == str(path)


def test_load_accounts_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(InvalidInputError, match=r"nope\.yaml: accounts file not found"):
        load_accounts_file(missing, replacement_sets=None)


def test_load_accounts_non_utf8_file_names_path_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"accounts:\n  - account_id: DU\xe91\n")

    with pytest.raises(
        InvalidInputError, match=r"a\.yaml: accounts file is not UTF-8 text: byte 0xe9 at offset 28"
    ):
        load_accounts_file(path, replacement_sets=None)


def test_load_accounts_exact_decimal_values(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", "accounts:\n" + account_yaml(cash_reserve_percent=0.1))

    (account,) = load_accounts_file(path, replacement_sets=None).accounts

    assert str(account.cash_reserve_percent) == "0.1"


# ------------------------------------------------------------------------------------------
# replacement-sets.yaml
# ------------------------------------------------------------------------------------------


def test_load_replacement_sets_returns_names(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sets.yaml",
        """\
        ira:
          - {source: DBC, target: PDBC, scale: 1.0}
        taxable: []
        """,
    )

    assert load_replacement_sets(path).set_names() == frozenset({"ira", "taxable"})


def test_load_replacement_sets_reports_every_problem_of_a_set(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sets.yaml",
        """\
        ira:
          - {source: DBC, target: PDBC, scale: 1.5}
          - {source: DBC, target: IAU, weight: 1}
        broken: DBC
        """,
    )

    invalid = load_replacement_sets(path).invalid_sets()

    assert "[0].scale: 1.5 is not within 0..1" in invalid["ira"]
    assert "[1].weight: is not a known field" in invalid["ira"]
    assert invalid["broken"] == "replacement sets file: set 'broken': 'DBC' is not a list"


# ------------------------------------------------------------------------------------------
# AppConfig
# ------------------------------------------------------------------------------------------


def make_config(tmp_path: Path, accounts: str, mode: str = "paper") -> AppConfig:
    write(tmp_path / "accounts.yaml", "accounts:\n" + accounts)
    write(tmp_path / "sets.yaml", "ira:\n  - {source: DBC, target: PDBC, scale: 1}\n")
    environ = {
        **BASE_ENV,
        "TRADING_MODE": mode,
        "ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
        "REPLACEMENT_SETS_FILE": str(tmp_path / "sets.yaml"),
    }
    return load_app_config(env_file=None, environ=environ)


def test_app_config_groups_only_enabled_accounts_of_trading_mode_by_strategy(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path,
        account_yaml(account_id="DU1001", strategy_name="a")
        + account_yaml(account_id="DU1002", strategy_name="b", replacement_set="ira")
        + account_yaml(account_id="DU1003", strategy_name="a")
        + account_yaml(account_id="DU1004", strategy_name="a", enabled="false")
        + account_yaml(account_id="U1005", strategy_name="a", type="live"),
    )

    groups = config.strategies()

    assert {name: [a.account_id for a in accs] for name, accs in groups.items()} == {
        "a": ["DU1001", "DU1003"],
        "b": ["DU1002"],
    }
    assert {a.account_id: ib_client_id(config.settings, a) for a in config.accounts} == {
        "DU1001": 1001,
        "DU1002": 1002,
        "DU1003": 1003,
        "DU1004": 1004,
        "U1005": 1005,
    }
    assert config.replacement_set_names == frozenset({"ira"})


def test_app_config_account_of_two_strategies_is_in_both_groups_and_both_channels(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path,
        account_yaml(account_id="DU1001", strategy_name="a") + "  - account_id: DU1002\n"
        "    type: paper\n"
        "    strategies:\n"
        "      - {name: b, weight: 0.6}\n"
        "      - {name: a, weight: 0.4}\n" + account_yaml(account_id="DU1003", strategy_name="c"),
    )

    groups = config.strategies()

    assert {name: [a.account_id for a in accs] for name, accs in groups.items()} == {
        "a": ["DU1001", "DU1002"],
        "b": ["DU1002"],
        "c": ["DU1003"],
    }
    # The label "b+a" names no channel: nothing would ever be published on it.
    assert config.channel_names() == ["a", "b", "c"]
    assert config.account("DU1002").strategy_name == "b+a"


@pytest.mark.parametrize(
    ("account_id", "reason"),
    [
        ("DU9999", "account 'DU9999' is not configured"),
        ("du1001", "account 'du1001' is not configured .*; did you mean DU1001\\?"),
        ("DU1004", "account DU1004 is disabled"),
        ("U1005", "account U1005 is a live account but TRADING_MODE is paper"),
    ],
)
def test_app_config_account_refuses_with_its_own_reason(
    tmp_path: Path, account_id: str, reason: str
) -> None:
    config = make_config(
        tmp_path,
        account_yaml(account_id="DU1001")
        + account_yaml(account_id="DU1004", enabled="false")
        + account_yaml(account_id="U1005", type="live"),
    )

    with pytest.raises(InvalidInputError, match=reason):
        config.account(account_id)


def test_app_config_account_not_served_refuses_with_its_problems_and_listens_to_its_strategy(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path,
        account_yaml(account_id="DU1001", strategy_name="a")
        + account_yaml(account_id="DU1002", strategy_name="b", cash_reserve_percent="'x'"),
    )

    assert [a.account_id for a in config.tradable_accounts()] == ["DU1001"]
    with pytest.raises(InvalidInputError) as caught:
        config.account("DU1002")
    assert "accounts[1] (account DU1002) is not served (never traded)" in str(caught.value)
    assert "cash_reserve_percent: 'x' is text, not a number" in str(caught.value)
    assert config.channel_names() == ["a", "b"]
    assert [e.account_id for e in config.invalid_for_strategy("b")] == ["DU1002"]


def test_app_config_account_returns_tradable_account(tmp_path: Path) -> None:
    config = make_config(tmp_path, account_yaml(account_id="DU1001"))

    assert config.account("DU1001").account_id == "DU1001"


def test_app_config_missing_replacement_sets_file_means_no_sets(tmp_path: Path) -> None:
    write(tmp_path / "accounts.yaml", "accounts:\n" + account_yaml(replacement_set="ira"))
    environ = {
        **BASE_ENV,
        "ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
        "REPLACEMENT_SETS_FILE": str(tmp_path / "absent.yaml"),
    }

    with pytest.raises(
        InvalidInputError, match=r"'ira' is not a known replacement set \(known: none defined\)"
    ):
        load_app_config(env_file=None, environ=environ)  # its only account is not served


def test_app_config_with_two_accounts_sharing_an_ib_client_id_is_refused_naming_both(
    tmp_path: Path,
) -> None:
    accounts = account_yaml(account_id="DU123456", strategy_name="a") + account_yaml(
        account_id="DUX123456", strategy_name="b"
    )

    with pytest.raises(InvalidInputError, match="DU123456 and DUX123456 would both use IB client"):
        make_config(tmp_path, accounts)


def test_repository_example_files_load(tmp_path: Path) -> None:
    environ = {
        **BASE_ENV,
        "ACCOUNTS_FILE": str(REPO_ROOT / "accounts.yaml"),
        "REPLACEMENT_SETS_FILE": str(REPO_ROOT / "replacement-sets.yaml"),
        "ALPACA_API_KEY_ID": "example-key",
        "ALPACA_API_SECRET_KEY": "example-secret",
    }

    config = load_app_config(env_file=None, environ=environ)

    assert isinstance(config.settings, Settings)
    assert [a.account_id for a in config.tradable_accounts()] == [
        "DUM959247",
        "DU789012",
        "DU345678",
        "PA3DEMO00001",
    ]
    assert config.account("DU345678").strategy_names == ("etf-blend-100-20", "income-core-20")
    assert [s.weight for s in config.account("DU345678").strategies] == [
        Decimal("0.6"),
        Decimal("0.4"),
    ]
    assert config.channel_names() == ["etf-blend-100-20", "etf-blend-301-20", "income-core-20"]
    assert config.account("PA3DEMO00001").broker == "alpaca"
    assert ib_client_id(config.settings, config.account("DUM959247")) == 959247
    assert config.account("DU789012").replacement_set == "ira"
    assert config.account("DU789012").pdt_protection_enabled is True


def test_repository_replacement_sets_agree_with_connector_parser() -> None:
    from ibkr_connector import ReplacementService

    path = REPO_ROOT / "replacement-sets.yaml"

    assert ReplacementService.from_yaml(path).set_names() == load_replacement_sets(path).set_names()


# -- HTTP API ------------------------------------------------------------------------------------

API_KEY = "k" * 16


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2", "::1"])
def test_api_on_loopback_starts_without_key(host: str) -> None:
    settings = load_settings(env_file=None, environ={**BASE_ENV, "API_HOST": host})

    assert settings.api_host == host
    assert settings.api_key is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "rebalancer.example.com"])
def test_api_on_other_address_without_key_is_refused_naming_both_settings(host: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        load_settings(env_file=None, environ={**BASE_ENV, "API_HOST": host})

    assert f"API_KEY: is not set but API_HOST={host} is not a loopback address" in str(raised.value)


def test_api_on_other_address_is_allowed_with_a_key_or_when_disabled() -> None:
    keyed = load_settings(
        env_file=None, environ={**BASE_ENV, "API_HOST": "0.0.0.0", "API_KEY": API_KEY}
    )
    disabled = load_settings(
        env_file=None, environ={**BASE_ENV, "API_HOST": "0.0.0.0", "API_ENABLED": "false"}
    )

    assert keyed.api_key is not None
    assert keyed.api_key.get_secret_value() == API_KEY
    assert disabled.api_enabled is False


def test_short_api_key_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidInputError) as raised:
        load_settings(env_file=None, environ={**BASE_ENV, "API_KEY": "hunter2hunter2"})

    assert "API_KEY: must be at least 16 characters" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_api_key_is_not_in_the_settings_repr() -> None:
    settings = load_settings(env_file=None, environ={**BASE_ENV, "API_KEY": "secret-" + API_KEY})

    assert API_KEY not in repr(settings)
    assert API_KEY not in str(settings.model_dump())


def test_cors_origins_are_split_and_checked() -> None:
    settings = load_settings(
        env_file=None,
        environ={**BASE_ENV, "API_CORS_ORIGINS": "https://a.example, http://b.example:8080"},
    )
    with pytest.raises(
        InvalidInputError, match=re.escape("API_CORS_ORIGINS: 'https://a.example/path'")
    ):
        load_settings(
            env_file=None, environ={**BASE_ENV, "API_CORS_ORIGINS": "https://a.example/path"}
        )

    assert settings.api_cors_origins == ("https://a.example", "http://b.example:8080")
