"""Build the real HTTP app (``seethink.api.make_app``) over stand-in handles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployments.review import ReviewQueue
from deployments.router import Router
from seethink.api import Handles, make_app
from seethink.config import load_config
from tests.fakes.handles import FakeChat, FakeHandle, FakeVisionBackend, unbatched_vision


@dataclass
class TestApp:
    __test__ = False
    app: object
    cfg: object
    vision: FakeVisionBackend
    chat: FakeChat
    review: ReviewQueue


def make_test_app(tmp_path: Path, **overrides) -> TestApp:
    over = {
        "llm": {"timeout_s": 0.5},
        "arbiter": {"review_db": str(tmp_path / "review.sqlite3")},
        **overrides,
    }
    cfg = load_config("cpu", over)
    backend = FakeVisionBackend()
    vision = FakeHandle(unbatched_vision(cfg.vision, backend))
    review = ReviewQueue(cfg.arbiter.review_db)
    chat = FakeChat()
    handles = Handles(
        router=FakeHandle(Router(cfg.router)),
        vision=vision,
        review=FakeHandle(review),
        chat=chat,
        llm_health=chat.check_health,
    )
    return TestApp(make_app(cfg, handles), cfg, backend, chat, review)
