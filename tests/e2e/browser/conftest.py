"""Browser tests of the web console: Playwright driving Debian's Chromium (scripts/bootstrap.sh
installs it; `playwright install` would download a browser build, which this project never
does), headless, against the suite's gateway, which serves the console at `/`.

Every page a test visits is saved as a screenshot under .local/web-screenshots (gitignored) and
checked with axe-core, injected from the console's own node_modules: no serious or critical
violation is allowed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from opscenter.servicekit.migrations import REPO_ROOT

SCREENSHOTS = REPO_ROOT / ".local" / "web-screenshots"
AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}

pytestmark = pytest.mark.integration


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("Debian's chromium is missing: scripts/bootstrap.sh installs it")
    return found


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox"], headless=True
        )
        yield launched
        await launched.close()


OpenContext = Callable[..., Awaitable[BrowserContext]]


@pytest.fixture
async def open_context(browser: Browser, gateway_url: str) -> AsyncIterator[OpenContext]:
    """Opens a browser context on the gateway at a viewport, signed in with `token` if given
    (the console keeps its token in sessionStorage)."""
    opened: list[BrowserContext] = []

    async def open_(viewport: dict[str, int] = DESKTOP, token: str | None = None) -> BrowserContext:
        context = await browser.new_context(base_url=gateway_url, viewport=viewport)  # type: ignore[arg-type]
        context.set_default_timeout(20_000)
        if token:
            await context.add_init_script(
                f"sessionStorage.setItem('opscenter.token', {json.dumps(token)})"
            )
        opened.append(context)
        return context

    yield open_
    for context in opened:
        await context.close()


async def axe_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


Shoot = Callable[[Page, str], Awaitable[None]]


@pytest.fixture
def shoot() -> Shoot:
    """Saves a full-page screenshot named `name` (with the viewport's width) and fails on any
    serious or critical axe violation or on a page wider than the viewport."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def shoot_(page: Page, name: str) -> None:
        width = page.viewport_size["width"] if page.viewport_size else 0
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        violations = await axe_violations(page)
        assert violations == [], f"{name} at {width}px: {violations}"
        # Usable on a phone: nothing makes the page scroll sideways.
        wider = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 0, f"{name} at {width}px is {wider}px wider than the screen"

    return shoot_
