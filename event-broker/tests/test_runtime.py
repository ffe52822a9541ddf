"""The one builder: ``Runtime`` wires the object graph and owns its start and stop."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from app.config.settings import AppConfig
from app.runtime import Runtime
from app.store.files import JOURNAL_FILE
from app.store.journal import Journal
from app.workers.pool import WorkerProcesses
from broker_connector_base import AccountConfig, InvalidInputError

WorkerScript = Callable[[str], tuple[str, ...]]
ConfigFactory = Callable[..., AppConfig]
RuntimeFactory = Callable[..., Runtime]
AccountFactory = Callable[..., AccountConfig]
Alive = Callable[[int], bool]


def _crashed_run(config: AppConfig) -> None:
    with Journal(config.settings.data_dir / JOURNAL_FILE) as journal:
        journal.start_run(run_id="crashed", account_id="DU500001", mode="rebalance", client_id=1)


async def test_start_reports_runs_a_previous_process_left_unfinished(
    make_config: ConfigFactory,
    make_runtime: RuntimeFactory,
    account: AccountFactory,
    worker_script: WorkerScript,
) -> None:
    config = make_config(account("DU500001"))
    _crashed_run(config)
    runtime = make_runtime(config, worker_script("print(result())"))

    await runtime.start()

    assert runtime.journal.unfinished_runs() == []


async def test_start_for_a_manual_run_leaves_unfinished_runs_to_the_daemon(
    make_config: ConfigFactory,
    make_runtime: RuntimeFactory,
    account: AccountFactory,
    worker_script: WorkerScript,
) -> None:
    config = make_config(account("DU500001"))
    _crashed_run(config)
    runtime = make_runtime(config, worker_script("print(result())"))

    await runtime.start(report_unfinished=False)

    assert [run.run_id for run in runtime.journal.unfinished_runs()] == ["crashed"]


async def test_stop_ends_the_fork_server_started_by_start(
    make_config: ConfigFactory, account: AccountFactory, alive: Alive
) -> None:
    runtime = Runtime(make_config(account("DU500002")))
    try:
        await runtime.start(report_unfinished=False)
        assert isinstance(runtime.workers, WorkerProcesses)
        (fork_server,) = runtime.workers.spare_pids
        assert alive(fork_server)

        await runtime.stop(0)

        assert not alive(fork_server)
    finally:
        runtime.close()


def test_subscriber_without_realtime_key_is_refused(
    make_config: ConfigFactory,
    make_runtime: RuntimeFactory,
    account: AccountFactory,
    worker_script: WorkerScript,
) -> None:
    runtime = make_runtime(make_config(account("DU500003")), worker_script("print(result())"))

    with pytest.raises(InvalidInputError, match="REALTIME_API_KEY"):
        runtime.subscriber()
