"""The dashboard as a person uses it: headless Chromium (Debian's, driven by selenium) against
the real API server, the daemon's runtime and the IB Gateway simulator.

Selenium is blocking, so each browser session runs in a thread while the test's event loop
serves the API and the simulator. Screenshots go to ``.artifacts/browser/`` (git-ignored).
Without Debian's ``chromium`` and ``chromium-driver`` (``make browser-deps`` installs them as
root) the tests are skipped, saying what is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(240)

Api = Any  # conftest.Api
REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / ".artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECS = 60


def _missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        return (
            "browser tests need Debian's chromium and chromium-driver: missing "
            f"{', '.join(missing)} (run `make browser-deps` as root with apt reachable)"
        )
    return None


@pytest.fixture
def chrome(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """``chrome(width, height)``: a headless Chromium (all quit at the end)."""
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not try to download
    drivers: list[Any] = []

    def start(width: int = 1280, height: int = 1000) -> Any:
        options = webdriver.ChromeOptions()
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            f"--window-size={width},{height}",
        ):
            options.add_argument(arg)
        options.binary_location = str(CHROMIUM)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def _shot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


class Page:
    """The dashboard in one browser, with the waits a person does by looking."""

    def __init__(self, driver: Any, url: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.url = url
        self.wait = WebDriverWait(driver, WAIT_SECS)

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def until_visible(self, css: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def until_text(self, css: str, text: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        self.wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

    def sign_in(self, key: str) -> None:
        self.driver.get(self.url + "/")
        field = self.until_visible("#api-key")
        field.send_keys(key)
        self.find("#login-form button").click()

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


def _key(api: Api) -> str:
    return str(api.client.headers["X-API-Key"])


def _snapshots(book: Any, account: str, prices: list[tuple[str, str]]) -> None:
    """Daily snapshots of 100 SPY and 50 000 in cash at each day's SPY price, written as the
    daemon's snapshot runs write them."""
    for day, price in prices:
        book.take(
            account,
            datetime.fromisoformat(f"{day}T21:10:00+00:00"),
            total=str(50000 + 100 * Decimal(price)),
            cash="50000",
            positions={"SPY": ("100", price)},
            targets={"SPY": "0.5"},
            spy=price,
        )


async def test_sign_in_preview_execute_and_see_the_orders_filled(
    api: Api, book: Any, chrome: Any
) -> None:
    _snapshots(
        book,
        "DUM959247",
        [
            ("2026-11-02", "500"),
            ("2026-11-03", "512.50"),
            ("2026-11-04", "488"),
            ("2026-11-05", "495"),
            ("2026-11-06", "520"),
        ],
    )

    def person() -> dict[str, Any]:
        page = Page(chrome(), api.url)
        seen: dict[str, Any] = {}
        # A wrong key first: refused, still on the sign-in form.
        page.sign_in("not-the-right-key-at-all")
        page.until_text("#login-error", "not accepted")
        page.find("#api-key").send_keys(_key(api))
        page.find("#login-form button").click()
        page.until_visible('#accounts-table tr[data-account="DUM959247"]')
        page.until_text("#connection", "reachable")
        seen["overview"] = _shot(page.driver, "1-overview")
        seen["accounts"] = [
            r.get_attribute("data-account") for r in page.all("#accounts-table tbody tr")
        ]
        page.find('#accounts-table tr[data-account="DUM959247"]').click()
        page.until_text("#preview-info", "From the portfolio snapshot of")
        page.until_visible("#equity-chart .uplot canvas")
        seen["charts"] = len(page.all("#equity-chart .uplot"))
        seen["metrics"] = {dt.text: dt.get_attribute("title") for dt in page.all("#metrics dt")}
        page.find("#metric-definitions summary").click()
        seen["definitions"] = page.find("#metric-definitions").text
        seen["performance"] = _shot(page.driver, "2-account-performance")
        page.find("#preview-btn").click()
        page.until_text("#action-status", "Preview succeeded")
        page.until_visible('#holdings-table tr[data-symbol="QQQ"]')
        seen["holdings"] = {
            r.get_attribute("data-symbol"): r.text for r in page.all("#holdings-table tbody tr")
        }
        seen["preview"] = _shot(page.driver, "3-account-preview")
        # Execute: the plan first, then a confirmation, then live progress.
        page.find("#execute-btn").click()
        page.until_visible("#confirm-dialog")
        seen["plan"] = [r.text for r in page.all("#plan-table tbody tr")]
        seen["dialog"] = _shot(page.driver, "4-confirm-plan")
        page.find("#confirm-execute").click()
        page.until_text("#progress-log", "run finished: succeeded")
        page.until_visible("#orders-table tr[data-order]")
        seen["progress"] = [li.text for li in page.all("#progress-log li")]
        seen["orders"] = {
            r.get_attribute("data-order"): r.text for r in page.all("#orders-table tbody tr")
        }
        seen["executed"] = _shot(page.driver, "5-executed")
        # The wrong key's 401 is the only error the console may show.
        seen["errors"] = [e for e in page.console_errors() if "status of 401" not in e]
        return seen

    seen = await asyncio.to_thread(person)

    assert seen["accounts"] == ["DUM959247", "DU789012", "DU345678", "PA3DEMO00001", "U1234567"]
    assert seen["charts"] == 2  # the value and, under it, the drawdown
    assert "deposits and withdrawals left out" in seen["metrics"]["Time-weighted return"]
    assert "worst 5%" in seen["metrics"]["CVaR 95%"]
    assert "Sharpe ratio: Mean daily return above the risk-free rate" in seen["definitions"]
    assert "BUY" in seen["holdings"]["QQQ"]
    placed = api.sim_orders("DUM959247")
    assert placed, "the execute placed no order at the simulator"
    assert len(seen["plan"]) == len({o.symbol for o in placed})
    assert set(seen["orders"]) == {str(o.order_id) for o in placed}
    assert all("FILLED" in text for text in seen["orders"].values())
    assert seen["progress"][0].startswith("run ")
    assert "started (rebalance, by api)" in seen["progress"][0]
    assert sum("FILLED" in line for line in seen["progress"]) >= len(placed)
    assert seen["errors"] == []
    for name in ("overview", "performance", "preview", "dialog", "executed"):
        assert seen[name].stat().st_size > 10_000


