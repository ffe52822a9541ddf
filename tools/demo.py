"""``make demo``: the whole flow on the built-in IB Gateway and Alpaca stand-ins, no network.

Starts the IB Gateway simulator with ``demo/scenario.yaml`` (paper accounts, one with the IRA
replacement set, one following two strategies) and the Alpaca API stand-in with
``demo/alpaca-scenario.yaml`` (one paper account, its key pair handed to the daemon as
``ALPACA_API_KEY_ID``/``ALPACA_API_SECRET_KEY``), serves target allocations from
``demo/allocations`` (``file://``), then through ``tools/rebalance.sh`` (the operator's path):
preview every account, execute (each run records the account as it left it), preview again
(no trades needed), take a snapshot of every account, print the journal summary and each
account's performance report (``-report``). Before the execution, a garbage allocations
document (100 % in one symbol) is refused whole by DUM959247's risk limits; after the
reports, the kill switch: ``-halt``, a refused rebalance, ``-resume``.
Then it starts the daemon on the same
state with its HTTP API and dashboard on 127.0.0.1 (port 8000, or a free one when 8000 is
taken) and a fresh API key, prints both, and keeps it up for a minute or until Enter
(``--serve-secs``, 0 skips it); then it stops everything it started. The repo's
``accounts.yaml`` and ``replacement-sets.yaml`` are used; state goes to a temp dir.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "demo" / "scenario.yaml"
ALPACA_SCENARIO = REPO / "demo" / "alpaca-scenario.yaml"
ALPACA_ACCOUNT = "PA3DEMO00001"
ALLOCATIONS = REPO / "demo" / "allocations"
REBALANCE = REPO / "tools" / "rebalance.sh"
DEMO_ACCOUNTS = ("DUM959247", "DU789012", "DU345678", ALPACA_ACCOUNT)


def _read_ready_line(process: subprocess.Popen[str], module: str) -> int:
    """Both stand-ins print ``<module> listening on [http://]HOST:PORT`` once they accept
    clients."""
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on (?:http://)?[^:/]+:(\d+)", line)
    if match is None:
        process.wait(timeout=10)
        raise SystemExit(f"demo: {module} did not start (exit code {process.returncode})")
    return int(match.group(1))


@contextlib.contextmanager
def simulator(module: str, scenario: Path, log_path: Path) -> Iterator[int]:
    """Run ``python -m MODULE`` (a stand-in) on a free loopback port until the block ends;
    yield the port."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--scenario",
                str(scenario),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            yield _read_ready_line(process, module)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _alpaca_keys() -> tuple[str, str]:
    """The demo account's key pair: the stand-in's own, from its scenario file."""
    from alpaca_api_sim import Scenario

    account = Scenario.from_yaml(ALPACA_SCENARIO).accounts[ALPACA_ACCOUNT]
    return account.key_id, account.secret_key


def _demo_env(data_dir: Path, port: int, alpaca_port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing from the operator's own setup may reach the demo (a real key, a real
        # notification URL, a real gateway, real Alpaca keys).
        if key
        not in {
            "REALTIME_API_KEY",
            "ABLY_ENDPOINT",
            "ALLOCATIONS_API_KEY",
            "NOTIFICATION_URLS",
            "REBALANCE_EXEC",
            "API_KEY",
            "API_HOST",
            "API_PORT",
            "API_ENABLED",
            "API_CORS_ORIGINS",
        }
        and not key.upper().startswith("ALPACA_")
    }
    key_id, secret = _alpaca_keys()
    env.update(
        {
            "TRADING_MODE": "paper",
            "IB_GATEWAY_HOST": "127.0.0.1",
            "IB_GATEWAY_PORT": str(port),
            "ALPACA_API_KEY_ID": key_id,
            "ALPACA_API_SECRET_KEY": secret,
            "ALPACA_BASE_URL": f"http://127.0.0.1:{alpaca_port}",
            "ALLOCATIONS_API_URL": ALLOCATIONS.as_uri(),
            "DATA_DIR": str(data_dir),
            "ACCOUNTS_FILE": str(REPO / "accounts.yaml"),
            "REPLACEMENT_SETS_FILE": str(REPO / "replacement-sets.yaml"),
            "NOTIFICATION_URLS": "",
            "LOG_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
            "REBALANCE_TARGET": "local",
            "PYTHONPATH": str(REPO / "event-broker"),
        }
    )
    return env


def _step(title: str, args: list[str], env: dict[str, str], cwd: Path, *, expect: int = 0) -> None:
    shown = " ".join(f'"{a}"' if " " in a else a for a in args)
    print(f"\n=== {title}\n$ tools/rebalance.sh {shown}", flush=True)
    done = subprocess.run([str(REBALANCE), *args], env=env, cwd=cwd, check=False)
    if done.returncode != expect:
        raise SystemExit(f"demo: '{shown}' exited with code {done.returncode}, expected {expect}")


def _garbage_refused(env: dict[str, str], work: Path) -> None:
    """A garbage allocations document, stopped by the account's risk limits before any order.

    The repo's ``accounts.yaml`` with limits on DUM959247 (its example in the file's comments):
    no symbol above 60 % of the account, never a leveraged ETF.
    """
    accounts = work / "accounts-with-limits.yaml"
    marker = "    strategy_name: etf-blend-301-20\n"
    limits = "    risk_limits: {max_symbol_weight_percent: 60, denied_symbols: [TQQQ, SQQQ]}\n"
    text = (REPO / "accounts.yaml").read_text(encoding="utf-8")
    accounts.write_text(text.replace(marker, marker + limits, 1), encoding="utf-8")
    garbage = work / "garbage-allocations"
    shutil.copytree(ALLOCATIONS, garbage)
    document = garbage / "etf-blend-301-20" / "allocations.json"
    content = json.loads(document.read_text(encoding="utf-8"))
    content["data"]["allocations"] = [{"symbol": "QQQ", "allocation": 1.0}]
    document.write_text(json.dumps(content), encoding="utf-8")
    _step(
        "A garbage allocations document (100 % QQQ) meets DUM959247's risk limits "
        "(max_symbol_weight_percent: 60): refused whole, nothing placed",
        ["-account", "DUM959247", "-exec", "rebalance"],
        {**env, "ALLOCATIONS_API_URL": garbage.as_uri(), "ACCOUNTS_FILE": str(accounts)},
        work,
        expect=1,
    )


def _kill_switch(env: dict[str, str], work: Path) -> None:
    """The kill switch on, a rebalance refused while it is, and off again."""
    _step("Kill switch: halt all trading", ["-halt", "demo: owner stops trading"], env, work)
    _step(
        "While halted every rebalance is refused",
        ["-all", "-exec", "rebalance"],
        env,
        work,
        expect=1,
    )
    _step("Resume trading", ["-resume"], env, work)


def _journal_summary(data_dir: Path) -> str:
    sys.path.insert(0, str(REPO / "event-broker"))
    from app.store.files import JOURNAL_FILE
    from app.store.journal import Journal

    journal = Journal(data_dir / JOURNAL_FILE)
    try:
        return str(journal.summary())
    finally:
        journal.close()


def _api_port(preferred: int = 8000) -> int:
    """``preferred`` when it is free on 127.0.0.1, else 0 (the daemon picks one)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return 0
    return preferred


@contextlib.contextmanager
def daemon(env: dict[str, str], cwd: Path, log_path: Path) -> Iterator[str]:
    """Run ``python -m app.main`` until the block ends; yield its dashboard URL.

    Its log goes to ``log_path`` (read here until it says where it listens).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "app.main"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    with log_path.open("w") as log:
        copier = threading.Thread(target=shutil.copyfileobj, args=(process.stderr, log))
        try:
            url = None
            for line in process.stderr:
                log.write(line)
                found = re.search(r"API and dashboard on (http://\S+)", line)
                if found:
                    url = found.group(1)
                    break
            if url is None:
                process.wait()
                raise SystemExit(f"demo: the daemon did not start; its log is in {log_path}")
            copier.start()  # keep draining the log so the daemon never blocks on it
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if copier.is_alive():
                copier.join()
            process.stderr.close()


def _wait_for_enter(secs: float) -> None:
    if not sys.stdin.isatty():
        time.sleep(secs)
        return
    ready, _, _ = select.select([sys.stdin], [], [], secs)
    if ready:
        sys.stdin.readline()


def _serve_dashboard(env: dict[str, str], work: Path, secs: float) -> None:
    key = secrets.token_urlsafe(24)
    env = {**env, "API_KEY": key, "API_PORT": str(_api_port()), "LOG_LEVEL": "INFO"}
    with daemon(env, work, work / "daemon.log") as url:
        print(f"\n=== Dashboard and API (the daemon on the demo's state)\n{url}/  API key: {key}")
        print(f"API docs: {url}/docs")
        print(f"Try: curl -s -H 'X-API-Key: {key}' {url}/api/v1/accounts")
        print(f"Up for {secs:g} s, or press Enter to stop.", flush=True)
        _wait_for_enter(secs)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; non-zero exit when any step fails."""
    parser = argparse.ArgumentParser(description="The rebalancer end to end on the stand-ins.")
    parser.add_argument(
        "--serve-secs",
        type=float,
        default=float(os.environ.get("DEMO_SERVE_SECS", "60")),
        help="keep the dashboard up this long after the flow (0: skip it; default 60)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rebalancer-demo-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        with (
            simulator("ib_gateway_sim", SCENARIO, work / "simulator.log") as port,
            simulator("alpaca_api_sim", ALPACA_SCENARIO, work / "alpaca.log") as alpaca_port,
        ):
            env = _demo_env(data_dir, port, alpaca_port)
            print(f"Demo: IB Gateway simulator on 127.0.0.1:{port}, scenario {SCENARIO.name}")
            print(
                f"      Alpaca API stand-in on 127.0.0.1:{alpaca_port}, scenario "
                f"{ALPACA_SCENARIO.name}"
            )
            print(f"      allocations from {ALLOCATIONS}, state in {data_dir}")
            _step("Preview every account", ["-all"], env, work)
            _garbage_refused(env, work)
            _step("Execute the rebalance", ["-all", "-exec", "rebalance"], env, work)
            _step("Preview again: the portfolios are on target", ["-all"], env, work)
            _step("Snapshot every account (places nothing)", ["-snapshot", "-all"], env, work)
            print("\n=== Journal summary")
            print(_journal_summary(data_dir))
            for account in DEMO_ACCOUNTS:
                _step(f"Report of {account}", ["-report", "-account", account], env, work)
            _kill_switch(env, work)
            if args.serve_secs > 0:
                _serve_dashboard(env, work, args.serve_secs)
            _step("Preview once more, trading resumed: still on target", ["-all"], env, work)
    print("\nDemo finished; the stand-ins are stopped and the temp state removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
