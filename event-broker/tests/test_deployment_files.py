"""Static checks of the deployment files: .dockerignore, both Dockerfiles, compose, .env.example.

tools/container-test.sh builds and runs the images for real; these checks catch the mistakes that
build fine and fail later (a package left out of the context, a published API port, a secret in
the image, a variable the daemon no longer reads) in the ordinary test run, without podman.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from app.config.settings import Settings, load_settings
from broker_connector_base import InvalidInputError

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = (
    REPO / "event-broker" / "Dockerfile",
    REPO / "packages" / "ib-gateway-sim" / "Dockerfile",
    REPO / "packages" / "alpaca-api-sim" / "Dockerfile",
)
LOCAL_PACKAGES_IN_ORDER = (
    "broker-connector-base",
    "portfolio-analytics",
    "rebalance-calculator",
    "rebalance-engine",
    "rebalance-backtest",
    "ibkr-connector",
    "alpaca-connector",
)


# --- a .dockerignore matcher with Docker's (and buildah's) semantics ----------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's rules: anchored at the context root, ``*``/``?`` stay within one path segment,
    ``**`` spans any number of segments (``**/x`` matches ``x`` at the top too)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


class DockerIgnore:
    """Which context paths a .dockerignore leaves out (last matching pattern wins)."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            pattern = line[1:].strip() if keep else line
            pattern = pattern.strip("/")
            self.rules.append((keep, _pattern_regex(pattern)))

    def excludes(self, path: str) -> bool:
        """True when ``path`` (relative, ``/``-separated) is left out of the build context."""
        parts = path.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for keep, regex in self.rules:
            # A pattern that matches a parent directory matches everything below it.
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not keep
        return excluded


@pytest.fixture(scope="module")
def dockerignore() -> DockerIgnore:
    return DockerIgnore((REPO / ".dockerignore").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("rules", "path", "excluded"),
    [
        ("*.md", "README.md", True),
        ("*.md", "packages/x/README.md", False),
        ("**/*.md", "packages/x/README.md", True),
        ("**/*.md", "README.md", True),
        ("**/*.md\n!packages/*/README.md", "packages/x/README.md", False),
        ("**/__pycache__/", "packages/x/src/y/__pycache__/m.pyc", True),
        ("__pycache__/", "packages/x/src/y/__pycache__/m.pyc", False),
        ("data/", "data/journal.sqlite", True),
        ("data/", "event-broker/app/data.py", False),
        ("packages/*/tests/", "packages/x/tests/test_a.py", True),
        ("packages/*/tests/", "packages/x/src/x/tests.py", False),
    ],
)
def test_dockerignore_matcher_when_given_docker_cases_then_agrees_with_docker(
    rules: str, path: str, excluded: bool
) -> None:
    assert DockerIgnore(rules).excludes(path) is excluded


def _files_under(directory: Path) -> Iterator[str]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
            yield path.relative_to(REPO).as_posix()


def test_dockerignore_when_read_then_no_rule_names_packages_dir_itself() -> None:
    # Seed task 1.0: "packages/" must never be excluded, however the patterns are written.
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")]
    assert not [r for r in rules if r in {"packages", "packages/*", "packages/**", "**/packages"}]


def test_dockerignore_when_applied_then_every_package_source_and_metadata_file_is_kept(
    dockerignore: DockerIgnore,
) -> None:
    needed: list[str] = ["constraints.txt", "event-broker/requirements.txt"]
    for package in sorted((REPO / "packages").iterdir()):
        if not (package / "pyproject.toml").is_file():
            continue
        rel = package.relative_to(REPO).as_posix()
        # hatchling reads `readme = "README.md"` while building the wheel.
        needed += [f"{rel}/pyproject.toml", f"{rel}/README.md"]
        needed += list(_files_under(package / "src"))
    needed += list(_files_under(REPO / "event-broker" / "app"))
    assert len(needed) > 20
    assert [path for path in needed if dockerignore.excludes(path)] == []


