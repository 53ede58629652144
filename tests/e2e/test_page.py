"""Browser tests for the web page served at ``GET /``.

They drive the real graph through headless Chromium. The ``graph_url`` fixture
(base URL such as ``http://127.0.0.1:8000``) comes from the e2e conftest. The
models have random weights, so nothing here depends on what the answer says.
"""

from __future__ import annotations

import time
from pathlib import Path

import playwright.sync_api  # noqa: F401  (the browser test must not silently skip)
import pytest

from tests.e2e.browser import chromium_path, launch, make_png

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
RUN_TIMEOUT_S = 120.0  # real models on a slow CPU

# Records the length of #answer every time it changes while the page is streaming.
_WATCH_ANSWER_JS = """
() => {
  window.__answerLens = [];
  const el = document.getElementById('answer');
  new MutationObserver(() => {
    if (document.body.dataset.state === 'streaming')
      window.__answerLens.push(el.textContent.length);
  }).observe(el, {childList: true, characterData: true, subtree: true});
}
"""


@pytest.fixture(scope="module")
def e2e_browser():
    if chromium_path() is None:
        pytest.fail("no Chromium binary (apt-get install chromium, or set SEETHINK_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()


def _new_page(browser, locale: str = "en-US", width: int = 1280, height: int = 900):
    ctx = browser.new_context(locale=locale, viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return ctx, page, errors


def _ask_and_watch(page, question: str) -> tuple[str, list[int]]:
    """Ask ``question`` (image and route already chosen); poll until the page reaches a
    terminal state. Returns that state and every answer length seen while it streamed."""
    page.fill("#question", question)
    page.evaluate(_WATCH_ANSWER_JS)
    # the page sets "streaming" only once it has read the file: until then, a finished earlier
    # run's "done" must not be taken for this one's
    page.evaluate("document.body.dataset.state = 'idle'")
    page.click("#ask")
    polled: list[int] = []
    state = page.evaluate("document.body.dataset.state")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        state, length = page.evaluate(
            "[document.body.dataset.state, document.getElementById('answer').textContent.length]"
        )
        if state == "streaming":
            polled.append(length)
        elif state in ("done", "error"):
            break
        page.wait_for_timeout(50)
    observed = page.evaluate("window.__answerLens") or []
    return state, sorted({n for n in polled + observed if n > 0})


def test_cascade_question_streams_into_the_page(e2e_browser, graph_url, tmp_path):
    ctx, page, js_errors = _new_page(e2e_browser)
    try:
        page.goto(graph_url.rstrip("/") + "/")
        assert page.evaluate("document.body.dataset.state") == "idle"

        png = tmp_path / "square.png"
        png.write_bytes(make_png())
        page.set_input_files("#file-input", str(png))
        page.wait_for_selector("#preview:not([hidden])")
        assert page.get_attribute("#preview", "src")

        page.select_option("#route-select", "cascade")
        question = "Why might the red square be placed above the blue stripe? Think it through."
        state, growth = _ask_and_watch(page, question)
        if state == "done" and len(growth) < 2:
            # The tiny LLM writes its whole answer in about 50 ms. On a loaded machine the
            # tokens can reach the browser in one read, and the page then rightly shows them
            # at once. Ask once more (another question: an identical one would be answered
            # from the answer cache, in one piece); a page that does not stream fails both.
            first = growth
            state, growth = _ask_and_watch(page, question + " Once more, please.")
            print(f"first answer arrived in one piece (lengths {first}); asked again")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)

        error_text = page.inner_text("#error") if page.is_visible("#error") else ""
        assert state == "done", f"page ended in state {state!r}; #error: {error_text!r}"
        assert not error_text, f"#error shown: {error_text!r}"
        assert page.wait_for_selector("body[data-state=done]", timeout=1_000)

        answer = page.evaluate("document.getElementById('answer').textContent")
        assert len(answer) > 0, "answer is empty"
        assert page.inner_text("#route").strip() == "cascade"
        assert page.inner_text("#request-id").strip(), "request id not shown"

        assert len(growth) >= 2, (
            "answer did not grow incrementally (lengths seen while streaming: "
            f"{growth[-20:]}, final={len(answer)})"
        )
        assert not js_errors, f"uncaught page errors: {js_errors}"
    finally:
        ctx.close()


def test_language_toggle_switches_labels(e2e_browser, graph_url):
    ctx, page, js_errors = _new_page(e2e_browser, locale="en-US")
    try:
        page.goto(graph_url.rstrip("/") + "/")
        assert page.inner_text("#ask").strip() == "Ask"
        assert page.get_attribute("html", "lang") == "en"

        page.click("#lang-toggle")
        assert page.inner_text("#ask").strip() == "提问"
        assert page.get_attribute("html", "lang").startswith("zh")
        assert page.get_attribute("#question", "placeholder") != "What is in this picture?"

        page.reload()  # the choice is kept in localStorage
        assert page.inner_text("#ask").strip() == "提问"

        page.click("#lang-toggle")
        assert page.inner_text("#ask").strip() == "Ask"
        assert page.get_attribute("html", "lang") == "en"
        assert not js_errors, f"uncaught page errors: {js_errors}"
    finally:
        ctx.close()

    # With no stored choice, the default follows the browser language.
    ctx, page, _ = _new_page(e2e_browser, locale="zh-CN")
    try:
        page.goto(graph_url.rstrip("/") + "/")
        assert page.inner_text("#ask").strip() == "提问"
    finally:
        ctx.close()
