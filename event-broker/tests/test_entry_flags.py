"""The daemon's and the manual trigger's own flags: strict, and a named ``--env-file`` must be
a readable file (a directory or a missing file is an error naming it, never ignored)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from app.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]


def _daemon(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m app.main ARGS`` with settings that would otherwise load."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REALTIME_API_KEY", "NOTIFICATION_URLS"}
    }
    env.update(
        {
            "DATA_DIR": str(tmp_path / "data"),
            "ALLOCATIONS_API_URL": (tmp_path / "allocations").as_uri(),
            "ACCOUNTS_FILE": str(REPO / "accounts.yaml"),
            "REPLACEMENT_SETS_FILE": str(REPO / "replacement-sets.yaml"),
            "PYTHONPATH": str(REPO / "event-broker"),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "app.main", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--env-file", "a.env", "--env-file", "b.env"),
            "argument --env-file: given more than once",
        ),
        (("--check", "--check"), "argument --check: given more than once"),
        (("--chec",), "unrecognized arguments: --chec"),
        (("--env", "a.env"), "unrecognized arguments: --env a.env"),
    ],
)
def test_daemon_repeated_or_abbreviated_flag_exits_2_naming_it(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = _daemon(tmp_path, *args)

    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything started


def test_daemon_env_file_missing_or_a_directory_refuses_to_start_naming_it(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "prod.env"

    absent = _daemon(tmp_path, "--env-file", str(missing))
    folder = _daemon(tmp_path, "--env-file", str(tmp_path))

    assert absent.returncode == 2
    assert f"{missing}: env file not found" in absent.stderr
    assert folder.returncode == 2
    assert f"{tmp_path}: env file is a directory, not a file" in folder.stderr
    assert "Traceback" not in absent.stderr + folder.stderr


def test_daemon_check_with_env_file_missing_or_a_directory_is_unhealthy_naming_it(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "prod.env"

    absent = _daemon(tmp_path, "--check", "--env-file", str(missing))
    folder = _daemon(tmp_path, "--check", "--env-file", str(tmp_path))

    assert absent.returncode == 1
    assert f"unhealthy: {missing}: env file not found" in absent.stderr
    assert folder.returncode == 1
    assert f"unhealthy: {tmp_path}: env file is a directory" in folder.stderr


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_cli_env_file_missing_or_a_directory_exits_2_naming_it(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "prod.env" if kind == "missing" else tmp_path
    expected = "env file not found" if kind == "missing" else "env file is a directory"

    for argv in (["-all", "--env-file", str(path)], ["-halt", "x", "--env-file", str(path)]):
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert f"{path}: {expected}" in err
    assert not (tmp_path / "data").exists()