def _copy_sources(dockerfile: Path) -> list[str]:
    sources: list[str] = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words and words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerignore_when_applied_then_every_dockerfile_copy_source_exists_and_is_kept(
    dockerignore: DockerIgnore, dockerfile: Path
) -> None:
    sources = _copy_sources(dockerfile)
    assert sources
    for source in sources:
        path = REPO / source
        assert path.exists(), f"{dockerfile.name}: COPY {source} does not exist"
        # A package's tests/ is left out on purpose (not installed); everything else is needed.
        files = (
            [f for f in _files_under(path) if not f.startswith(f"{source}/tests/")]
            if path.is_dir()
            else [source]
        )
        assert files
        assert [f for f in files if dockerignore.excludes(f)] == [], source


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        ".git/HEAD",
        ".venv/bin/python",
        "event-broker/app/__pycache__/main.cpython-312.pyc",
        "packages/ibkr-connector/src/ibkr_connector/__pycache__/client.cpython-311.pyc",
        ".mypy_cache/3.11/app.json",
        "data/journal.sqlite3",
        ".container-test/orders.json",
        "README.md",
        "event-broker/NOTES.md",
        "packages/ibkr-connector/tests/test_client.py",
        "accounts.yaml",
    ],
)
def test_dockerignore_when_applied_then_secrets_state_caches_and_docs_are_left_out(
    dockerignore: DockerIgnore, path: str
) -> None:
    assert dockerignore.excludes(path)


def test_dockerignore_when_applied_then_claude_md_stays(dockerignore: DockerIgnore) -> None:
    assert not dockerignore.excludes("CLAUDE.md")


# --- Dockerfiles --------------------------------------------------------------------------------


