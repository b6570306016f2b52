"""A real headless Chromium (the distribution's, driven by Playwright) to load a page from the file
system: its console errors, failed requests, images and a screenshot."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# as a root process on a closed network: no sandbox, no background connections (see .ci/run)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class PageLoad:
    """What the browser saw."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)  # src, complete, naturalWidth
    screenshot: np.ndarray | None = None  # (H, W, 3) uint8
    title: str = ""


def browser_available() -> bool:
    """Whether Chromium and Playwright are both here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return CHROMIUM is not None


def require_browser():
    """Playwright's sync API, or a skip saying what is missing."""
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (`apt-get install chromium`; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    return sync_playwright


def load_page(path: Path, width: int = 1280, height: int = 900) -> PageLoad:
    """Open ``path`` as a file:// URL, wait for it to load, and record what happened."""
    from PIL import Image

    sync_playwright = require_browser()
    seen = PageLoad()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.console_errors.append(str(e)))
            page.on("requestfailed", lambda r: seen.failed_requests.append(r.url))
            page.goto(path.resolve().as_uri(), wait_until="load")
            seen.title = page.title()
            seen.images = page.evaluate("""() => Array.from(document.images).map(
                i => ({src: i.getAttribute('src'), complete: i.complete, naturalWidth: i.naturalWidth}))""")
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    seen.screenshot = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))
    return seen


def is_blank(image: np.ndarray) -> bool:
    """Whether a screenshot is one flat colour (or nearly: under 1 % of pixels differ from the mode)."""
    flat = image.reshape(-1, 3)
    _, counts = np.unique(flat, axis=0, return_counts=True)
    return counts.max() > 0.99 * len(flat)
