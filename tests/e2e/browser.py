"""Headless Chromium helper for the browser tests.

Uses the system Chromium (Debian package ``chromium``); nothing is downloaded
(``playwright install`` is never needed). Override the binary with the
``SEETHINK_CHROMIUM`` environment variable.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Iterator

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    """Path of a usable Chromium binary, or None when there is none."""
    env = os.environ.get("SEETHINK_CHROMIUM")
    if env:
        return env if os.path.exists(env) else None
    for cand in _CANDIDATES:
        if os.path.exists(cand):
            return cand
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found


def launch(playwright, headless: bool = True):
    """Launch the system Chromium with the flags the tests rely on."""
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no Chromium found (apt-get install chromium, or set SEETHINK_CHROMIUM)")
    return playwright.chromium.launch(executable_path=exe, headless=headless, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium(headless: bool = True) -> Iterator[object]:
    """``with chromium() as browser:`` -- starts Playwright and the browser, closes both."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p, headless=headless)
        try:
            yield browser
        finally:
            browser.close()


def make_png(width: int = 96, height: int = 72) -> bytes:
    """A small deterministic test image (red square, blue stripe on white)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=(220, 30, 30))
    draw.rectangle([0, height - 10, width, height - 4], fill=(30, 60, 220))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
