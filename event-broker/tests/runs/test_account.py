"""One account run: PDT guard, account lock, journal, notification, timeouts."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from app.config.settings import AppConfig
from app.notify.notifier import NotificationService
from app.runs.account import TradingExecutor
from app.runs.locks import account_lock
from app.runs.recovery import report_unfinished_runs
from app.runtime import Runtime
from app.store.files import JOURNAL_FILE
from app.store.journal import Journal
from broker_connector_base import AccountConfig, Trade
from pydantic import SecretStr

WorkerScript = Callable[[str], tuple[str, ...]]
ConfigFactory = Callable[..., AppConfig]
ExecutorFactory = Callable[..., TradingExecutor]
RuntimeFactory = Callable[..., Runtime]
AccountFactory = Callable[..., AccountConfig]


def _runs(config: AppConfig) -> list[sqlite3.Row]:
    with sqlite3.connect(config.settings.data_dir / JOURNAL_FILE) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute("SELECT * FROM runs ORDER BY started_at"))


def _counting_worker(worker_script: WorkerScript, counter: Path) -> tuple[str, ...]:
    return worker_script(
        f"""
        with open({str(counter)!r}, "a") as f:
            f.write(request["mode"] + "\\n")
        if request["mode"] == "rebalance":
            journal_order()
        print(result())
        """
    )


async def test_execute_account_success_is_journalled_as_finished_run(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    config = make_config(account("DU100001"))
    executor = make_executor(config, worker_script("print(result())"))

    result = await executor.execute_account(config.accounts[0], "print-rebalance")

    assert result.success
    runs = _runs(config)
    assert [(r["run_id"], r["status"], r["client_id"]) for r in runs] == [
        (result.run_id, "succeeded", 100001)
    ]


async def test_second_rebalance_same_day_with_pdt_is_refused_without_starting_worker(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    counter = tmp_path / "runs.txt"
    config = make_config(account("DU100002", pdt_protection_enabled=True))
    executor = make_executor(config, _counting_worker(worker_script, counter))
    target = config.accounts[0]

    first = await executor.execute_account(target, "rebalance")
    second = await executor.execute_account(target, "rebalance")
    preview = await executor.execute_account(target, "print-rebalance")

    assert first.success
    assert second.status == "refused"
    assert "PDT Protection: Account DU100002 was already rebalanced earlier today" in (
        second.error or ""
    )
    assert "You can manually rebalance after" in (second.error or "")
    assert preview.success
    assert counter.read_text().splitlines() == ["rebalance", "print-rebalance"]
    assert [r["status"] for r in _runs(config)] == ["succeeded", "refused", "succeeded"]


async def test_rebalance_without_pdt_protection_runs_twice(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    counter = tmp_path / "runs.txt"
    config = make_config(account("DU100003"))
    executor = make_executor(config, _counting_worker(worker_script, counter))

    results = [await executor.execute_account(config.accounts[0], "rebalance") for _ in range(2)]

    assert all(r.success for r in results)
    assert counter.read_text().splitlines() == ["rebalance", "rebalance"]


async def test_account_of_unsupported_broker_is_refused_without_a_worker_and_others_go_on(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_runtime: RuntimeFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    counter = tmp_path / "runs.txt"
    config = make_config(account("DU100010", broker="schwab"), account("DU100011"))
    runtime = make_runtime(config, _counting_worker(worker_script, counter))

    outcome = await runtime.strategies.execute_strategy("s1", "rebalance")

    refused, ran = outcome.results
    assert (refused.account_id, refused.status) == ("DU100010", "refused")
    assert "unsupported broker 'schwab'; supported: alpaca, ibkr" in (refused.error or "")
    assert (ran.account_id, ran.status) == ("DU100011", "succeeded")
    assert counter.read_text().splitlines() == ["rebalance"]
    assert {(r["account_id"], r["status"], r["client_id"]) for r in _runs(config)} == {
        ("DU100010", "refused", 0),
        ("DU100011", "succeeded", 100011),
    }


async def test_failed_rebalance_does_not_use_up_the_pdt_day(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    config = make_config(account("DU100004", pdt_protection_enabled=True))
    failing = make_executor(config, worker_script('print(result("failed", "no prices"))'))
    working = make_executor(config, worker_script("print(result())"))

    failed = await failing.execute_account(config.accounts[0], "rebalance")
    retried = await working.execute_account(config.accounts[0], "rebalance")

    assert failed.status == "failed"
    assert failed.error == "no prices"
    assert retried.success


async def test_run_while_account_lock_held_elsewhere_is_refused_with_reason(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    config = make_config(account("DU100005"))
    executor = make_executor(config, worker_script("print(result())"), lock_wait_secs=0.2)

    async with account_lock(config.settings.data_dir, "DU100005", wait_secs=0):
        result = await executor.execute_account(config.accounts[0], "rebalance")

    assert result.status == "refused"
    assert "DU100005" in (result.error or "")
    assert [r["status"] for r in _runs(config)] == ["refused"]


async def test_two_runs_of_same_account_never_overlap(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    log = tmp_path / "spans.txt"
    command = worker_script(
        f"""
        with open({str(log)!r}, "a") as f:
            f.write(f"start {{time.monotonic()}}\\n")
        time.sleep(0.5)
        with open({str(log)!r}, "a") as f:
            f.write(f"end {{time.monotonic()}}\\n")
        print(result())
        """
    )
    config = make_config(account("DU100006"))
    executor = make_executor(config, command)

    results = await asyncio.gather(
        executor.execute_account(config.accounts[0], "rebalance"),
        executor.execute_account(config.accounts[0], "rebalance"),
    )

    assert all(r.success for r in results)
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["start", "end", "start", "end"]


async def test_run_past_timeout_is_journalled_timed_out(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    config = make_config(account("DU100007"), account_run_timeout_secs="1")
    executor = make_executor(config, worker_script("time.sleep(600)"))

    result = await executor.execute_account(config.accounts[0], "rebalance")

    assert result.status == "timed_out"
    assert [(r["status"], r["error"]) for r in _runs(config)] == [
        ("timed_out", "run timed out after 1 s; the worker was killed")
    ]


async def test_every_run_sends_one_notification_and_a_dead_target_never_fails_it(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
) -> None:
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        config = make_config(account("DU100008", pdt_protection_enabled=True))
        notifier = NotificationService(
            [SecretStr(f"json://127.0.0.1:{port}/hook"), SecretStr("json://127.0.0.1:1/dead")],
            timeout_secs=5,
        )
        executor = make_executor(
            config, worker_script("journal_order()\nprint(result())"), notifier=notifier
        )

        done = await executor.execute_account(config.accounts[0], "rebalance")
        refused = await executor.execute_account(config.accounts[0], "rebalance")
    finally:
        await runner.cleanup()

    assert done.success
    assert refused.status == "refused"
    assert len(received) == 2
    assert "DU100008" in str(received[0]["title"])
    assert "PDT Protection" in str(received[1]["message"])


async def test_timed_out_rebalance_that_placed_orders_allows_one_completion_run(
    worker_script: WorkerScript,
    make_config: ConfigFactory,
    make_executor: ExecutorFactory,
    account: AccountFactory,
    tmp_path: Path,
) -> None:
    # The first run hangs until its timeout; the others need a worker start's time under load.
    config = make_config(
        account("DU100009", pdt_protection_enabled=True), account_run_timeout_secs="5"
    )
    attempts = tmp_path / "attempts.txt"
    executor = make_executor(
        config,
        worker_script(
            f"""
            with open({str(attempts)!r}, "a") as f:
                f.write("run\\n")
            journal_order()
            if len(open({str(attempts)!r}).read().split()) == 1:
                time.sleep(600)  # the first run hangs after its first order: timed out
            print(result())
            """
        ),
    )

    first = await executor.execute_account(config.accounts[0], "rebalance")
    completion = await executor.execute_account(config.accounts[0], "rebalance")
    third = await executor.execute_account(config.accounts[0], "rebalance")

    assert first.status == "timed_out"
    assert completion.success
    assert any(f"completion run after run {first.run_id}" in n for n in completion.notes)
    assert third.status == "refused"
    assert f"run {first.run_id}, then completion run {completion.run_id}" in (third.error or "")
    assert attempts.read_text().split() == ["run", "run"]


async def test_startup_report_abandons_dead_runs_but_not_runs_of_locked_accounts(
    make_config: ConfigFactory, account: AccountFactory
) -> None:
    config = make_config(account("DU100010"), account("DU100011"))
    data_dir = config.settings.data_dir
    with Journal(data_dir / JOURNAL_FILE) as journal:
        for run_id, account_id in (("dead-run", "DU100010"), ("live-run", "DU100011")):
            journal.start_run(run_id=run_id, account_id=account_id, mode="rebalance", client_id=1)
        journal.record_order(run_id="dead-run", trade=_placed_trade())

        async with account_lock(data_dir, "DU100011", wait_secs=0):  # the CLI, still running
            reported = await report_unfinished_runs(journal, NotificationService(()), data_dir)

        left = [run.run_id for run in journal.unfinished_runs()]
    assert reported == 1
    assert left == ["live-run"]
    assert _runs(config)[0]["status"] == "abandoned"


def _placed_trade() -> Trade:
    return Trade.model_validate(
        {
            "symbol": "SPY",
            "quantity": 3,
            "current_shares": 0,
            "target_value": "1800",
            "current_value": "0",
            "price": "600",
            "order_id": "7",
            "status": "WORKING",
        }
    )
