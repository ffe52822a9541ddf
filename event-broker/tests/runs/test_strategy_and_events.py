"""Strategy fan-out: parallel bound, isolation of failures, shutdown; event validation."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config.settings import AppConfig, InvalidAccount
from app.intake.events import EventProcessor
from app.intake.messages import ReceivedMessage
from app.intake.sdk_decoding import UndecodableData
from app.notify.notifier import NotificationService
from app.runs.account import TradingExecutor
from app.runs.strategy import StrategyExecutor
from app.store.files import JOURNAL_FILE
from broker_connector_base import AccountConfig

WorkerScript = Callable[[str], tuple[str, ...]]
ConfigFactory = Callable[..., AppConfig]
ExecutorFactory = Callable[..., TradingExecutor]
AccountFactory = Callable[..., AccountConfig]


def _rows(config: AppConfig, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(config.settings.data_dir / JOURNAL_FILE) as conn:
        return list(conn.execute(sql))


def _rendezvous_worker(worker_script: WorkerScript, folder: Path, expected: int) -> tuple[str, ...]:
    """Each worker marks itself started and succeeds only once ``expected`` have started."""
    return worker_script(
        f"""
        import pathlib
        folder = pathlib.Path({str(folder)!r})
        (folder / request["account"]["account_id"]).touch()
        deadline = time.monotonic() + 10
        while len(list(folder.iterdir())) < {expected} and time.monotonic() < deadline:
            time.sleep(0.02)
        together = len(list(folder.iterdir())) >= {expected}
        print(result() if together else result("failed", "ran alone"))
        """
    )


async def test_accounts_of_one_strategy_run_in_parallel_within_bound(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "started"
    folder.mkdir()
    config = make_config(account("DU200001"), account("DU200002"), max_parallel_accounts="2")
    executor = make_executor(config, _rendezvous_worker(worker_script, folder, 2))
    strategies = StrategyExecutor(executor, max_parallel=2)

    outcome = await strategies.execute_strategy("s1", "print-rebalance")

    assert outcome.accounts_processed == 2
    assert [r.status for r in outcome.results] == ["succeeded", "succeeded"]


async def test_parallel_bound_of_one_runs_accounts_one_at_a_time(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "started"
    folder.mkdir()
    config = make_config(account("DU200003"), account("DU200004"))
    command = worker_script(
        f"""
        import pathlib
        folder = pathlib.Path({str(folder)!r})
        marker = folder / request["account"]["account_id"]
        marker.touch()
        alone = len(list(folder.iterdir())) == 1
        time.sleep(0.3)
        marker.unlink()
        print(result() if alone else result("failed", "overlapped"))
        """
    )
    strategies = StrategyExecutor(make_executor(config, command), max_parallel=1)

    outcome = await strategies.execute_strategy("s1", "print-rebalance")

    assert [r.status for r in outcome.results] == ["succeeded", "succeeded"]


async def test_one_failing_account_does_not_stop_the_others(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    config = make_config(account("DU200005"), account("DU200006"), account("DU200007"))
    command = worker_script(
        """
        if request["account"]["account_id"] == "DU200006":
            sys.exit(9)
        print(result())
        """
    )
    strategies = StrategyExecutor(make_executor(config, command), max_parallel=3)

    outcome = await strategies.execute_strategy("s1", "rebalance")

    assert {r.account_id: r.status for r in outcome.results} == {
        "DU200005": "succeeded",
        "DU200006": "failed",
        "DU200007": "succeeded",
    }
    assert outcome.status == "1 of 3 failed"


async def test_shutdown_terminates_runs_after_grace_and_refuses_new_ones(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "started"
    folder.mkdir()
    command = worker_script(
        f"""
        import pathlib
        (pathlib.Path({str(folder)!r}) / request["account"]["account_id"]).touch()
        time.sleep(600)
        """
    )
    config = make_config(account("DU200008"), account("DU200009"))
    strategies = StrategyExecutor(make_executor(config, command), max_parallel=2)
    running = asyncio.create_task(strategies.execute_strategy("s1", "rebalance"))
    await _wait_for_files(folder, 2)

    await strategies.shutdown(grace_secs=0.2)
    outcome = await running

    assert [r.error for r in outcome.results] == ["run terminated at shutdown (SIGTERM/SIGINT)"] * 2
    assert strategies.executor.workers.running_count == 0
    assert not strategies.accepting


def _count_files(folder: Path) -> int:
    return len(list(folder.iterdir()))


async def _wait_for_files(folder: Path, count: int) -> None:
    """Wait until the stand-in workers (other processes) have created ``count`` files."""
    async with asyncio.timeout(10):
        while _count_files(folder) < count:  # noqa: ASYNC110 - another process writes them
            await asyncio.sleep(0.05)


def _message(data: object, message_id: str = "m-1", channel: str = "s1") -> ReceivedMessage:
    return ReceivedMessage(
        channel=channel, message_id=message_id, name=None, data=data, timestamp_ms=None
    )


async def test_event_runs_every_account_of_its_channel_strategy_once(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    config = make_config(account("DU200010"), account("DU200011"), account("DU200012", "other"))
    executor = make_executor(config, worker_script("print(result())"))
    events = EventProcessor(executor.journal, StrategyExecutor(executor, max_parallel=2))

    first = await events.handle(_message({"exec": "print-rebalance"}))
    duplicate = await events.handle(_message({"exec": "print-rebalance"}))

    assert first is not None
    assert sorted(r.account_id for r in first.results) == ["DU200010", "DU200011"]
    assert duplicate is None
    assert _rows(config, "SELECT count(*) FROM runs") == [(2,)]
    assert _rows(config, "SELECT event_id, outcome FROM events") == [
        ("m-1", "ran 2 accounts: succeeded")
    ]


async def test_malformed_and_unknown_events_are_journalled_and_trade_nothing(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    config = make_config(account("DU200013"))
    executor = make_executor(config, worker_script("print(result())"))
    events = EventProcessor(executor.journal, StrategyExecutor(executor, max_parallel=2))

    for index, data in enumerate(
        ["{not json", {"exec": "liquidate"}, {"exec": "rebalance", "times_queued": -1}, [1, 2]]
    ):
        assert await events.handle(_message(data, message_id=f"bad-{index}")) is None

    outcomes = {str(k): str(v) for k, v in _rows(config, "SELECT event_id, outcome FROM events")}
    assert str(outcomes["bad-0"]).startswith("malformed: channel s1 message bad-0")
    assert "not valid JSON" in str(outcomes["bad-0"])
    assert outcomes["bad-1"] == "ignored: unknown exec 'liquidate'"
    assert "times_queued" in str(outcomes["bad-2"])
    assert str(outcomes["bad-3"]).startswith("malformed:")
    assert _rows(config, "SELECT count(*) FROM runs") == [(0,)]


async def test_misspelt_account_field_is_refused_not_run_for_every_account(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    config = make_config(account("DU200014"), account("DU200015"))
    executor = make_executor(config, worker_script("print(result())"))
    events = EventProcessor(executor.journal, StrategyExecutor(executor, max_parallel=2))

    data = [
        {"exec": "rebalance", "acount_id": "DU200014"},
        {"exec": "rebalance", "accountId": "DU200014"},
        '{"exec": "rebalance", "account_id": 200014}',
        UndecodableData(encoding="json", reason="JSONDecodeError: x", excerpt="'{\"exec'"),
    ]
    for index, item in enumerate(data):
        assert await events.handle(_message(item, message_id=f"typo-{index}")) is None

    outcomes = {str(k): str(v) for k, v in _rows(config, "SELECT event_id, outcome FROM events")}
    assert outcomes["typo-0"].startswith(
        "malformed: channel s1 message typo-0: event: acount_id: is not a known field"
    )
    assert "did you mean 'account_id'?" in outcomes["typo-0"]
    assert "accountId: is not a known field" in outcomes["typo-1"]
    assert "account_id: 200014 is a number; write it in quotes" in outcomes["typo-2"]
    assert "does not decode as its encoding 'json'" in outcomes["typo-3"]
    assert _rows(config, "SELECT payload FROM events WHERE event_id = 'typo-3'") == [
        ("undecodable as 'json': '{\"exec'",)
    ]
    assert _rows(config, "SELECT count(*) FROM runs") == [(0,)]


async def test_signal_for_an_entry_not_served_is_a_refused_run_others_run(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    receiver: Any,
) -> None:
    config = make_config(account("DU200016"))
    broken = InvalidAccount(
        index=1,
        account_id="DU200017",
        strategy_names=("s1",),
        problems=("accounts[1].cash_reserve_percent: 150 is not within 0..100",),
        source="accounts.yaml",
    )
    config = dataclasses.replace(config, invalid_accounts=(broken,))
    notifier = NotificationService([receiver.url()])
    executor = make_executor(config, worker_script("print(result())"), notifier=notifier)
    events = EventProcessor(executor.journal, StrategyExecutor(executor, max_parallel=2))

    outcome = await events.handle(_message({"exec": "rebalance"}))

    assert outcome is not None
    assert [r.account_id for r in outcome.results] == ["DU200016"]
    assert _rows(config, "SELECT account_id, status, error FROM runs ORDER BY account_id") == [
        ("DU200016", "succeeded", None),
        (
            "DU200017",
            "refused",
            "accounts.yaml: accounts[1] (account DU200017) is not served (never traded) until "
            "its entry is fixed:\n  accounts[1].cash_reserve_percent: 150 is not within 0..100",
        ),
    ]
    titles = [body["title"] for body in receiver.bodies]
    assert "Rebalance skipped: DU200017" in titles
    assert "Rebalance finished: DU200016 (0 order(s) placed)" in titles


async def test_signals_of_both_strategies_run_the_two_strategy_account_once_each_in_turn(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    both = AccountConfig.model_validate(
        {
            "account_id": "DU200020",
            "type": "paper",
            "strategies": [{"name": "s1", "weight": "0.6"}, {"name": "s2", "weight": "0.4"}],
        }
    )
    config = make_config(both, account("DU200021", "s1"), account("DU200022", "s2"))
    folder = tmp_path / "running"
    folder.mkdir()
    # A run of an account while another run of it is going fails: the account lock must
    # serialise the two signals' runs of DU200020.
    command = worker_script(
        f"""
        import pathlib
        marker = pathlib.Path({str(folder)!r}) / request["account"]["account_id"]
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            print(result("failed", "overlapped"))
            sys.exit(0)
        time.sleep(0.3)
        marker.unlink()
        print(result())
        """
    )
    executor = make_executor(config, command)
    events = EventProcessor(executor.journal, StrategyExecutor(executor, max_parallel=4))

    first, second = await asyncio.gather(
        events.handle(_message({"exec": "rebalance"}, "m-s1", channel="s1")),
        events.handle(_message({"exec": "rebalance"}, "m-s2", channel="s2")),
    )

    assert first is not None
    assert second is not None
    assert sorted(r.account_id for r in first.results) == ["DU200020", "DU200021"]
    assert sorted(r.account_id for r in second.results) == ["DU200020", "DU200022"]
    assert _rows(
        config,
        "SELECT account_id, count(*), min(status), max(status) FROM runs"
        " GROUP BY account_id ORDER BY account_id",
    ) == [
        ("DU200020", 2, "succeeded", "succeeded"),
        ("DU200021", 1, "succeeded", "succeeded"),
        ("DU200022", 1, "succeeded", "succeeded"),
    ]
    assert sorted(_rows(config, "SELECT event_id, outcome FROM events")) == [
        ("m-s1", "ran 2 accounts: succeeded"),
        ("m-s2", "ran 2 accounts: succeeded"),
    ]
