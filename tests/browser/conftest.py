"""Headless Chromium (Debian's chromium + chromium-driver) against a sandbox served from a thread.

Selenium calls block, so the sandbox and the merchant's pages run on their own
event loop in a background thread (:class:`LoopThread`); every read or change of
the sandbox's state goes through that loop. One browser serves the whole run.
Screenshots land in ``tmp/browser/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from kasha_async._models import Transaction
from kasha_async.sandbox import Sandbox
from kasha_async.sandbox.state import Kind

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = "chromium chromium-driver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "browser"
#: Chromium flags for a root, offline, throw-away browser.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=820,1000",
)
#: Seconds a page may take to arrive (a wait's upper bound, never a measured threshold).
PAGE_WAIT = 10.0
_references = itertools.count(1)


class LoopThread:
    """An event loop running in a daemon thread; ``run`` a coroutine on it, ``call`` a function."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sandbox-loop")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def call(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` on the loop (the sandbox's state is only touched there)."""

        async def call() -> T:
            return fn()

        return self.run(call())

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    """One background event loop for the whole browser run."""
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the run, driven through Debian's chromedriver (no download)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            f"the browser tests need {CHROMIUM} and {CHROMEDRIVER}: install the Debian packages "
            f"{PACKAGES} (`make browser` does it as root, or `apt-get install -y {PACKAGES}`)"
        )
    profile = tempfile.mkdtemp(prefix="kasha-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Merchant:
    """The merchant's side on 127.0.0.1:0: the return page (``/return``) and a webhook sink."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.url = ""

    @staticmethod
    async def _return(request: web.Request) -> web.Response:
        rows = "".join(f"<li>{k}: <b id='{k}'>{v}</b></li>" for k, v in request.query.items())
        text = f"<html><body><h1 id='merchant'>Back at the shop</h1><ul>{rows}</ul></body></html>"
        return web.Response(text=text, content_type="text/html")

    @staticmethod
    async def _webhook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    async def start(self) -> None:
        """Serve on 127.0.0.1:0."""
        app = web.Application()
        app.router.add_get("/return", self._return)
        app.router.add_post("/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()


@attrs.define
class Cashier:
    """A sandbox and a merchant on the background loop, and the browser that visits them."""

    loop: LoopThread
    sandbox: Sandbox
    merchant: Merchant
    browser: WebDriver

    def session_body(self, **fields: Any) -> dict[str, Any]:
        """A session request that returns to ``/return`` and notifies ``/webhook``."""
        body = {
            "country": "BR",
            "currency": "BRL",
            "amount": "130.00",
            "redirectUrl": f"{self.merchant.url}/return",
            "notificationUrl": f"{self.merchant.url}/webhook",
            "merchantReference": f"order-{next(_references)}",
            "customer": {"name": "Ana Souza"},
        }
        return {**body, **fields}

    def open_session(self, kind: Kind = "payment", **fields: Any) -> tuple[str, str]:
        """Open a hosted-cashier session as the API would; (transaction id, cashier URL)."""
        state, origin, body = self.sandbox.state, self.sandbox.base_url, self.session_body(**fields)
        answer = self.loop.call(lambda: state.initiate(kind, body, cashier_origin=origin))
        assert isinstance(answer, dict)
        return answer["transactionId"], answer["cashierUrl"]

    def transaction(self, tx_id: str) -> Transaction:
        """The ledger's record of ``tx_id``."""
        return self.loop.call(self.sandbox.ledger).transactions[tx_id]

    def wait_status(self, tx_id: str, status: str) -> Transaction:
        """Wait (bounded) until the ledger shows ``tx_id`` in ``status``."""
        WebDriverWait(self.browser, PAGE_WAIT, poll_frequency=0.05).until(
            lambda _: self.transaction(tx_id).status.value == status
        )
        return self.transaction(tx_id)

    def webhook_statuses(self, tx_id: str) -> list[str]:
        """The statuses delivered (2xx) to the merchant's webhook for ``tx_id``."""
        self.loop.run(self.sandbox.wait_webhooks())
        deliveries = self.loop.call(lambda: self.sandbox.webhook_deliveries)
        return [d.status for d in deliveries if d.transaction_id == tx_id and d.ok]

    def fill(self, values: dict[str, str]) -> None:
        """Type ``values`` into the inputs named like the formInputs."""
        for name, value in values.items():
            element = self.browser.find_element(By.NAME, name)
            element.clear()
            element.send_keys(value)

    def submit(self) -> None:
        """Press the form's one submit button and wait for the next page."""
        old = self.browser.find_element(By.TAG_NAME, "html")
        self.browser.find_element(By.ID, "submit").click()
        WebDriverWait(self.browser, PAGE_WAIT).until(lambda _: _stale(old))

    def click(self, element_id: str) -> None:
        """Click the element with ``element_id`` and wait for the next page."""
        old = self.browser.find_element(By.TAG_NAME, "html")
        self.browser.find_element(By.ID, element_id).click()
        WebDriverWait(self.browser, PAGE_WAIT).until(lambda _: _stale(old))

    def wait_for_merchant(self) -> dict[str, str]:
        """Wait until the browser is back at the merchant; the query it came back with."""
        WebDriverWait(self.browser, PAGE_WAIT, poll_frequency=0.05).until(
            lambda b: b.current_url.startswith(f"{self.merchant.url}/return")
        )
        query = parse_qs(urlsplit(self.browser.current_url).query)
        return {key: values[-1] for key, values in query.items()}

    def shot(self, name: str) -> None:
        """Keep a screenshot of the current page as a test artifact."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def text(self, element_id: str) -> str:
        """The visible text of the element with ``element_id``."""
        return self.browser.find_element(By.ID, element_id).text

    def has(self, css: str) -> bool:
        """Whether the current page holds an element matching ``css``."""
        return bool(self.browser.find_elements(By.CSS_SELECTOR, css))


def _stale(element: Any) -> bool:
    try:
        element.is_enabled()
    except Exception:  # StaleElementReferenceException: the page was replaced
        return True
    return False


@pytest.fixture
def cashier(loop_thread: LoopThread, browser: WebDriver) -> Iterator[Cashier]:
    """A fresh sandbox (payment_delay=0: a held 3DS proves it waits) and merchant per test."""
    sandbox, merchant = Sandbox(payment_delay=0.0), Merchant()
    loop_thread.run(sandbox.start())
    loop_thread.run(merchant.start())
    try:
        yield Cashier(loop=loop_thread, sandbox=sandbox, merchant=merchant, browser=browser)
        assert not sandbox.state.internal_errors
    finally:
        with contextlib.suppress(Exception):
            loop_thread.run(sandbox.wait_webhooks())
        loop_thread.run(sandbox.stop())
        loop_thread.run(merchant.stop())
        browser.get("about:blank")
