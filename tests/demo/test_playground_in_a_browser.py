"""The playground in a real browser (Debian's headless Chromium, driven by Playwright): what a
newcomer does first, typed and clicked as they would."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless browser: apt-get install chromium (.ci/run does)"
)


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser.new_page(viewport={"width": 1500, "height": 900})
        finally:
            browser.close()


def artifact_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $ARTIFACTS_DIR when CI sets it, else the test's tmp dir."""
    directory = Path(os.environ.get("ARTIFACTS_DIR", tmp_path))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_a_newcomer_shows_an_incident_and_acknowledges_it_from_the_card(
    playground: str, page: Page, tmp_path: Path
) -> None:
    expect.set_options(timeout=15_000)
    page.goto(playground)
    shots = artifact_dir(tmp_path)
    try:
        page.locator("#composer").fill("/incident show 123")
        page.locator("#composer").press("Enter")
        page.locator("#channel [data-action-id='incident_ack']").click()

        expect(page.locator("#channel .message").first).to_contain_text("acknowledged")
        pagerduty_123 = page.locator("[data-incident-number='123'] .status")
        expect(pagerduty_123).to_contain_text("acknowledged")
        expect(page.locator("#requests")).to_contain_text(
            "PUT /incidents/PT4KHLK → 200 From: alice@example.com"
        )
        # The card moved on: no Acknowledge button any more.
        expect(page.locator("#channel [data-action-id='incident_ack']")).to_have_count(0)
    except Exception:
        page.screenshot(path=shots / "playground-failed.png")
        raise
    page.screenshot(path=shots / "playground-acknowledged.png")
