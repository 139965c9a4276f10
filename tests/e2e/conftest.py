"""End-to-end fixtures: the real ASGI application served by uvicorn on a free port (in a thread of
the test process, so it uses the test database), and Debian's Chromium driven by Playwright.

Skipped, with the reason, when /usr/bin/chromium or Playwright is missing. A failing test leaves a
screenshot of each of its pages in artifacts/e2e/."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import live_asgi_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed: pip install -r requirements-dev.txt"
    for item in items:
        if "e2e" in item.keywords and reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def _orm_next_to_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API keeps an event loop registered in this thread between calls, which Django
    # would take for an async context; the ORM calls of the test itself are plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def live_url(_orm_next_to_playwright: None, transactional_db: None) -> Iterator[str]:
    """The base URL of the whole ASGI app (HTTP, WebSockets, static files) on a free port."""
    with live_asgi_server() as url:
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(request: pytest.FixtureRequest, chromium: Any, live_url: str) -> Iterator[Callable[[str], Any]]:
    """new_page(name, width=..., height=...) -> a Playwright page in its own browser context (its own
    IndexedDB and cookies); below 600 px wide it is a touch phone."""
    contexts: list[Any] = []
    pages: dict[str, Any] = {}

    def make(name: str, *, width: int = 1000, height: int = 820) -> Any:
        mobile = {"is_mobile": True, "has_touch": True} if width < 600 else {}
        context = chromium.new_context(base_url=live_url, viewport={"width": width, "height": height}, **mobile)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        pages[name] = page
        return page

    try:
        yield make
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            for name, page in pages.items():
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{slug}-{name}.png"), full_page=True)
                except Exception:  # a crashed page cannot be photographed; the report says why
                    pass
        for context in contexts:
            context.close()


@pytest.fixture
def citizen_with_card(live_url):  # type: ignore[no-untyped-def]
    """A citizen with the test card 4111 1111 1111 1111 and an activation code for the phone page."""
    from citizens.services import activation_code_issue
    from tests.factories import CitizenFactory
    from threeds.services import card_register

    citizen = CitizenFactory(name="Jens Hansen")
    card_register(citizen=citizen, pan="4111111111111111", actor="e2e")
    code, _ = activation_code_issue(citizen=citizen, actor="e2e")
    return citizen, code
