"""Small JPEG thumbnails as data: URLs, so a reviewer sees the image a case is about."""

from __future__ import annotations

import base64
import io
import logging

log = logging.getLogger(__name__)


def thumbnail_data_url(image: bytes, max_px: int = 128, quality: int = 70) -> str | None:
    """A JPEG of at most ``max_px`` on its longer side as ``data:image/jpeg;base64,...``; None
    when the bytes do not decode (a case is stored without a picture rather than not at all)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image)) as im:
            im.draft("RGB", (max_px, max_px))  # JPEG: decode at reduced size, cheap for big photos
            small = im.convert("RGB")
            small.thumbnail((max_px, max_px))
            buf = io.BytesIO()
            small.save(buf, "JPEG", quality=quality, optimize=True)
    except Exception as e:  # any decoder error: no thumbnail
        log.warning("no review thumbnail: %s", type(e).__name__)
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
