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
            page.wait_for_selector("#key-form:not([hidden])")  # no key yet: the form asks
            # a wrong key is refused and the form asks again
            with page.expect_response(lambda r: "/review?" in r.url and r.status == 401):
                page.fill("#key", "sk-wrong")
                page.locator("#key-form").evaluate("f => f.requestSubmit()")
            page.wait_for_selector("#error:not([hidden])")
            page.wait_for_selector("#key-form:not([hidden])")
            # a reviewer who mistypes and at once types the right key: the late refusal of the
            # wrong key must neither blank the list nor forget the right key (held back here
            # so it surely arrives last)
            held = []

            def hold_wrong_key(route):
                if route.request.headers.get("authorization") == "Bearer sk-wrong":
                    held.append(route)
                else:
                    route.continue_()

            def listing(url):
                return "/review?" in url

            page.route(listing, hold_wrong_key)
            page.fill("#key", "sk-wrong")
            page.locator("#key-form").evaluate("f => f.requestSubmit()")
            page.fill("#key", KEY)
            page.locator("#key-form").evaluate("f => f.requestSubmit()")
            card = page.locator(f'.case[data-id="{case_id}"]')
            card.wait_for()
            assert len(held) == 1
            with page.expect_response(lambda r: r.status == 401):
                held[0].continue_()
            page.unroute(listing)
            page.wait_for_timeout(500)  # time for the page to (mis)handle the late answer
            stored = page.evaluate("sessionStorage.getItem('seethink.reviewerKey')")
            assert stored == KEY
            assert card.is_visible() and page.locator("#key-form").is_hidden()
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
