"""Keys, hosts, body limits and hostile text at the HTTP edge (stand-in handles, no Ray)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.app import make_test_app
from tests.api.test_contract import assert_error, good
from tests.helpers import b64, png_bytes

KEY, REVIEWER = "sk-test-user-1", "sk-test-reviewer-1"


@pytest.fixture
def keyed(tmp_path):
    parts = make_test_app(tmp_path, auth={"api_keys": [KEY], "reviewer_keys": REVIEWER})
    with TestClient(parts.app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c, parts


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


INFER = {"image_base64": b64(png_bytes()), "prompt": "What is it?"}


@pytest.mark.parametrize(
    "method,path,kw",
    [
        ("post", "/infer", {"json": INFER}),
        ("post", "/generate", {"json": {"prompt": "hi"}}),
        ("post", "/caption", {"json": {"image_base64": INFER["image_base64"]}}),
        ("get", "/v1/models", {}),
        (
            "post",
            "/v1/chat/completions",
            {"json": {"messages": [{"role": "user", "content": "x"}]}},
        ),
    ],
)
def test_inference_needs_a_key_when_keys_are_set(keyed, method, path, kw):
    c, _ = keyed
    err = assert_error(getattr(c, method)(path, **kw), 401, "invalid_api_key")
    assert KEY not in err["message"]
    assert_error(getattr(c, method)(path, headers=bearer("sk-wrong"), **kw), 401)
    assert_error(getattr(c, method)(path, headers={"Authorization": KEY}, **kw), 401)
    assert getattr(c, method)(path, headers=bearer(KEY), **kw).status_code == 200


def test_health_and_page_stay_open(keyed):
    c, _ = keyed
    assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200
    assert c.get("/review/ui").status_code == 200


def test_review_is_off_without_reviewer_keys(client):
    err = assert_error(client.get("/review"), 403, "review_disabled")
    assert "SEETHINK_AUTH__REVIEWER_KEYS" in err["message"]


def test_api_keys_do_not_open_the_review_queue(keyed):
    c, _ = keyed
    assert_error(c.get("/review", headers=bearer(KEY)), 401)
    assert c.get("/review", headers=bearer(REVIEWER)).status_code == 200


def test_review_flow_records_the_reviewer_and_refuses_a_different_second_resolution(keyed):
    c, parts = keyed
    ids = [
        parts.review.add({"request_id": f"r{i}", "image_sha256": "0" * 64, "question": "q?",
                          "caption": "c", "answer": "a", "scores": {"consistency": 0.1}})
        for i in range(3)
    ]  # fmt: skip
    page = c.get("/review", params={"limit": 2}, headers=bearer(REVIEWER)).json()
    assert len(page["data"]) == 2 and page["has_more"] and page["next_cursor"]
    rest = c.get(
        "/review", params={"limit": 2, "cursor": page["next_cursor"]}, headers=bearer(REVIEWER)
    ).json()
    assert {x["id"] for x in page["data"] + rest["data"]} == set(ids) and not rest["has_more"]
    done = c.post(f"/review/{ids[0]}", json={"resolution": "ok"}, headers=bearer(REVIEWER))
    assert done.status_code == 200, done.text
    case = done.json()
    assert case["status"] == "resolved" and case["reviewer"].startswith("key-")
    assert REVIEWER not in done.text and case["resolved"] > 0
    same = c.post(f"/review/{ids[0]}", json={"resolution": "ok"}, headers=bearer(REVIEWER))
    assert same.status_code == 200  # the same resolution again: idempotent
    clash = c.post(f"/review/{ids[0]}", json={"resolution": "wrong"}, headers=bearer(REVIEWER))
    assert_error(clash, 409)
    kept = c.get("/review", params={"status": "resolved"}, headers=bearer(REVIEWER)).json()
    assert kept["data"][0]["resolution"] == "ok"
    assert_error(c.post("/review/nope", json={"resolution": "x"}, headers=bearer(REVIEWER)), 404)
    assert_error(c.get("/review", params={"status": "weird"}, headers=bearer(REVIEWER)), 400)


@pytest.mark.parametrize("host", ["evil.example", "attacker.test:80", "10.0.0.1"])
def test_unknown_host_headers_are_refused(client, host):
    assert_error(client.get("/healthz", headers={"Host": host}), 400, "host_not_allowed")


@pytest.mark.parametrize("headers", [{"Host": "evil.example"}, {"Host": ""}])
def test_serve_liveness_path_answers_whatever_the_host_and_nothing_else_does(client, headers):
    # HAProxy checks /-/healthz with a bare HTTP/1.0 request (no Host); only that path is open
    from seethink.api import HOST_CHECK_EXEMPT

    assert HOST_CHECK_EXEMPT == frozenset({"/-/healthz"})
    assert client.get("/-/healthz", headers=headers).status_code != 400
    assert_error(client.get("/healthz", headers=headers), 400, "host_not_allowed")
    assert_error(client.get("/-/healthz/x", headers=headers), 400, "host_not_allowed")


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000"])
def test_local_host_headers_are_served(client, host):
    assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_star_serves_any_host(tmp_path):
    parts = make_test_app(tmp_path, server={"allowed_hosts": "*"})
    with TestClient(parts.app, base_url="http://anything.example") as c:
        assert c.get("/healthz").status_code == 200


def test_oversized_bodies_are_refused_before_they_are_read(client):
    big = b"x" * (17 << 20)
    assert_error(
        client.post("/infer", content=big, headers={"Content-Type": "application/json"}), 413
    )

    def chunks():
        for _ in range(40):
            yield b"x" * (1 << 20)

    r = client.post("/generate", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(r, 413)
    good(client)


@pytest.mark.parametrize("path", ["/infer", "/caption", "/generate", "/v1/chat/completions"])
def test_deep_json_is_a_400(client, path):
    r = client.post(path, content=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert_error(r, 400)


@pytest.mark.parametrize(
    "escaped", ["what is \\ud800 this", "nul \\u0000 inside"], ids=["lone surrogate", "NUL"]
)
def test_bad_unicode_is_a_400(client, escaped):
    # the JSON escapes reach the app as a lone surrogate / NUL in the decoded prompt
    body = f'{{"image_base64": "{INFER["image_base64"]}", "prompt": "{escaped}"}}'
    r = client.post("/infer", content=body, headers={"Content-Type": "application/json"})
    assert_error(r, 400)
    good(client)


def test_long_history_and_system_text_are_refused(client):
    msgs = [{"role": "system", "content": "s" * 9000}, {"role": "user", "content": "q"}]
    assert_error(client.post("/v1/chat/completions", json={"messages": msgs}), 400)
    msgs = [{"role": "user", "content": "q"}] * 65
    assert_error(client.post("/v1/chat/completions", json={"messages": msgs}), 400)


@pytest.mark.parametrize(
    "url",
    [
        "http://a..b/x.png",
        "http://[::1/x.png",
        "http://\u2100.example/x.png",
        "http://example.com/a\x00b.png",
        "http://example.com/a\nb.png",
        "http://example.com/a\x7fb.png",
        "http://" + "a" * 64 + ".example/x.png",
        "http://example.com/" + "a" * 70_000,
        "http://[2002:7f00:1::]/x.png",
        "http://[fec0::1]/x.png",
    ],
)
@pytest.mark.parametrize("endpoint", ["/infer", "/caption", "/v1/chat/completions"])
def test_malformed_or_special_urls_are_4xx_json_everywhere(client, url, endpoint):
    if endpoint == "/v1/chat/completions":
        body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "q"},
                {"type": "image_url", "image_url": {"url": url}}]}]}  # fmt: skip
    elif endpoint == "/caption":
        body = {"image_url": url}
    else:
        body = {"image_url": url, "prompt": "What is it?"}
    r = client.post(endpoint, json=body)
    assert r.status_code in (400, 403), r.text
    assert_error(r, r.status_code)
    good(client)


def test_internal_errors_are_json_with_a_request_id_and_no_internals(client, app_parts):
    class Broken:
        def classify(self, prompt):
            raise RuntimeError("secret internal path /opt/model")

    from tests.fakes.handles import FakeHandle

    app_parts.app.state.service.pipeline.router = FakeHandle(Broken())
    r = client.post("/infer", json=INFER)
    err = assert_error(r, 500, "internal_error")
    assert "secret" not in r.text and err["request_id"]
