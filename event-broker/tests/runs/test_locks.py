"""Per-account cross-process locks."""

from __future__ import annotations

import asyncio
import pickle
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from app.runs.locks import AccountBusyError, account_lock, lock_path
from broker_connector_base import InvalidInputError

_HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from app.runs.locks import account_lock

    async def main() -> None:
        async with account_lock(Path(sys.argv[1]), "DU1"):
            print("locked", flush=True)
            await asyncio.to_thread(sys.stdin.readline)

    asyncio.run(main())
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate process holding the lock of DU1 until its stdin gets a line (or it dies)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": ":".join(sys.path)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    try:
        yield child
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


async def test_account_lock_free_lock_is_acquired_and_released(tmp_path: Path) -> None:
    async with account_lock(tmp_path, "DU1") as path:
        assert path == tmp_path / "locks" / "DU1.lock"

    async with account_lock(tmp_path, "DU1"):
        pass


async def test_account_lock_second_holder_in_same_process_is_refused(tmp_path: Path) -> None:
    async with account_lock(tmp_path, "DU1"):
        with pytest.raises(AccountBusyError, match="account DU1 is busy") as caught:
            async with account_lock(tmp_path, "DU1"):
                pytest.fail("acquired a held lock")

    assert caught.value.account_id == "DU1"


async def test_account_lock_different_accounts_do_not_block_each_other(tmp_path: Path) -> None:
    async with account_lock(tmp_path, "DU1"), account_lock(tmp_path, "DU2"):
        pass


async def test_account_lock_waiter_gets_lock_when_holder_releases(tmp_path: Path) -> None:
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with account_lock(tmp_path, "DU1"):
            held.set()
            await release.wait()

    holder_task = asyncio.create_task(hold())
    await held.wait()

    async def wait_for_lock() -> str:
        async with account_lock(tmp_path, "DU1", wait_secs=30):
            return "acquired"

    waiter = asyncio.create_task(wait_for_lock())
    await asyncio.sleep(0)  # the waiter tries once and finds the lock busy
    assert not waiter.done()
    release.set()

    assert await asyncio.wait_for(waiter, timeout=30) == "acquired"
    await holder_task


async def test_account_lock_released_when_block_raises(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        async with account_lock(tmp_path, "DU1"):
            raise ZeroDivisionError

    async with account_lock(tmp_path, "DU1"):
        pass


async def test_account_lock_held_by_other_process_is_busy_naming_its_pid(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(AccountBusyError) as caught:
        async with account_lock(tmp_path, "DU1", wait_secs=0.05):
            pytest.fail("acquired a lock held by another process")

    assert caught.value.holder_pid == holder.pid
    assert f"by process {holder.pid}" in str(caught.value)


async def test_account_lock_is_freed_when_holder_process_is_killed(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)

    async with account_lock(tmp_path, "DU1"):
        pass


async def test_account_lock_waiter_in_other_process_gets_lock_after_holder_exits(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    waiter = asyncio.create_task(_acquire_after_wait(tmp_path))
    await asyncio.sleep(0)
    assert holder.stdin is not None
    holder.stdin.write("release\n")
    holder.stdin.flush()

    assert await asyncio.wait_for(waiter, timeout=30) == "acquired"
    assert holder.wait(timeout=30) == 0


async def _acquire_after_wait(data_dir: Path) -> str:
    async with account_lock(data_dir, "DU1", wait_secs=30):
        return "acquired"


def test_account_busy_error_pickles_with_fields() -> None:
    error = AccountBusyError("DU1", holder_pid=42, waited_secs=1.5)

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.account_id, copy.holder_pid, copy.waited_secs) == ("DU1", 42, 1.5)
    assert str(copy) == str(error)
    assert "after waiting 1.5s" in str(copy)


@pytest.mark.parametrize("account_id", ["../etc/passwd", "", "DU 1", "a/b"])
def test_lock_path_refuses_ids_that_are_not_plain_names(account_id: str) -> None:
    with pytest.raises(InvalidInputError):
        lock_path(Path("/data"), account_id)
