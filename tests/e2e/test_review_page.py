"""The reviewer page (/review/ui) in headless Chromium against the real graph: it asks for a
reviewer key, lists the flagged case with its thumbnail, question and answer, and resolves it;
the resolution is recorded with the reviewer's identity."""

from __future__ import annotations

import pytest

from tests.e2e.browser import chromium_path, launch
from tests.harness import REVIEWER
from tests.helpers import b64, png_bytes

pytestmark = pytest.mark.slow

KEY = REVIEWER["Authorization"].removeprefix("Bearer ")


def test_a_reviewer_resolves_a_flagged_case_in_the_browser(graph, tmp_path):
    if chromium_path() is None:
        pytest.fail("no Chromium binary (apt-get install chromium, or set SEETHINK_CHROMIUM)")
    question = "Is this mushroom safe to eat? Why?"
    body = graph.post(
        "/infer",
        json={"image_base64": b64(png_bytes(seed=701)), "prompt": question, "route": "cascade"},
    ).json()
    case_id = body["review_id"]
    assert body["needs_review"] and case_id  # the session graph forces a conflict

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(graph.url + "/review/ui")
            # a wrong key is refused and the form asks again
            page.fill("#key", "sk-wrong")
            page.locator("#key-form").evaluate("f => f.requestSubmit()")
            page.wait_for_selector("#error:not([hidden])")
            page.fill("#key", KEY)
            page.locator("#key-form").evaluate("f => f.requestSubmit()")
            card = page.locator(f'.case[data-id="{case_id}"]')
            card.wait_for()
            assert question in card.locator(".question").inner_text()
            assert card.locator("img").get_attribute("src").startswith("data:image/jpeg")
            card.locator(".resolve-ok").click()
            page.wait_for_selector(f'.case[data-id="{case_id}"] .case-status.ok')
            page.screenshot(path=str(tmp_path / "review.png"))
            assert not errors, errors
        finally:
            browser.close()

    resolved = graph.get("/review", params={"status": "resolved", "limit": 500}, headers=REVIEWER)
    case = next(c for c in resolved.json()["data"] if c["id"] == case_id)
    assert case["reviewer"].startswith("key-") and case["resolution"]
