"""The playground in a real browser (Debian's headless Chromium, driven by Selenium): what a
newcomer does first, typed and clicked as they would."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no headless browser: apt-get install chromium chromium-driver (.ci/run does)",
)


@pytest.fixture
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1500,900")
    driver = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options
    )
    try:
        yield driver
    finally:
        driver.quit()


def artifact_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $ARTIFACTS_DIR when CI sets it, else the test's tmp dir."""
    directory = Path(os.environ.get("ARTIFACTS_DIR", tmp_path))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_a_newcomer_shows_an_incident_and_acknowledges_it_from_the_card(
    playground: str, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.wait import WebDriverWait

    assert isinstance(browser, WebDriver)
    wait = WebDriverWait(browser, 15)
    browser.get(playground)

    shots = artifact_dir(tmp_path)
    try:
        composer = wait.until(seen.element_to_be_clickable((By.ID, "composer")))
        composer.send_keys("/incident show 123", Keys.ENTER)
        ack = (By.CSS_SELECTOR, "#channel [data-action-id='incident_ack']")
        wait.until(seen.element_to_be_clickable(ack)).click()

        card = (By.CSS_SELECTOR, "#channel .message")
        wait.until(seen.text_to_be_present_in_element(card, "acknowledged"))
        pagerduty_123 = (By.CSS_SELECTOR, "[data-incident-number='123'] .status")
        wait.until(seen.text_to_be_present_in_element(pagerduty_123, "acknowledged"))
        requests = (By.ID, "requests")
        wait.until(
            seen.text_to_be_present_in_element(
                requests, "PUT /incidents/PT4KHLK → 200 From: alice@example.com"
            )
        )
        # The card moved on: no Acknowledge button any more.
        assert not browser.find_elements(
            By.CSS_SELECTOR, "#channel [data-action-id='incident_ack']"
        )
    except Exception:
        browser.save_screenshot(str(shots / "playground-failed.png"))
        raise
    browser.save_screenshot(str(shots / "playground-acknowledged.png"))
