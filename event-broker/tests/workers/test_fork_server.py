"""Workers forked by the fork server: same contract as exec'd workers, and its failures."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from app.workers.fork_launcher import FORK_SERVER_COMMAND, ForkServerLauncher
from app.workers.launch import ExecLauncher
from app.workers.pool import WorkerProcesses
from app.workers.protocol import WorkerRequest, encode_request

WorkerScript = Callable[[str], tuple[str, ...]]
RequestFactory = Callable[..., WorkerRequest]
PoolFactory = Callable[[str], WorkerProcesses]
Alive = Callable[[int], bool]
Until = Callable[[Callable[[], bool], str], Awaitable[None]]

EVENT_BROKER = Path(__file__).resolve().parents[2]


def _read_pid(path: Path) -> int | None:
    text = path.read_text() if path.exists() else ""
    return int(text) if text.strip() else None


async def _pid_in(path: Path, until: Until) -> int:
    await until(lambda: _read_pid(path) is not None, f"{path} written")
    pid = _read_pid(path)
    assert pid is not None
    return pid


def _held_until(pid_file: Path, release: Path, *, then: str) -> str:
    """A stand-in worker body: write its pid, wait for ``release`` to exist, then ``then``."""
    return (
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        f"while not os.path.exists({str(release)!r}):\n"
        "    time.sleep(0.05)\n"
        f"{then}\n"
    )


def _launcher(script: tuple[str, ...]) -> ForkServerLauncher:
    return ForkServerLauncher(
        (*FORK_SERVER_COMMAND, "--worker-script", script[1]), brokers=["ibkr"]
    )


@pytest.fixture
async def fork_pool(worker_script: WorkerScript) -> AsyncIterator[PoolFactory]:
    """Pools whose fork server runs a stand-in worker (``worker_script`` body); all closed."""
    pools: list[WorkerProcesses] = []

    def make(body: str) -> WorkerProcesses:
        pool = WorkerProcesses(launcher=_launcher(worker_script(body)))
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.terminate_all()


async def test_forked_worker_returns_its_result_and_relays_its_log(
    fork_pool: PoolFactory, make_request: RequestFactory, caplog: pytest.LogCaptureFixture
) -> None:
    pool = fork_pool(
        'print("WARNING|account=DU111111 run=r1 test: careful", file=sys.stderr)\nprint(result())'
    )
    caplog.set_level(logging.INFO, logger="app.worker")
    await pool.start_spares()
    (server,) = pool.spare_pids

    result = await pool.run(make_request(), timeout_secs=30)

    assert result.status == "succeeded"
    assert result.run_id == "run-DU111111"
    assert any("careful" in r.getMessage() for r in caplog.records if r.name == "app.worker")
    assert pool.spare_pids == [server]  # the same fork server serves the next run


async def test_forked_worker_leads_its_own_session_with_only_its_stdio_open(
    fork_pool: PoolFactory, make_request: RequestFactory, tmp_path: Path
) -> None:
    report = tmp_path / "report.txt"
    pool = fork_pool(
        f"""
        def is_open(fd):
            try:
                os.fstat(fd)
            except OSError:
                return False
            return True
        fds = [str(fd) for fd in range(1024) if is_open(fd)]
        lines = [str(os.getsid(0) == os.getpid() == os.getpgid(0)), " ".join(sorted(fds)),
                 str(len(os.listdir("/proc/self/task")))]
        open({str(report)!r}, "w").write("\\n".join(lines))
        print(result())
        """
    )

    result = await pool.run(make_request(), timeout_secs=30)

    assert result.success
    session_leader, fds, threads = report.read_text().splitlines()
    assert session_leader == "True"
    assert fds == "0 1 2"  # no descriptor of the fork server or of another worker
    assert threads == "1"


async def test_forked_worker_environment_holds_no_daemon_secret(
    worker_script: WorkerScript,
    make_request: RequestFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALTIME_API_KEY", "app.key:realtime-secret")
    monkeypatch.setenv("notification_urls", "json://secret-host/")
    monkeypatch.setenv("ALPACA_API_KEY_ID", "alpaca-daemon-key")
    monkeypatch.setenv("alpaca_pa1111_api_secret_key", "alpaca-account-secret")
    monkeypatch.setenv("ALLOCATIONS_API_KEY", "allocations-secret")
    dump = tmp_path / "env.txt"
    script = worker_script(
        f"open({str(dump)!r}, 'w').write(repr(dict(os.environ))); print(result())"
    )
    pool = WorkerProcesses(launcher=_launcher(script))  # the server starts with this environment

    try:
        result = await pool.run(make_request(), timeout_secs=30)
    finally:
        await pool.terminate_all()

    assert result.success
    environment = dump.read_text()
    for secret in (
        "realtime-secret",
        "secret-host",
        "allocations-secret",
        "alpaca-daemon-key",
        "alpaca-account-secret",
    ):
        assert secret not in environment
    assert "'OPENBLAS_NUM_THREADS': '1'" in environment
    assert "PYTHONPATH" in environment


async def test_result_of_a_finished_worker_does_not_wait_for_a_sibling_still_running(
    fork_pool: PoolFactory,
    make_request: RequestFactory,
    tmp_path: Path,
    until: Until,
) -> None:
    release = tmp_path / "release"
    pool = fork_pool(
        f"""
        if request["account"]["account_id"] == "DU222222":
            while not os.path.exists({str(release)!r}):
                time.sleep(0.05)
        print(result())
        """
    )
    slow = asyncio.create_task(pool.run(make_request("DU222222", run_id="slow"), timeout_secs=60))
    await until(lambda: pool.running_count == 1, "slow run started")

    # Were the fast worker's pipes inherited by the slow one, its stdout would not end here.
    fast = await pool.run(make_request("DU333333", run_id="fast"), timeout_secs=30)
    release.touch()

    assert fast.success, fast.error
    assert (await slow).success


async def test_killed_idle_fork_server_is_replaced_for_the_next_run(
    fork_pool: PoolFactory,
    make_request: RequestFactory,
    caplog: pytest.LogCaptureFixture,
    until: Until,
) -> None:
    pool = fork_pool("print(result())")
    await pool.start_spares()
    (first,) = pool.spare_pids

    os.kill(first, signal.SIGKILL)
    await until(lambda: pool.spare_pids == [], "the pool noticed the fork server's death")
    result = await pool.run(make_request(), timeout_secs=60)

    assert result.success
    (second,) = pool.spare_pids
    assert second != first
    assert any(f"Fork server pid {first} is gone" in r.getMessage() for r in caplog.records)


async def test_fork_server_killed_mid_run_the_running_worker_still_reports(
    fork_pool: PoolFactory,
    make_request: RequestFactory,
    tmp_path: Path,
    alive: Alive,
    until: Until,
) -> None:
    pid_file, release = tmp_path / "worker.pid", tmp_path / "release"
    pool = fork_pool(_held_until(pid_file, release, then="print(result())"))
    await pool.start_spares()
    (server,) = pool.spare_pids
    run = asyncio.create_task(pool.run(make_request(), timeout_secs=60))
    worker = await _pid_in(pid_file, until)

    os.kill(server, signal.SIGKILL)
    await until(lambda: pool.spare_pids == [], "the pool noticed the fork server's death")
    release.touch()
    result = await run

    assert result.success, result.error
    assert not alive(worker)


async def test_fork_server_that_cannot_start_leaves_runs_to_new_interpreters(
    worker_script: WorkerScript, make_request: RequestFactory, caplog: pytest.LogCaptureFixture
) -> None:
    broken = (sys.executable, "-c", "import sys; print('no luck', file=sys.stderr); sys.exit(3)")
    launcher = ForkServerLauncher(
        broken, brokers=["ibkr"], fallback=ExecLauncher(worker_script("print(result())"))
    )
    pool = WorkerProcesses(launcher=launcher)

    try:
        await pool.start_spares()
        result = await pool.run(make_request(), timeout_secs=30)
    finally:
        await pool.terminate_all()

    assert result.success
    messages = [r.getMessage() for r in caplog.records]
    assert any("starting this worker as a new interpreter" in m for m in messages)
    assert any("no luck" in m for m in messages)  # the server's own words reach the log


async def test_terminate_all_stops_running_forked_worker_and_the_fork_server(
    fork_pool: PoolFactory,
    make_request: RequestFactory,
    tmp_path: Path,
    alive: Alive,
    until: Until,
) -> None:
    pid_file = tmp_path / "worker.pid"
    pool = fork_pool(f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)")
    await pool.start_spares()
    (server,) = pool.spare_pids
    run = asyncio.create_task(pool.run(make_request(), timeout_secs=60))
    worker = await _pid_in(pid_file, until)

    await pool.terminate_all()
    result = await run

    assert result.error == "run terminated at shutdown (SIGTERM/SIGINT)"
    assert not alive(worker)
    assert not alive(server)
    assert pool.spare_pids == []


# A process owning a pool with a fork server, as the daemon does. It prints the fork server's
# pid, then runs the request in argv[2] with the stand-in worker script in argv[1].
_OWNER_POOL = """
import asyncio, ctypes, json, sys
from pathlib import Path
from app.workers.fork_launcher import FORK_SERVER_COMMAND, ForkServerLauncher
from app.workers.pool import WorkerProcesses
from app.workers.protocol import decode_request

