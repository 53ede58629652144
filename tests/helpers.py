"""Helpers the tests share: images, ports."""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw

from seethink.ports import free_port  # noqa: F401 (the tests import it from here)


def png_bytes(color=(200, 30, 30), size=(96, 64), seed: int = 0, fmt: str = "PNG") -> bytes:
    """A small image; ``seed`` draws a distinct mark so different seeds hash differently."""
    im = Image.new("RGB", size, color)
    d = ImageDraw.Draw(im)
    d.rectangle([seed % size[0], 0, seed % size[0] + 8, 8], fill=(255 - color[0], 255, 0))
    for i in range(4):  # the seed itself, in the bottom row: distinct seeds, distinct images
        im.putpixel((i, size[1] - 1), ((seed >> (8 * i)) & 255, 0, 0))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{b64(data)}"


def batch_line(cid: str, question: str, seed: int = 0, image: bytes | None = None, **body) -> dict:
    """One line of a Batch API input file: a chat completion about an image (``seed``'s
    ``png_bytes`` unless ``image`` is given); ``body`` adds or overrides request fields."""
    url = data_url(image if image is not None else png_bytes(seed=seed))
    content = [{"type": "text", "text": question}, {"type": "image_url", "image_url": {"url": url}}]
    return {
        "custom_id": cid,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "seethink",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": 8,
            **body,
        },
    }