def _instructions(dockerfile: Path) -> list[str]:
    """Instructions with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        joined.append(" ".join((current + line).split()))
        current = ""
    return joined


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_when_read_then_base_image_is_a_build_arg_defaulting_to_python_slim(
    dockerfile: Path,
) -> None:
    lines = _instructions(dockerfile)
    assert lines[0] == "ARG BASE_IMAGE=python:3.12-slim"
    assert lines[1] == "FROM ${BASE_IMAGE}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_when_read_then_pins_runs_unprivileged_and_healthchecks_in_exec_form(
    dockerfile: Path,
) -> None:
    lines = _instructions(dockerfile)
    text = "\n".join(lines)
    assert "PIP_CONSTRAINT=/tmp/build/constraints.txt" in text
    assert "COPY constraints.txt /tmp/build/constraints.txt" in lines
    assert "pip check" in text
    assert "TZ=America/New_York" in text
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "no USER: the container would run as root"
    assert users[-1] not in {"root", "0", "0:0"}
    healthchecks = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert len(healthchecks) == 1
    # JSON (exec) form: no shell, and no curl (the slim image has none).
    assert re.search(r' CMD \["python", ', healthchecks[0])
    assert "curl" not in healthchecks[0]
    assert re.match(r'CMD \["python", ', lines[-1])


def test_event_broker_dockerfile_when_read_then_packages_install_in_order_before_app() -> None:
    lines = _instructions(DOCKERFILES[0])

    def index(prefix: str) -> int:
        return next(i for i, line in enumerate(lines) if line.startswith(prefix))

    positions = []
    for package in LOCAL_PACKAGES_IN_ORDER:
        copied = index(f"COPY packages/{package} ")
        installed = index(f"RUN pip install /tmp/build/{package}")
        assert copied < installed
        positions.append(installed)
    assert positions == sorted(positions)
    requirements = index("RUN pip install -r /tmp/build/requirements.txt")
    app_code = index("COPY event-broker/app ")
    # App code last, so editing it reuses every dependency layer.
    assert positions[-1] < requirements < app_code
    assert lines[index("HEALTHCHECK ")].endswith('CMD ["python", "-m", "app.main", "--check"]')
    assert lines[-1] == 'CMD ["python", "-m", "app.main"]'
    verify = next(line for line in lines if "pip list --format=freeze" in line)
    assert all(package in verify for package in LOCAL_PACKAGES_IN_ORDER)


def test_event_broker_image_when_built_then_has_what_snapshots_and_reports_import() -> None:
    # The schedule's calendar, the report's tables and its plot: listed for pip, and imported
    # by the build's own check so an image without them fails to build, not at 16:10.
    requirements = (REPO / "event-broker" / "requirements.txt").read_text(encoding="utf-8")
    names = {
        re.split(r"[<>=!~ ]", line.strip())[0].lower()
        for line in requirements.splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"holidays", "rich", "matplotlib"} <= names
    verify = " ".join(_instructions(DOCKERFILES[0]))
    assert "import holidays, matplotlib, rich" in verify
    assert "portfolio_analytics" in verify


# --- docker-compose.yaml ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_when_read_then_real_services_run_by_default_and_sim_ones_only_in_sim_profile(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {
        "ib-gateway",
        "event-broker",
        "ib-gateway-sim",
        "alpaca-api-sim",
        "event-broker-sim",
    }
    assert "profiles" not in services["ib-gateway"]
    assert "profiles" not in services["event-broker"]
    for name in ("ib-gateway-sim", "alpaca-api-sim", "event-broker-sim"):
        assert services[name]["profiles"] == ["sim"]


def test_compose_when_read_then_gateway_image_is_pinned_and_api_port_is_not_published(
    compose: dict[str, Any],
) -> None:
    gateway = compose["services"]["ib-gateway"]
    # A default tag that names one gateway version, never "latest" or "stable".
    image = gateway["image"]
    assert re.fullmatch(r"ghcr\.io/gnzsnz/ib-gateway:\$\{IB_GATEWAY_TAG:-\d+\.\d+\.\w+\}", image)
    assert gateway["environment"]["TWS_PASSWORD"] == "${TWS_PASSWORD:-}"
    assert gateway["environment"]["TRADING_MODE"] == "${TRADING_MODE:-paper}"
    assert gateway["healthcheck"]["test"][0] == "CMD"
    for service in compose["services"].values():
        for published in service.get("ports", []):
            # host_ip:host_port:container_port, and only on the host's loopback.
            assert str(published).startswith("127.0.0.1:"), published
            assert str(published).rsplit(":", 1)[1] not in {"4001", "4002", "4003", "4004"}


def test_compose_when_read_then_event_broker_waits_for_gateway_and_mounts_config_read_only(
    compose: dict[str, Any],
) -> None:
    broker = compose["services"]["event-broker"]
    assert broker["depends_on"] == {"ib-gateway": {"condition": "service_healthy"}}
    assert broker["restart"] == "unless-stopped"
    assert broker["env_file"] == ".env"
    assert set(broker["volumes"]) == {
        "./accounts.yaml:/app/accounts.yaml:ro",
        "./replacement-sets.yaml:/app/replacement-sets.yaml:ro",
        "./data:/app/data",
    }
    environment = broker["environment"]
    assert environment["IB_GATEWAY_HOST"] == "ib-gateway"
    assert environment["DATA_DIR"] == "/app/data"
    # The gateway's login comes from the same .env; the daemon's container must not carry it.
    assert environment["TWS_PASSWORD"] == ""
    assert broker["logging"]["options"]["max-size"]
    assert broker["build"]["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.12-slim}"


def test_compose_when_read_then_stop_grace_period_outlasts_the_daemons_shutdown_grace(
    compose: dict[str, Any],
) -> None:
    grace = compose["services"]["event-broker"]["stop_grace_period"]
    match = re.fullmatch(r"(\d+)s", grace)
    assert match
    assert int(match.group(1)) > Settings.model_fields["shutdown_grace_secs"].default


def test_compose_when_read_then_sim_stack_uses_simulator_and_no_env_file(
    compose: dict[str, Any],
) -> None:
    sim = compose["services"]["ib-gateway-sim"]
    broker = compose["services"]["event-broker-sim"]
    assert sim["build"]["dockerfile"] == "packages/ib-gateway-sim/Dockerfile"
    assert sim["command"][:3] == ["python", "-m", "ib_gateway_sim"]
    assert broker["depends_on"] == {
        "ib-gateway-sim": {"condition": "service_healthy"},
        "alpaca-api-sim": {"condition": "service_healthy"},
    }
    assert "env_file" not in broker
    assert broker["environment"]["IB_GATEWAY_HOST"] == "ib-gateway-sim"
    assert broker["environment"]["TRADING_MODE"] == "paper"
    assert broker["environment"]["ALLOCATIONS_API_URL"] == "file:///app/demo/allocations"
    for mount in ("./demo:/app/demo:ro", "sim-data:/app/data"):
        assert mount in broker["volumes"]


def test_compose_when_read_then_sim_stack_trades_the_alpaca_stand_in_with_its_demo_keys(
    compose: dict[str, Any],
) -> None:
    alpaca = compose["services"]["alpaca-api-sim"]
    environment = compose["services"]["event-broker-sim"]["environment"]
    assert alpaca["build"]["dockerfile"] == "packages/alpaca-api-sim/Dockerfile"
    command = alpaca["command"]
    assert command[:3] == ["python", "-m", "alpaca_api_sim"]
    assert command[command.index("--scenario") + 1] == "/app/demo/alpaca-scenario.yaml"
    assert "./demo:/app/demo:ro" in alpaca["volumes"]
    assert "ports" not in alpaca
    port = command[command.index("--port") + 1]
    assert environment["ALPACA_BASE_URL"] == f"http://alpaca-api-sim:{port}"
    # The stand-in's own pair for the demo account that accounts.yaml trades at Alpaca.
    scenario = yaml.safe_load((REPO / "demo" / "alpaca-scenario.yaml").read_text("utf-8"))
    accounts = yaml.safe_load((REPO / "accounts.yaml").read_text("utf-8"))["accounts"]
    (number,) = [a["account_id"] for a in accounts if a.get("broker") == "alpaca"]
    demo = scenario["accounts"][number]
    assert (environment["ALPACA_API_KEY_ID"], environment["ALPACA_API_SECRET_KEY"]) == (
        demo["key_id"],
        demo["secret_key"],
    )


# --- .env.example -------------------------------------------------------------------------------

_ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def _env_example() -> dict[str, tuple[bool, str]]:
    """Variable -> (set, value) for every ``NAME=value`` line, commented out or not."""
    found: dict[str, tuple[bool, str]] = {}
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        match = _ENV_LINE.match(line)
        if match:
            found[match.group(1)] = (not line.startswith("#"), match.group(2))
    return found


def test_env_example_when_read_then_documents_every_daemon_setting() -> None:
    documented = set(_env_example())
    settings = {name.upper() for name in Settings.model_fields}
    assert sorted(settings - documented) == []


def test_env_example_when_read_then_documents_every_variable_compose_reads() -> None:
    text = (REPO / "docker-compose.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))
    assert used
    assert sorted(used - set(_env_example())) == []


def test_env_example_when_loaded_by_the_daemon_then_settings_are_valid() -> None:
    settings = load_settings(env_file=REPO / ".env.example", environ={})
    assert settings.trading_mode == "paper"
    assert settings.realtime_api_key is None


def test_env_example_when_read_then_holds_no_secret_values() -> None:
    entries = _env_example()
    for name in (
        "TWS_PASSWORD",
        "REALTIME_API_KEY",
        "ALLOCATIONS_API_KEY",
        "VNC_SERVER_PASSWORD",
        "ALPACA_API_KEY_ID",
        "ALPACA_API_SECRET_KEY",
    ):
        assert entries[name][1] == "", f"{name} has a value in .env.example"
    # Optional settings stay commented out: an empty value would be a value, not "unset".
    set_names = {name for name, (is_set, _) in entries.items() if is_set}
    assert set_names == {"TWS_USERID", "TWS_PASSWORD", "TRADING_MODE", "ALLOCATIONS_API_URL"}


def test_env_example_when_read_then_commented_defaults_equal_the_daemons_defaults() -> None:
    required = {"ALLOCATIONS_API_URL": "file:///srv/allocations"}
    fields = {name.upper() for name in Settings.model_fields}
    shown = {
        name: value
        for name, (is_set, value) in _env_example().items()
        if not is_set and value and name in fields
    }
    assert len(shown) >= 10
    documented = load_settings(env_file=None, environ={**required, **shown})
    assert documented == load_settings(env_file=None, environ=required)


def test_compose_when_read_then_api_is_published_on_loopback_and_needs_a_key(
    compose: dict[str, Any],
) -> None:
    broker = compose["services"]["event-broker"]
    assert broker["ports"] == ["127.0.0.1:${API_PORT:-8000}:8000"]
    environment = broker["environment"]
    assert (environment["API_HOST"], environment["API_PORT"]) == ("0.0.0.0", "8000")
    # In the container the API listens on every address, so the daemon insists on a key.
    with pytest.raises(InvalidInputError, match="API_KEY: is not set"):
        load_settings(
            env_file=None,
            environ={
                "ALLOCATIONS_API_URL": "file:///app/data",
                "API_HOST": environment["API_HOST"],
            },
        )
    sim = compose["services"]["event-broker-sim"]
    assert "ports" not in sim
    assert "API_HOST" not in sim["environment"]  # its own loopback: unreachable from outside
