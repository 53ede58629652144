"""Image loading: the format allow-list, the limits, and images the model accepts."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import EpsImagePlugin, Image

from seethink.images import (
    ALLOWED_FORMATS,
    PAD_MAX_LONG_SIDE,
    ImageError,
    decode_base64,
    decode_image,
    load_image_bytes,
    prepare_image,
)
from tests.helpers import png_bytes


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def header_only_png(w: int, h: int) -> bytes:
    """A PNG signature and IHDR declaring w x h, and no pixel data."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\0\0\0\0IEND\xaeB`\x82"


def test_valid_png_loads_with_hash_and_size():
    img = load_image_bytes(png_bytes(size=(40, 30)), 10**6, 10**6)
    assert (img.width, img.height, img.format) == (40, 30, "PNG") and len(img.sha256) == 64


@pytest.mark.parametrize("fmt", ALLOWED_FORMATS)
def test_allowed_formats_load(fmt):
    data = encode(Image.new("RGB", (50, 40), (10, 200, 30)), fmt)
    img = load_image_bytes(data, 10**6, 10**6)
    assert (img.format, img.width, img.height) == (fmt, 50, 40)
    assert prepare_image(data).size == (50, 40)


@pytest.mark.parametrize(
    "fmt,name", [("PPM", "PPM"), ("TIFF", "TIFF"), ("EPS", "EPS"), ("ICO", "ICO"), ("QOI", "QOI")]
)
def test_other_formats_are_415_naming_the_allowed_ones(fmt, name, monkeypatch):
    data = encode(Image.new("RGB", (32, 32), (1, 2, 3)), fmt)

    def never(*a, **kw):
        raise AssertionError("a refused format reached its decoder")

    # EPS must not even be parsed (its loader runs Ghostscript)
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", never)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", never)
    with pytest.raises(ImageError) as e:
        load_image_bytes(data, 10**6, 10**6)
    assert (e.value.status, e.value.code) == (415, "unsupported_image_format")
    assert name in str(e.value) and "JPEG, PNG, WebP, GIF, BMP" in str(e.value)


@pytest.mark.parametrize(
    "data,code",
    [
        (b"", "empty_image"),
        (b"GIF89a not really", "invalid_image"),
        (b"hello, this is text and not an image at all", "invalid_image"),
        (png_bytes(size=(300, 200))[:200], "corrupt_image"),
    ],
)
def test_bad_images_are_refused_with_a_code(data, code):
    with pytest.raises(ImageError) as e:
        load_image_bytes(data, 10**6, 10**6)
    assert e.value.code == code and e.value.status == 400


def test_limits_on_bytes_and_pixels():
    with pytest.raises(ImageError) as e:
        load_image_bytes(png_bytes(), 100, 10**6)
    assert e.value.status == 413 and "100 bytes" in str(e.value)
    data = encode(Image.new("1", (3000, 3000)), "PNG")
    with pytest.raises(ImageError) as e:
        load_image_bytes(data, 10**7, 10**6)
    assert e.value.status == 413 and "3000x3000" in str(e.value)


@pytest.mark.parametrize("w,h", [(50_000, 50_000), (10_000, 5_000)])
def test_a_header_declaring_too_many_pixels_is_413_not_corrupt(w, h):
    # 50000x50000 is over Pillow's own bomb ceiling, 10000x5000 only over ours
    with pytest.raises(ImageError) as e:
        load_image_bytes(header_only_png(w, h), 10**7, 40_000_000)
    assert (e.value.status, e.value.code) == (413, "image_too_large")
    msg = str(e.value)
    assert "limit is 40000000 pixels" in msg and (f"{w}x{h}" in msg or str(w * h) in msg)


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    img = load_image_bytes(buf.getvalue(), 10**6, 10**6)
    assert img.format == "GIF"
    r, g, b = prepare_image(buf.getvalue()).getpixel((20, 20))
    assert r > 200 and b < 50


