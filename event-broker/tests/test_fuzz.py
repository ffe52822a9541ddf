"""Property-based fuzzing of the daemon's external inputs.

For accounts.yaml, realtime events, environment settings, ``.env`` files and CLI argv:
either a valid value or a clear refusal (``InvalidInputError`` naming its source, or exit 2
with a message on stderr), never another exception. Then the run path itself: a worker run
(``app.worker.execute_request``: journal, real ``ib_async`` client, rebalancer, risk check)
against the IB Gateway simulator, where no fuzzed allocations document may place an order
the valid document would not place.

Every test is derandomized with a bounded number of examples (no example database), so
``make test`` stays reproducible and fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import string
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from app.cli import _parse_args
from app.config.files import load_accounts_file
from app.config.settings import AppConfig, load_settings
from app.intake.messages import decode_message_data
from app.intake.sdk_decoding import UndecodableData
from app.models import EventData
from app.runs.requests import build_worker_request
from app.store.files import JOURNAL_FILE
from app.store.journal import Journal
from app.worker import execute_request
from broker_connector_base import AccountConfig, InvalidInputError
from broker_connector_base.documents import validate_document
from dotenv.parser import parse_stream
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ib_gateway_sim import GatewaySimulator, Scenario

REPO = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["paper", "live", "DU1", "5", "yes", "1e999", "nan", "", "ira"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)


def _refused(call: Any, *args: Any, **kwargs: Any) -> InvalidInputError | None:
    """Run ``call``; its ``InvalidInputError`` if it raised one (anything else propagates)."""
    try:
        call(*args, **kwargs)
    except InvalidInputError as exc:
        return exc
    return None


# --------------------------------------------------------------------------------------------
# accounts.yaml
# --------------------------------------------------------------------------------------------

ACCOUNT_FIELDS = [*AccountConfig.model_fields, "acount_id", "strategy", "risk_limit"]
VALID_ENTRY: dict[str, Any] = {
    "account_id": "DU100001",
    "type": "paper",
    "strategy_name": "etf-blend",
    "cash_reserve_percent": 1,
}
entries = st.one_of(
    st.builds(
        lambda field, value: {**VALID_ENTRY, field: value},
        st.sampled_from(ACCOUNT_FIELDS),
        json_values,
    ),
    st.builds(
        lambda limits: {**VALID_ENTRY, "risk_limits": limits},
        st.dictionaries(
            st.sampled_from(
                ["max_order_value", "allowed_symbols", "denied_symbols", "max_orders_per_day"]
            )
            | st.text(max_size=8),
            json_values,
            max_size=3,
        ),
    ),
    json_values,
)
accounts_documents = st.one_of(
    st.lists(entries, max_size=4).map(lambda items: {"accounts": [VALID_ENTRY, *items]}),
    json_values,
)


@FUZZ
@given(accounts_documents)
def test_fuzzed_accounts_file_serves_valid_entries_or_names_file_entry_and_value(
    tmp_path: Path, document: Any
) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    try:
        loaded = load_accounts_file(path, replacement_sets=None)
    except InvalidInputError as exc:
        refusal: InvalidInputError | None = exc
    else:
        refusal = None
    if refusal is not None:
        assert refusal.source == str(path)
        return
    for broken in loaded.invalid:
        assert broken.problems
        assert all(line.startswith(f"accounts[{broken.index}]") for line in broken.problems)
        assert broken.error().source == str(path)
    served = {a.account_id.upper() for a in loaded.accounts}
    assert not served & {(b.account_id or "").upper() for b in loaded.invalid if b.account_id}


# --------------------------------------------------------------------------------------------
# Realtime events
# --------------------------------------------------------------------------------------------

EVENT_FIELDS = [*EventData.model_fields, "acount_id", "accountId", "strategy"]
event_objects = st.dictionaries(
    st.sampled_from(EVENT_FIELDS) | st.text(max_size=8), json_values, max_size=5
)
event_data = st.one_of(
    event_objects,
    event_objects.map(lambda data: {"exec": "rebalance", **data}),
    event_objects.map(lambda data: json.dumps(data, allow_nan=True)),
    event_objects.map(lambda data: json.dumps(data).encode()),
    st.text(max_size=100),
    st.binary(max_size=100),
    json_values,
    st.builds(UndecodableData, st.just("json"), st.text(max_size=20), st.text(max_size=20)),
)


@FUZZ
@given(event_data)
def test_fuzzed_event_is_an_event_or_a_refusal_naming_channel_and_message(data: Any) -> None:
    source = "channel etf-blend message m-1"

    def parse() -> None:
        validate_document(
            EventData, decode_message_data(data, source=source), document="event", source=source
        )

    refusal = _refused(parse)
    if refusal is not None:
        assert refusal.source == source


# --------------------------------------------------------------------------------------------
# Environment settings and the .env file
# --------------------------------------------------------------------------------------------

VARIABLES = [
    "TRADING_MODE",
    "ALLOCATIONS_API_URL",
    "IB_GATEWAY_PORT",
    "MAX_PARALLEL_ACCOUNTS",
    "ACCOUNT_RUN_TIMEOUT_SECS",
    "SHUTDOWN_GRACE_SECS",
    "FILL_TIMEOUT_SECS",
    "PRICE_CACHE_TTL_SECS",
    "EVENT_MAX_AGE_SECS",
    "ABLY_ENDPOINT",
    "ABLY_TLS",
    "LOG_LEVEL",
    "NOTIFICATION_URLS",
    "DATA_DIR",
]
env_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["inf", "-inf", "nan", "1e308", "0", "-1", "paper", "live", "https://x.example", "10"]
    ),
    st.integers().map(str),
    st.floats().map(str),
)
environments = st.dictionaries(st.sampled_from(VARIABLES), env_values, max_size=5).map(
    lambda env: {"ALLOCATIONS_API_URL": "file:///srv/allocations", **env}
)


@FUZZ
@given(environments)
def test_fuzzed_environment_gives_settings_or_names_the_variables(env: dict[str, str]) -> None:
    refusal = _refused(load_settings, env_file=None, environ=env)
    if refusal is not None:
        assert str(refusal).startswith("invalid settings:\n")


env_lines = st.lists(
    st.one_of(
        st.builds(lambda k, v: f"{k}={v}", st.sampled_from(VARIABLES), env_values),
        st.text(alphabet=string.printable, max_size=40),
    ),
    max_size=6,
)


@FUZZ
@given(env_lines)
def test_fuzzed_env_file_gives_settings_or_names_the_file(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / ".env"
    text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    refusal = _refused(load_settings, env_file=path, environ={}, env_file_required=True)
    if refusal is not None:
        assert refusal.source in {str(path), None}  # the file, or a variable (settings)
    # python-dotenv skips a line it cannot parse, with a warning naming no file: here such a
    # line must refuse the file, never be dropped silently.
    if any(binding.error for binding in parse_stream(io.StringIO(text))):
        assert refusal is not None
        assert refusal.source == str(path)
        assert f"{path}: env file: line " in str(refusal)


# --------------------------------------------------------------------------------------------
# CLI argv
# --------------------------------------------------------------------------------------------

FLAGS = ["-account", "--account", "-all", "-exec", "-snapshot", "-report", "-since", "-format"]
FLAGS += ["-plot", "-halt", "-resume", "-env-file", "--env-file", "-acc", "--acc", "-ex", "-"]
argv_words = st.lists(
    st.one_of(
        st.sampled_from(FLAGS),
        st.sampled_from(["rebalance", "print-rebalance", "DU1", "2026-01-01", "json", "x"]),
        st.text(max_size=10),
    ),
    max_size=6,
)


@FUZZ
@given(argv_words)
def test_fuzzed_argv_parses_or_exits_2_with_a_message(argv: list[str]) -> None:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            _parse_args(argv)
        except SystemExit as exc:
            exited: SystemExit | None = exc
        else:
            exited = None
    if exited is not None:
        assert exited.code in (0, 2)  # 0: -h
        if exited.code == 2:
            assert "rebalance: error: " in stderr.getvalue()


# --------------------------------------------------------------------------------------------
# The run path on the simulator: no fuzzed document places an order the valid one would not
# --------------------------------------------------------------------------------------------

STRATEGY = "etf-blend-301-20"
VALID_DOCUMENT = json.loads(
    (REPO / "demo" / "allocations" / STRATEGY / "allocations.json").read_text()
)


def _reformatted(indent: int | None, sort: bool) -> tuple[str, bool]:
    """The valid document, only written differently (same meaning): it must trade as it."""
    return json.dumps(VALID_DOCUMENT, indent=indent, sort_keys=sort), True


def _wrong_value(path: tuple[str | int, ...], value: Any) -> tuple[str, bool]:
    """The valid document with one value replaced by a wrong one: it must place nothing."""
    document = json.loads(json.dumps(VALID_DOCUMENT))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return json.dumps(document), False


def _broken(text: str) -> tuple[str, bool]:
    return text, False


def _weights(**weights: Any) -> tuple[str, bool]:
    """The valid document with these allocations instead (each one a garbage variant)."""
    return _wrong_value(
        ("data", "allocations"), [{"symbol": s, "allocation": w} for s, w in weights.items()]
    )


broken_values = st.one_of(
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.floats(min_value=1.5, allow_infinity=False),
    st.floats(max_value=-0.1, allow_infinity=False),
)
VALID_TEXT = json.dumps(VALID_DOCUMENT)
run_documents = st.one_of(
    st.builds(_reformatted, st.sampled_from([None, 0, 2]), st.booleans()),
    st.builds(
        _wrong_value,
        st.sampled_from(
            [
                ("status",),
                ("data", "name"),
                ("data", "allocations"),
                ("data", "allocations", 0, "allocation"),
                ("data", "allocations", 2, "allocation"),
                ("data", "allocations", 1, "symbol"),
            ]
        ),
        broken_values,
    ),
    st.builds(
        lambda key: _broken(json.dumps({**VALID_DOCUMENT, key: 1})),
        st.text(min_size=1, max_size=8).filter(lambda k: k not in VALID_DOCUMENT),
    ),
    st.integers(1, 200).map(lambda cut: _broken(VALID_TEXT[:-cut])),
    st.just(_broken(VALID_TEXT.replace('"allocation": 0.4', '"allocation": "0.4"'))),
    st.just(_broken(VALID_TEXT.replace('"etf-blend-301-20"', '"etf-blend-100-20"'))),
    st.just(_broken(VALID_TEXT.replace('"SPY"', '"SP\udcff"', 1))),
)


def _config(sim: GatewaySimulator, work: Path) -> AppConfig:
    settings_ = load_settings(
        env_file=None,
        environ={
            "TRADING_MODE": "paper",
            "IB_GATEWAY_HOST": "127.0.0.1",
            "IB_GATEWAY_PORT": str(sim.port),
            "ALLOCATIONS_API_URL": (work / "allocations").as_uri(),
            "DATA_DIR": str(work / "data"),
            "FILL_TIMEOUT_SECS": "10",
        },
    )
    account = AccountConfig(account_id="DUM959247", type="paper", strategy_name=STRATEGY)
    return AppConfig(settings=settings_, accounts=(account,), replacement_set_names=frozenset())


def _orders_placed(document: str, work: Path) -> Counter[tuple[str, str, int]]:
    """Run the account on a fresh simulator with ``document``; the orders it placed."""
    folder = work / "allocations" / STRATEGY
    folder.mkdir(parents=True)
    (folder / "allocations.json").write_bytes(document.encode("utf-8", "surrogateescape"))
    (work / "data").mkdir()
    return asyncio.run(_run(work))


async def _run(work: Path) -> Counter[tuple[str, str, int]]:
    async with GatewaySimulator(Scenario.from_yaml(REPO / "demo" / "scenario.yaml")) as sim:
        config = _config(sim, work)
        account = config.accounts[0]
        request = build_worker_request(config, account, "rebalance", "fuzz-run")
        with Journal(config.settings.data_dir / JOURNAL_FILE) as journal:
            journal.start_run(
                run_id="fuzz-run", account_id=account.account_id, mode="rebalance", client_id=1
            )
        await execute_request(request)
        return Counter((o.symbol, o.action, int(o.quantity)) for o in sim.orders())


@pytest.fixture(scope="module")
def valid_orders(tmp_path_factory: pytest.TempPathFactory) -> Counter[tuple[str, str, int]]:
    orders = _orders_placed(VALID_TEXT, tmp_path_factory.mktemp("valid"))
    assert orders  # the valid document trades: the comparison below means something
    return orders


@settings(
    max_examples=12,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(run_documents)
# Garbage a broken allocations API has served, always run besides the drawn examples: each one
# would trade differently if a guard of the parser let it through.
@example(_weights(SPY=1.5, QQQ=0.2, TLT=0.2, GLD=0.1, DBC=0.1))  # above 1
@example(_weights(SPY=-0.1, QQQ=0.5, TLT=0.4, GLD=0.1, DBC=0.1))  # negative, sums to 1
@example(_weights(SPY=0.6, QQQ=0.2, TLT=0.2, GLD=0.1, DBC=0.1))  # sums to 1.2
@example(_weights(SPY=0.4, QQQ=0.2, TLT=0.2, GLD=0.1, DBC=0.1, spy=0.0))  # SPY twice
@example(_broken(VALID_TEXT.replace('"allocation": 0.2', '"allocation": "0.2"')))
@example(_broken(VALID_TEXT.replace('"etf-blend-301-20"', '"etf-blend-100-20"')))
@example(_weights(**{"SPY": 0.9999, **{f"S{i}": 0.00000001 for i in range(10_000)}}))
@pytest.mark.timeout(300)
def test_no_fuzzed_allocations_document_places_an_order_the_valid_one_would_not(
    tmp_path_factory: pytest.TempPathFactory,
    valid_orders: Counter[tuple[str, str, int]],
    case: tuple[str, bool],
) -> None:
    document, same_meaning = case

    placed = _orders_placed(document, tmp_path_factory.mktemp("fuzz"))

    assert not placed - valid_orders, f"orders the valid document would not place: {placed}"
    # A document written differently trades as the valid one; a broken one is refused whole.
    assert placed == (valid_orders if same_meaning else Counter()), placed
