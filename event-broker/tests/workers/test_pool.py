"""Worker processes: result over the pipe, timeout kills the group, crashes become results."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from app.workers.fork_launcher import FORK_SERVER_COMMAND, ForkServerLauncher
from app.workers.launch import MAX_LOG_LINE_BYTES
from app.workers.pool import WorkerProcesses
from app.workers.protocol import WorkerRequest, decode_request, encode_request
from broker_connector_base import AccountConfig

WorkerScript = Callable[[str], tuple[str, ...]]
RequestFactory = Callable[..., WorkerRequest]


Alive = Callable[[int], bool]
Until = Callable[[Callable[[], bool], str], Awaitable[None]]
PoolOf = Callable[[str], WorkerProcesses]


@pytest.fixture(params=["exec", "fork"])
async def pool_of(
    request: pytest.FixtureRequest, worker_script: WorkerScript
) -> AsyncIterator[PoolOf]:
    """Pools running a stand-in worker body, started both ways: new interpreter and fork."""
    pools: list[WorkerProcesses] = []

    def make(body: str) -> WorkerProcesses:
        script = worker_script(body)
        if request.param == "exec":
            pool = WorkerProcesses(script)
        else:
            command = (*FORK_SERVER_COMMAND, "--worker-script", script[1])
            pool = WorkerProcesses(launcher=ForkServerLauncher(command, brokers=["ibkr"]))
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.terminate_all()


def test_encode_request_carries_api_key_only_in_pipe_payload(make_request: RequestFactory) -> None:
    request = make_request(allocations_api_key="s3cret-key")

    raw = encode_request(request)

    assert b"s3cret-key" in raw
    assert "s3cret-key" not in repr(request)
    decoded = decode_request(raw)
    assert decoded.allocations_api_key is not None
    assert decoded.allocations_api_key.get_secret_value() == "s3cret-key"
    assert decoded.account == request.account


@pytest.mark.parametrize("trading_mode", ["live", "paper"])
def test_worker_request_for_account_of_other_type_than_trading_mode_is_refused(
    make_request: RequestFactory, trading_mode: str
) -> None:
    account_type = "paper" if trading_mode == "live" else "live"
    account = AccountConfig(account_id="U7654321", type=account_type, strategy_name="s1")

    with pytest.raises(ValueError, match=f"is {account_type} but TRADING_MODE is {trading_mode}"):
        make_request(account=account, trading_mode=trading_mode, mode="rebalance")


async def test_run_returns_worker_result_and_relays_its_log_lines(
    worker_script: WorkerScript,
    make_request: RequestFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    command = worker_script(
        """
        print("WARNING|account=DU111111 run=r1 test: careful", file=sys.stderr)
        print("stray stdout noise goes elsewhere in the real worker", file=sys.stderr)
        print(result())
        """
    )
    caplog.set_level(logging.INFO, logger="app.worker")

    result = await WorkerProcesses(command).run(make_request(), timeout_secs=30)

    assert result.status == "succeeded"
    assert result.run_id == "run-DU111111"
    relayed = [r for r in caplog.records if r.name == "app.worker"]
    assert any(r.levelno == logging.WARNING and "careful" in r.getMessage() for r in relayed)


async def test_log_line_longer_than_any_buffer_is_relayed_cut_and_the_run_ends_normally(
    pool_of: PoolOf, make_request: RequestFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # 1 MiB on one line, then more lines: the old relay died past 64 KiB, the pipe filled and
    # the worker hung until its timeout.
    workers = pool_of(
        """
        sys.stderr.write("INFO|tag app: " + "S" * 1_048_576 + "\\n")
        for n in range(2000):
            sys.stderr.write(f"INFO|tag app: line {n} " + "x" * 100 + "\\n")
        sys.stderr.flush()
        print(result())
        """
    )
    caplog.set_level(logging.INFO, logger="app.worker")

    result = await workers.run(make_request(), timeout_secs=30)

    assert result.status == "succeeded"
    messages = [r.getMessage() for r in caplog.records if r.name == "app.worker"]
    long_line = next(m for m in messages if m.startswith("tag app: SSS"))
    cut = re.fullmatch(r"tag app: S+ \.\.\. \[(\d+) more bytes of this line cut\]", long_line)
    assert cut is not None
    assert int(cut.group(1)) > 1_048_576 - MAX_LOG_LINE_BYTES
    assert len(long_line) < MAX_LOG_LINE_BYTES + 100
    assert any(m.startswith("tag app: line 1999 ") for m in messages)


async def test_run_past_timeout_kills_worker_group_and_reports_timed_out(
    pool_of: PoolOf, make_request: RequestFactory, tmp_path: Path, alive: Alive, until: Until
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    workers = pool_of(
        f"""
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(600)
        """
    )
    await workers.start_spares()  # the timeout is for the run, not a fork server's imports

    result = await workers.run(make_request(), timeout_secs=3)

    assert result.status == "timed_out"
    assert result.success is False
    assert "timed out after 3 s" in (result.error or "")
    grandchild = int(pid_file.read_text())
    # SIGKILL is asynchronous; the orphaned grandchild is reaped by init.
    await until(lambda: not alive(grandchild), "grandchild killed with the worker's group")
    assert workers.running_count == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("sys.exit(3)", "worker exited with code 3 without a result"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "worker was killed by signal SIGKILL"),
        ("raise RuntimeError('boom')", "worker exited with code 1 without a result"),
    ],
)
async def test_run_of_crashing_worker_reports_failed_with_its_exit_status(
    pool_of: PoolOf, make_request: RequestFactory, body: str, error: str
) -> None:
    result = await pool_of(f"import signal\n{body}").run(make_request(), timeout_secs=30)

    assert result.status == "failed"
    assert result.error == error


async def test_run_of_worker_with_garbage_output_reports_unreadable_result(
    worker_script: WorkerScript, make_request: RequestFactory
) -> None:
    command = worker_script('print("{not json")')

    result = await WorkerProcesses(command).run(make_request(), timeout_secs=30)

    assert result.status == "failed"
    assert "unreadable result" in (result.error or "")


async def test_terminate_all_stops_running_worker_and_run_reports_shutdown(
    worker_script: WorkerScript, make_request: RequestFactory, tmp_path: Path, until: Until
) -> None:
    started = tmp_path / "started"
    command = worker_script(f"open({str(started)!r}, 'w').close(); time.sleep(600)")
    workers = WorkerProcesses(command)
    run = asyncio.create_task(workers.run(make_request(), timeout_secs=60))
    await until(started.exists, "the worker started its run")

    await workers.terminate_all()
    result = await run

    assert result.status == "failed"
    assert result.error == "run terminated at shutdown (SIGTERM/SIGINT)"


async def test_cancelled_run_kills_its_worker(
    worker_script: WorkerScript,
    make_request: RequestFactory,
    tmp_path: Path,
    alive: Alive,
    until: Until,
) -> None:
    pid_file = tmp_path / "worker.pid"
    command = worker_script(
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    )
    run = asyncio.create_task(WorkerProcesses(command).run(make_request(), timeout_secs=60))
    await until(lambda: pid_file.exists() and bool(pid_file.read_text()), "the worker's pid file")
    pid = int(pid_file.read_text())

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert not alive(pid)


async def test_spare_worker_is_used_for_next_run_then_replaced_and_reaped_at_shutdown(
    worker_script: WorkerScript,
    make_request: RequestFactory,
    tmp_path: Path,
    alive: Alive,
) -> None:
    pid_file = tmp_path / "pid"
    command = worker_script(
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); print(result())"
    )
    workers = WorkerProcesses(command, spares=1)
    await workers.start_spares()
    (spare,) = workers.spare_pids

    result = await workers.run(make_request(), timeout_secs=30)
    await workers.start_spares()  # waits for the refill the run started
    (replacement,) = workers.spare_pids
    await workers.terminate_all()

    assert result.success
    assert int(pid_file.read_text()) == spare
    assert replacement != spare
    assert not alive(replacement)
    assert workers.spare_pids == []


async def test_worker_environment_holds_no_daemon_secret(
    worker_script: WorkerScript,
    make_request: RequestFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALTIME_API_KEY", "app.key:realtime-secret")
    monkeypatch.setenv("notification_urls", "json://secret-host/")
    monkeypatch.setenv("ALPACA_API_KEY_ID", "alpaca-daemon-key")
    monkeypatch.setenv("alpaca_pa1111_api_secret_key", "alpaca-account-secret")
    dump = tmp_path / "env.txt"
    command = worker_script(
        f"open({str(dump)!r}, 'w').write(repr(dict(os.environ))); print(result())"
    )

    result = await WorkerProcesses(command).run(make_request(), timeout_secs=30)

    assert result.success
    environment = dump.read_text()
    assert "realtime-secret" not in environment
    assert "secret-host" not in environment
    assert "alpaca-daemon-key" not in environment
    assert "alpaca-account-secret" not in environment
    assert "PYTHONPATH" in environment
