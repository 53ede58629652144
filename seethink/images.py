"""Turning request bytes into an image the model accepts, safely.

Every path ends in ``load_image_bytes``: it checks the format from the header against an
allow-list before any decoder runs (so PPM, EPS, TIFF and friends never reach their decoders;
EPS never reaches Ghostscript), checks the declared size before decoding, then fully decodes
the image so truncated files are caught here and not in a model replica. ``prepare_image`` turns
checked bytes into an RGB image whose geometry the vision model accepts (extreme aspect ratios
and tiny images are padded, not refused).

URL fetching lives in ``seethink.fetch``; ``fetch_image``, ``check_url`` and ``ALLOW_ENV`` are
still importable from here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import re
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from .limits import RequestError

# Pillow format names, in the order the header is tried.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
ALLOWED_NAMES = "JPEG, PNG, WebP, GIF, BMP"
PAD_COLOR = (127, 127, 127)  # neutral grey: adds no colour the model could describe
# Padding a W x 1 image to W/50 rows multiplies its pixels; above this long side such an image
# is scaled down first (the model's processor would shrink it to its pixel budget anyway).
PAD_MAX_LONG_SIDE = 4096
# Common formats Pillow has no plugin for, named in the 415 message instead of "not an image".
_OTHER_MAGIC = (
    (b"%PDF", "PDF"),
    (b"<svg", "SVG"),
    (b"<?xml", "SVG/XML"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")


class ImageError(RequestError):
    """The request's image cannot be used; ``code`` names why, the message says what to fix."""

    def __init__(self, message: str, code: str = "invalid_image", status: int = 400):
        super().__init__(message, code, status)


@dataclass(frozen=True)
class LoadedImage:
    """Validated image bytes with what the graph needs to know about them."""

    data: bytes
    sha256: str
    width: int
    height: int
    format: str


