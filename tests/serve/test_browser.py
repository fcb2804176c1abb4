"""The web page in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium):
upload a real products-small photo, find the same product, click "more like this", save a screenshot."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def browser(width: int, height: int):  # noqa: ANN201 - a selenium WebDriver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail("Debian chromium + chromium-driver are needed (.ci/run installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", f"--window-size={width},{height}",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='vsearch-chromium-')}"):
        opts.add_argument(flag)
    if width < 500:  # below Chrome's smallest window: emulate the phone's viewport instead
        opts.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height,
                                                                           "pixelRatio": 2}})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def shared_photo(products_small: Path, serve_index: Path) -> tuple[str, Path]:
    """A products-small photo (another rendition) of a product that the served index holds."""
    with (serve_index.parent / "catalog" / "labels.csv").open(newline="") as fh:
        indexed = {r["id"] for r in csv.DictReader(fh)}
    for photo in sorted((products_small / "images").glob("*.jpg")):
        if photo.stem in indexed:
            return photo.stem, photo
    pytest.fail("no products-small photo of an indexed product")


@pytest.mark.parametrize(("width", "height", "shot"), [(1280, 900, "screenshot.png"), (390, 844, None)])
def test_photo_upload_then_more_like_this(server: str, serve_index: Path, products_small: Path, tmp_path: Path,
                                          width: int, height: int, shot: str | None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    pid, photo = shared_photo(products_small, serve_index)
    driver = browser(width, height)
    try:
        driver.get(server + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#filters select")))
        driver.find_element(By.ID, "photo").send_keys(str(photo))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results .card")))
        ids = [c.get_attribute("data-id") for c in driver.find_elements(By.CSS_SELECTOR, "#results .card")]
        assert pid in ids[:10], f"{pid} (photo of another rendition) not in the top 10: {ids[:10]}"
        first = ids[0]
        driver.find_element(By.CSS_SELECTOR, "#results .card .like").click()
        wait.until(lambda d: "More like" in d.find_element(By.ID, "query").text)

        def shown(d: object) -> list[str]:
            return [c.get_attribute("data-id") for c in d.find_elements(By.CSS_SELECTOR, "#results .card")]  # type: ignore[attr-defined]

        from selenium.common.exceptions import StaleElementReferenceException

        regrid = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])  # cards being replaced
        regrid.until(lambda d: shown(d) and first not in shown(d))  # the clicked product's neighbours, itself excluded
        assert driver.find_element(By.ID, "status").text == ""
        page_width, view = driver.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
        assert view == width and page_width <= width, f"the page scrolls sideways at {width} px ({page_width} px wide)"
        out = tmp_path / f"page-{width}.png"
        driver.save_screenshot(str(out))
        keep = os.environ.get("VSEARCH_SCREENSHOT_DIR")
        if keep:
            shutil.copyfile(out, Path(keep) / (shot or f"screenshot-{width}.png"))
    finally:
        driver.quit()
