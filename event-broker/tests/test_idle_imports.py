"""What the idle daemon and the fork server hold: libraries needed only later, or only
elsewhere, stay unloaded (each costs megabytes of idle memory; ``bench/signal_latency.py``
measures them).

Each case runs in a new interpreter, which imports what the process does and prints the
top-level packages of ``sys.modules`` it asks about: all a test can see of another process's
imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Loaded by the daemon only when it needs them: Apprise and its plugins (with requests) when
# a notification URL is set, the web stack when the HTTP API is on, numpy with the first
# performance report; aiohttp (the workers fetch allocations), the connectors and matplotlib
# never.
DAEMON_LAZY = (
    "apprise",
    "requests",
    "aiohttp",
    "fastapi",
    "uvicorn",
    "numpy",
    "portfolio_analytics",
    "ib_async",
    "ibkr_connector",
    "alpaca",
    "alpaca_connector",
    "matplotlib",
)
# A worker needs its connector and the engine, not the daemon's settings, notifications,
# realtime client, calendars or web stack.
WORKER_UNUSED = ("pydantic_settings", "apprise", "ably", "holidays", "fastapi", "uvicorn")

_DAEMON = """
import json, sys
from app.config.settings import load_app_config
import app.main
from app.runtime import Runtime

config = load_app_config(env_file=None, environ=json.loads(sys.argv[1]))
runtime = Runtime(config, fork_server=False)
runtime.close()
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({watched!r}))))
"""

_API = """
import json, sys
from app.api.app import create_app
import app.api.server
from app.config.settings import load_app_config
from app.runtime import Runtime

config = load_app_config(env_file=None, environ=json.loads(sys.argv[1]))
runtime = Runtime(config, fork_server=False)
create_app(runtime)
loaded = {{m.split(".")[0] for m in sys.modules}} & set({watched!r})
runtime.close()
print(json.dumps(sorted(loaded)))
"""

_FORK_SERVER = """
import json, sys
from app import worker
from app.trading.broker_factory import preload_connector

preload_connector(sys.argv[1])
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({watched!r}))))
"""


def _loaded(code: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": ":".join(sys.path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def _environ(tmp_path: Path, **extra: str) -> str:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n  - {account_id: DU900100, type: paper, strategy_name: s1}\n",
        encoding="utf-8",
    )
    return json.dumps(
        {
            "TRADING_MODE": "paper",
            "ACCOUNTS_FILE": str(accounts),
            "REPLACEMENT_SETS_FILE": str(tmp_path / "none.yaml"),
            "DATA_DIR": str(tmp_path / "data"),
            "ALLOCATIONS_API_URL": "http://127.0.0.1:9/",
            **extra,
        }
    )


def test_daemon_without_notification_urls_loads_no_apprise_web_stack_numpy_or_connector(
    tmp_path: Path,
) -> None:
    code = _DAEMON.format(watched=DAEMON_LAZY)

    assert _loaded(code, _environ(tmp_path)) == []


def test_daemon_with_a_notification_url_loads_apprise_at_start_up_to_check_it(
    tmp_path: Path,
) -> None:
    code = _DAEMON.format(watched=DAEMON_LAZY)

    loaded = _loaded(code, _environ(tmp_path, NOTIFICATION_URLS="json://127.0.0.1:9/"))

    assert loaded == ["apprise", "requests"]


def test_daemon_with_the_http_api_loads_the_web_stack_but_not_numpy_until_a_report(
    tmp_path: Path,
) -> None:
    code = _API.format(watched=("fastapi", "uvicorn", "numpy", "portfolio_analytics", "aiohttp"))

    assert _loaded(code, _environ(tmp_path)) == ["fastapi", "portfolio_analytics", "uvicorn"]


def test_fork_server_imports_hold_none_of_the_daemons_own_libraries() -> None:
    code = _FORK_SERVER.format(watched=(*WORKER_UNUSED, "ib_async"))

    assert _loaded(code, "ibkr") == ["ib_async"]


def test_fork_server_of_either_broker_preloads_aiohttp_for_the_allocations_fetch() -> None:
    # Workers fetch the allocations over aiohttp: imported before the fork, not in each run.
    code = _FORK_SERVER.format(watched=("aiohttp",))

    assert (_loaded(code, "ibkr"), _loaded(code, "alpaca")) == (["aiohttp"], ["aiohttp"])