def load_image_bytes(data: bytes, max_bytes: int, max_pixels: int) -> LoadedImage:
    """Check that ``data`` is a whole, decodable image of an allowed format within the limits.

    Raises ``ImageError``: 400 ``empty_image`` / ``invalid_image`` / ``corrupt_image``,
    413 ``image_too_large`` (bytes or declared pixels), 415 ``unsupported_image_format``.
    """
    if not data:
        raise ImageError("the image is empty", "empty_image")
    if len(data) > max_bytes:
        raise ImageError(
            f"the image is {len(data)} bytes; the limit is {max_bytes} bytes",
            "image_too_large",
            413,
        )
    try:
        with _open(data) as im:
            fmt = im.format or "unknown"
            w, h = im.size
            _check_pixels(w, h, max_pixels)
            # JPEG: decode at 1/8 scale; the decoder still reads every byte of the entropy-coded
            # data, so truncated files fail here, at a fraction of a full decode's cost
            im.draft("RGB", (max(1, w // 8), max(1, h // 8)))
            im.load()  # decodes every byte of the first frame: truncated files fail here
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        # Pillow's own ceiling (2 x Image.MAX_IMAGE_PIXELS) is checked inside Image.open, so
        # a header far over our limit lands here, before we see the size.
        raise ImageError(
            f"the image is too large: {_bomb_pixels(e)}; the limit is {max_pixels} pixels",
            "image_too_large",
            413,
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"the image is truncated or corrupt: {e}", "corrupt_image") from None
    return LoadedImage(data, hashlib.sha256(data).hexdigest(), w, h, fmt)


def prepare_image(
    data: bytes, min_side: int = 28, max_aspect: float = 50.0, max_side: int | None = None
) -> Image.Image:
    """Bytes already checked by ``load_image_bytes`` -> an RGB image the vision model accepts.

    The first frame only (animated GIF/WebP/PNG). If ``max_side`` is given the image is scaled
    down so its long side fits; without it, an image too elongated for ``max_aspect`` is scaled
    down to a long side of ``PAD_MAX_LONG_SIDE``. Then the short side is padded (centred,
    neutral grey) until the aspect ratio is at most ``max_aspect`` and both sides are at least
    ``min_side``: GLM-4V's processor (factor 28 = patch 14 x merge 2) raises on ratios over 200,
    and padding keeps the pixels as they are where a resize would smear a 300x1 line.
    """
    with _open(data) as im:
        im.seek(0)
        rgb = im.convert("RGB")
    w, h = rgb.size
    limit = max_side
    if limit is None and max(w, h) > max_aspect * min(w, h):
        limit = PAD_MAX_LONG_SIDE  # bounds the padded size at 4096^2 / max_aspect pixels
    if limit is not None and max(w, h) > limit:
        scale = limit / max(w, h)
        rgb = rgb.resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC
        )
        w, h = rgb.size
    # the short side needed for the ratio, then at least min_side on both sides
    tw = max(w, math.ceil(h / max_aspect), min_side)
    th = max(h, math.ceil(w / max_aspect), min_side)
    if (tw, th) == (w, h):
        return rgb
    canvas = Image.new("RGB", (tw, th), PAD_COLOR)
    canvas.paste(rgb, ((tw - w) // 2, (th - h) // 2))
    return canvas


def decode_image(
    data: bytes, min_side: int = 28, max_aspect: float = 50.0, max_side: int | None = None
) -> Image.Image:
    """Bytes already checked by ``load_image_bytes`` -> an RGB PIL image (see ``prepare_image``)."""
    return prepare_image(data, min_side, max_aspect, max_side)


def decode_base64(text: str, max_bytes: int) -> bytes:
    """Plain base64 or a ``data:image/...;base64,`` URL -> bytes."""
    if text.startswith("data:"):
        header, _, payload = text.partition(",")
        if ";base64" not in header:
            raise ImageError("data URLs must be base64-encoded (data:image/png;base64,...)")
        text = payload
    # base64 inflates by 4/3: refuse oversized input before decoding it
    if len(text) > max_bytes * 4 // 3 + 8:
        raise ImageError(f"the image is over the {max_bytes}-byte limit", "image_too_large", 413)
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("image_base64 is not valid base64", "invalid_base64") from None


def _open(data: bytes) -> Image.Image:
    """Open with the allowed decoders only; 415 naming the format if another one matches."""
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        pass
    other = _sniff_format(data)
    if other is not None:
        raise ImageError(
            f"{other} images are not accepted; send one of: {ALLOWED_NAMES}",
            "unsupported_image_format",
            415,
        )
    raise ImageError(f"the data is not an image in a format we read ({ALLOWED_NAMES})")


def _sniff_format(data: bytes) -> str | None:
    """Which other Pillow format claims this header, by its magic-number test alone.

    Only the plugins' ``_accept`` prefix checks run (no ``_open``, no decoder), so an EPS
    header is named without Pillow's EPS code (or Ghostscript) touching it.
    """
    head = data[:32].lstrip()
    for magic, name in _OTHER_MAGIC:
        if head.startswith(magic):
            return name
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIC/HEIF"
    Image.init()
    prefix = data[:16]
    for fmt, (_factory, accept) in Image.OPEN.items():
        if fmt in ALLOWED_FORMATS or accept is None:
            continue
        try:
            if accept(prefix):
                return fmt
        except Exception:  # noqa: BLE001 - a plugin's magic test failing means "not this one"
            continue
    return None


def _check_pixels(w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise ImageError(
            f"the image is {w}x{h} pixels; the limit is {max_pixels} pixels", "image_too_large", 413
        )


def _bomb_pixels(e: Exception) -> str:
    m = re.search(r"\((\d+) pixels\)", str(e))
    return f"{int(m.group(1))} pixels" if m else "over Pillow's decompression-bomb ceiling"


def __getattr__(name: str) -> Any:
    # URL fetching moved to seethink.fetch (which imports ImageError from here); a lazy
    # re-export keeps ``from seethink.images import fetch_image`` working without a cycle.
    if name in ("fetch_image", "check_url", "ALLOW_ENV", "MAX_REDIRECTS"):
        from . import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
