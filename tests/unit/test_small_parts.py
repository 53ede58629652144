"""The cache, breaker, coherence score, language detection and OpenAI message parsing."""

from __future__ import annotations

import pytest

from seethink.breaker import CircuitBreaker
from seethink.coherence import coherence
from seethink.lru import BoundedCache
from seethink.openai_serving import parse_messages
from seethink.protocol import APIError
from seethink.text import detect_lang


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_lru_evicts_least_recently_used_and_respects_bytes():
    c = BoundedCache(max_entries=2, max_bytes=100, ttl_s=60)
    c.put("a", 1, 10)
    c.put("b", 2, 10)
    c.get("a")
    c.put("c", 3, 10)
    assert c.get("b") is None and c.get("a") == 1 and c.get("c") == 3
    c.put("big", 4, 95)  # over the byte bound with the others: they go
    assert len(c) == 1 and c.bytes == 95 and c.stats.evictions == 3
    c.put("huge", 5, 1000)  # larger than the whole cache: not stored
    assert c.get("huge") is None


def test_lfu_evicts_least_frequently_used():
    c = BoundedCache(max_entries=2, max_bytes=10**6, ttl_s=60, policy="lfu")
    c.put("a", 1, 1)
    c.put("b", 2, 1)
    for _ in range(3):
        c.get("a")
    c.get("b")
    c.put("c", 3, 1)
    assert c.get("b") is None and c.get("a") == 1


def test_ttl_expires_entries():
    clock = Clock()
    c = BoundedCache(10, 10**6, ttl_s=5, clock=clock)
    c.put("a", 1, 1)
    clock.t = 4.9
    assert c.get("a") == 1
    clock.t = 5.0
    assert c.get("a") is None and c.stats.expirations == 1 and len(c) == 0


def test_unknown_policy():
    with pytest.raises(ValueError, match="expected one of: lru, lfu"):
        BoundedCache(1, 1, 1, policy="fifo")


def test_breaker_opens_probes_and_closes():
    clock = Clock()
    b = CircuitBreaker(failure_threshold=2, reset_timeout_s=10, clock=clock)
    b.record_failure(b.acquire())
    assert b.acquire() == "call"
    b.record_failure("call")
    assert b.state == "open" and b.acquire() is None
    clock.t = 10
    probe = b.acquire()
    assert b.state == "half-open" and probe == "probe" and b.acquire() is None  # one probe
    b.record_failure(probe)  # the probe failed: open again
    assert b.state == "open"
    clock.t = 20
    probe = b.acquire()
    b.record_success(probe)
    assert b.state == "closed" and b.acquire() == "call"


def test_a_released_probe_frees_the_slot_without_a_verdict():
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, reset_timeout_s=10, clock=clock)
    b.record_failure("call")
    clock.t = 10
    probe = b.acquire()
    assert probe == "probe" and b.acquire() is None
    b.release(probe)  # its client went away: neither success nor failure
    assert b.state == "half-open" and b.acquire() == "probe"


def test_coherence():
    assert coherence("a red car on the street", "a red car on the street") == pytest.approx(1.0)
    assert coherence("一只猫坐在桌子上", "猫在桌子上") > coherence(
        "一只猫坐在桌子上", "the sky is blue"
    )
    assert coherence("", "x") == 0.0


def test_detect_lang():
    assert detect_lang("这是什么?") == "zh" and detect_lang("what is this") == "en"
    assert detect_lang("Is this 真皮?") == "zh"


def test_parse_messages_image_and_history():
    q, url, system, history = parse_messages(
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is"},
                    {"type": "text", "text": "this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
        ],
        64,
        1000,
    )
    assert q == "what is\nthis?" and url.startswith("data:") and system == "be brief"
    assert history == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


@pytest.mark.parametrize(
    "messages,needle",
    [
        ([{"role": "assistant", "content": "x"}], "last message"),
        ([{"role": "user", "content": [{"type": "audio"}]}], "text part"),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "a"}},
                        {"type": "image_url", "image_url": {"url": "b"}},
                        {"type": "text", "text": "q"},
                    ],
                }
            ],
            "one image",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "a"}}]}],
            "no text question",
        ),
        ([{"role": "tool", "content": "x"}, {"role": "user", "content": "q"}], "not supported"),
        ([{"role": "user", "content": "q"}] * 3, "limit is 2"),
        (
            [{"role": "system", "content": "s" * 11}, {"role": "user", "content": "q"}],
            "limit is 10",
        ),
    ],
)
def test_parse_messages_errors(messages, needle):
    with pytest.raises(APIError) as e:
        parse_messages(messages, 2, 10)
    assert needle in e.value.message and e.value.status == 400


def test_regression_compare_and_report():
    from seethink import regression

    base = {
        "models": {"vision": {"name": "v", "version": "1"}},
        "cases": {"a": {"text": "x", "route": "direct"}, "b": {"text": "y", "route": "cascade"}},
    }
    now = {
        "models": {"vision": {"name": "v", "version": "2"}},
        "cases": {"a": {"text": "x", "route": "direct"}, "b": {"text": "z", "route": "cascade"}},
    }
    diff = regression.compare(base, now)
    assert diff["models"]["vision"]["was"]["version"] == "1"
    assert diff["changed"] == {"b": {"text": {"was": "y", "now": "z"}}}
    assert "1 of 2 cases changed" in regression.report(diff)
    assert len(regression.render({"color": [1, 2, 3], "size": [8, 8], "seed": 1})) > 50


def test_checkpoint_version_names_content_and_skips_reading_huge_files_whole(tmp_path, monkeypatch):
    from seethink import checkpoints

    (tmp_path / "config.json").write_text('{"a": 1}')
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x" * (3 << 20))
    v1 = checkpoints.checkpoint_version(tmp_path)
    assert len(v1) == 12 and v1 == checkpoints.checkpoint_version(tmp_path)
    (tmp_path / "config.json").write_text('{"a": 2}')
    assert checkpoints.checkpoint_version(tmp_path) != v1
    # above the limit only the size, head and tail count: a change in the middle is not read
    monkeypatch.setattr(checkpoints, "_WHOLE_FILE_LIMIT", 1 << 20)
    v2 = checkpoints.checkpoint_version(tmp_path)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] = ord("y")
    weights.write_bytes(bytes(data))
    assert checkpoints.checkpoint_version(tmp_path) == v2
    data[0] = ord("y")
    weights.write_bytes(bytes(data))
    assert checkpoints.checkpoint_version(tmp_path) != v2
    assert checkpoints.checkpoint_version("no/such-model-anywhere") == "unknown"