async def test_cancelled_execute_places_nothing(api: Api, chrome: Any) -> None:
    def person() -> str:
        page = Page(chrome(), api.url)
        page.sign_in(_key(api))
        page.until_visible('#accounts-table tr[data-account="DUM959247"]')
        page.driver.get(api.url + "/#/account/DUM959247")
        page.until_text("#preview-info", "No preview or snapshot yet")
        page.find("#execute-btn").click()
        page.until_visible("#confirm-dialog")
        page.find("#confirm-cancel").click()
        page.until_text("#action-status", "Execution cancelled")
        return str(page.find("#action-status").text)

    status = await asyncio.to_thread(person)

    assert status == "Execution cancelled."
    assert api.sim_orders("DUM959247") == []


async def test_snapshot_now_shows_the_snapshot_holdings_and_places_nothing(
    api: Api, chrome: Any
) -> None:
    def person() -> dict[str, str]:
        page = Page(chrome(), api.url)
        page.sign_in(_key(api))
        page.until_visible('#accounts-table tr[data-account="DUM959247"]')
        page.driver.get(api.url + "/#/account/DUM959247")
        page.until_text("#preview-info", "No preview or snapshot yet")
        page.find("#snapshot-btn").click()
        page.until_text("#action-status", "Snapshot succeeded")
        page.until_text("#preview-info", "From the portfolio snapshot of")
        page.until_visible('#holdings-table tr[data-symbol="QQQ"]')
        page.until_text("#runs-table", "snapshot")
        return {
            "info": page.find("#preview-info").text,
            "empty": page.find("#performance-empty").text,
            "qqq": page.find('#holdings-table tr[data-symbol="QQQ"]').text,
        }

    seen = await asyncio.to_thread(person)

    assert "against the targets stored with it" in seen["info"]
    assert "One trading day" in seen["empty"] or "No portfolio snapshot" in seen["empty"]
    assert seen["qqq"].startswith("QQQ 0.00%")  # targeted, not held yet
    assert api.sim_orders("DUM959247") == []


async def test_dashboard_fits_a_phone_screen_and_docs_work_offline(api: Api, chrome: Any) -> None:
    def person() -> dict[str, Any]:
        page = Page(chrome(390, 844), api.url)
        page.sign_in(_key(api))
        page.until_visible('#accounts-table tr[data-account="DUM959247"]')
        widths = page.driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        shot = _shot(page.driver, "5-phone-overview")
        # Same tab: the key is in this tab's sessionStorage, so the docs can fetch the spec.
        page.driver.get(api.url + "/docs")
        page.until_visible("#swagger-ui .opblock")
        operations = len(page.all("#swagger-ui .opblock"))
        docs = _shot(page.driver, "6-phone-docs")
        scripts = page.driver.execute_script("return Array.from(document.scripts).map(s => s.src)")
        return {
            "widths": widths,
            "shot": shot,
            "docs": docs,
            "operations": operations,
            "scripts": scripts,
            "errors": page.console_errors(),
        }

    seen = await asyncio.to_thread(person)

    scroll_width, inner_width = seen["widths"]
    assert scroll_width <= inner_width  # wide tables scroll inside their box, not the page
    assert seen["operations"] >= 10
    assert all(src.startswith(api.url + "/static/") for src in seen["scripts"])
    assert seen["errors"] == []


def test_screenshots_directory_is_git_ignored() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()

    assert ".artifacts/" in ignored