@pytest.mark.parametrize(
    "size", [(300, 1), (1, 300), (4000, 20), (20, 4000), (1, 1), (10, 10), (27, 900)]
)
def test_extreme_images_are_padded_to_what_the_model_accepts(size):
    data = encode(Image.new("RGB", size, (255, 0, 0)), "PNG")
    load_image_bytes(data, 10**7, 10**7)  # a valid image: the ingress accepts it
    out = prepare_image(data)
    w, h = out.size
    assert out.mode == "RGB" and min(w, h) >= 28 and max(w, h) / min(w, h) <= 50
    # padded, not stretched: the original pixels are all there, centred
    assert w >= size[0] and h >= size[1]
    left, top = (w - size[0]) // 2, (h - size[1]) // 2
    assert out.getpixel((left, top)) == (255, 0, 0)
    assert out.getpixel((left + size[0] - 1, top + size[1] - 1)) == (255, 0, 0)
    assert decode_image(data).size == out.size


@pytest.mark.parametrize("size", [(100_000, 2), (3, 60_000), (5000, 20)])
def test_very_long_images_are_scaled_before_padding_so_memory_stays_bounded(size):
    # padded as they are, 100000x2 would become 100000x2000 (600 MB of RGB)
    out = prepare_image(encode(Image.new("RGB", size, (255, 0, 0)), "PNG"))
    w, h = out.size
    assert max(w, h) == PAD_MAX_LONG_SIDE and min(w, h) >= 28 and max(w, h) / min(w, h) <= 50
    assert w * h <= PAD_MAX_LONG_SIDE**2 / 50 + PAD_MAX_LONG_SIDE


@pytest.mark.parametrize(
    "data,name",
    [
        (b"%PDF-1.7\n...", "PDF"),
        (b"  <svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    ],
)
def test_well_known_formats_without_a_pillow_plugin_are_named(data, name):
    with pytest.raises(ImageError) as e:
        load_image_bytes(data, 10**6, 10**6)
    assert e.value.status == 415 and name in str(e.value)


def test_normal_images_are_unchanged_and_max_side_scales_down():
    data = png_bytes(size=(96, 64))
    assert prepare_image(data).tobytes() == Image.open(io.BytesIO(data)).convert("RGB").tobytes()
    out = prepare_image(encode(Image.new("RGB", (5000, 20)), "PNG"), max_side=1000)
    assert max(out.size) == 1000 and max(out.size) / min(out.size) <= 50


@pytest.fixture(scope="module")
def glm4v_processors():
    transformers = pytest.importorskip("transformers")
    procs = [
        transformers.Glm4vImageProcessorPil(),  # the model's defaults
        # the tiny test checkpoint's settings (seethink/checkpoints.py)
        transformers.Glm4vImageProcessorPil(
            size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
        ),
    ]
    try:  # the torchvision backend, where torchvision is installed
        import torchvision  # noqa: F401

        procs.append(transformers.Glm4vImageProcessor())
    except ImportError:
        pass
    return procs


@pytest.mark.parametrize("size", [(300, 1), (1, 300), (5000, 20), (1, 1), (20000, 28)])
def test_prepared_images_pass_glm4v_image_processor(glm4v_processors, size):
    data = encode(Image.new("RGB", size, (0, 128, 255)), "PNG")
    raw = Image.open(io.BytesIO(data)).convert("RGB")
    if max(size) / min(size) > 200:
        with pytest.raises(ValueError):  # what took a whole batch down before
            glm4v_processors[0](images=[raw], return_tensors="np")
    for proc in glm4v_processors:
        out = proc(images=[prepare_image(data)], return_tensors="np")
        assert out["image_grid_thw"].shape == (1, 3)


def test_base64_and_data_urls():
    raw = png_bytes()
    assert decode_base64(base64.b64encode(raw).decode(), 10**6) == raw
    assert decode_base64("data:image/png;base64," + base64.b64encode(raw).decode(), 10**6) == raw
    with pytest.raises(ImageError):
        decode_base64("data:image/png,rawbytes", 10**6)
    with pytest.raises(ImageError) as e:
        decode_base64("%%%%", 10**6)
    assert e.value.code == "invalid_base64"
    with pytest.raises(ImageError) as e:
        decode_base64("A" * 2000, 100)
    assert e.value.status == 413


def test_fetch_names_are_still_importable_from_images():
    from seethink import fetch, images

    assert images.fetch_image is fetch.fetch_image and images.check_url is fetch.check_url
    assert images.ALLOW_ENV == "SEETHINK_ALLOW_PRIVATE_IMAGE_HOSTS"
