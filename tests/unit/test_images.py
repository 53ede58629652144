"""Image loading and the URL fetch policy."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from seethink.images import ALLOW_ENV, ImageError, check_url, decode_base64, load_image_bytes
from tests.conftest import png_bytes


def test_valid_png_loads_with_hash_and_size():
    img = load_image_bytes(png_bytes(size=(40, 30)), 10**6, 10**6)
    assert (img.width, img.height, img.format) == (40, 30, "PNG") and len(img.sha256) == 64


@pytest.mark.parametrize(
    "data,code",
    [
        (b"", "empty_image"),
        (b"GIF89a not really", "invalid_image"),
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
    buf = io.BytesIO()
    Image.new("1", (3000, 3000)).save(buf, "PNG")
    with pytest.raises(ImageError) as e:
        load_image_bytes(buf.getvalue(), 10**7, 10**6)
    assert e.value.status == 413 and "pixels" in str(e.value)


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


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://localhost:8000/x.png",
        "http://10.1.2.3/x.png",
        "http://192.168.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://0.0.0.0/x.png",
    ],
)
def test_non_public_addresses_are_refused(url, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    with pytest.raises(ImageError) as e:
        check_url(url)
    assert e.value.status == 403 and ALLOW_ENV in str(e.value)


def test_allow_list_by_name_or_address(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "localhost, 10.1.2.3")
    assert check_url("http://localhost:9/x.png") == ("localhost", 9)
    assert check_url("http://10.1.2.3/x.png") == ("10.1.2.3", 80)
    with pytest.raises(ImageError):
        check_url("http://10.9.9.9/x.png")


@pytest.mark.parametrize("url", ["ftp://example.com/x.png", "file:///etc/passwd", "http:///x"])
def test_bad_schemes_and_hosts(url):
    with pytest.raises(ImageError) as e:
        check_url(url)
    assert e.value.status == 400