async def start_pool() -> WorkerProcesses:
    command = (*FORK_SERVER_COMMAND, "--worker-script", sys.argv[1])
    pool = WorkerProcesses(launcher=ForkServerLauncher(command, brokers=["ibkr"]))
    await pool.start_spares()
    print(pool.spare_pids[0], flush=True)
    return pool

def request():
    return decode_request(Path(sys.argv[2]).read_bytes())
"""

_OWNER = (
    _OWNER_POOL
    + """
async def main() -> None:
    pool = await start_pool()
    await pool.run(request(), timeout_secs=600)

asyncio.run(main())
"""
)

_SUBREAPER_OWNER = (
    _OWNER_POOL
    + """
PR_SET_CHILD_SUBREAPER = 36

async def main() -> None:
    # Orphans are re-parented to this process, as they are to PID 1 in a container.
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl failed: errno {ctypes.get_errno()}")
    pool = await start_pool()
    result = await pool.run(request(), timeout_secs=120)
    print(json.dumps(result.error), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # alive, still the reaper, while the test looks
    await pool.terminate_all()

asyncio.run(main())
"""
)


async def _start_owner(
    source: str, script: tuple[str, ...], request: WorkerRequest, tmp_path: Path
) -> asyncio.subprocess.Process:
    """Run ``source`` (an owner script above) for ``script`` and ``request``; pipes on stdio."""
    request_file = tmp_path / "request.json"
    request_file.write_bytes(encode_request(request))
    owner_file = tmp_path / "owner.py"
    owner_file.write_text(source, encoding="utf-8")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(owner_file),
        script[1],
        str(request_file),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(EVENT_BROKER)},
    )


async def test_owner_of_the_pool_killed_leaves_no_fork_server_or_worker_behind(
    worker_script: WorkerScript,
    make_request: RequestFactory,
    tmp_path: Path,
    alive: Alive,
    until: Until,
) -> None:
    pid_file = tmp_path / "worker.pid"
    # Like the real worker: stdin is the lifeline, EOF means the daemon is gone.
    script = worker_script(
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); sys.stdin.buffer.read()"
    )
    owner = await _start_owner(_OWNER, script, make_request(), tmp_path)
    assert owner.stdout is not None
    async with asyncio.timeout(120):
        server = int(await owner.stdout.readline())
    worker = await _pid_in(pid_file, until)

    owner.kill()
    await owner.wait()

    await until(lambda: not alive(worker), "worker stopped by its lifeline")
    await until(lambda: not alive(server), "fork server stopped when its socket closed")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER")
async def test_as_pid_1_a_worker_orphaned_by_its_fork_server_is_reaped_with_its_exit_code(
    worker_script: WorkerScript,
    make_request: RequestFactory,
    tmp_path: Path,
    until: Until,
) -> None:
    pid_file, release = tmp_path / "worker.pid", tmp_path / "release"
    script = worker_script(_held_until(pid_file, release, then="sys.exit(3)"))
    owner = await _start_owner(_SUBREAPER_OWNER, script, make_request(), tmp_path)
    assert owner.stdin is not None
    assert owner.stdout is not None
    try:
        async with asyncio.timeout(120):
            server = int(await owner.stdout.readline())
            worker = await _pid_in(pid_file, until)
            os.kill(server, signal.SIGKILL)  # the worker's parent is gone: the owner adopts it
            await until(lambda: _parent_of(worker) == owner.pid, "the owner adopted the worker")
            release.touch()
            error = json.loads(await owner.stdout.readline())

        # Its exit status came from reaping it, and no zombie is left behind.
        assert error == "worker exited with code 3 without a result"
        assert _parent_of(worker) is None
    finally:
        owner.stdin.close()
        async with asyncio.timeout(30):
            await owner.wait()


def _parent_of(pid: int) -> int | None:
    """Parent pid of ``pid``, a zombie too; None once it is gone (reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])
