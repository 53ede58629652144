"""API keys and the Host allow-list."""

from __future__ import annotations

import hmac
import io
import logging

import pytest

from seethink import auth
from seethink.auth import KeyFileError, KeyStore, hash_line, host_allowed

K1, K2 = "sk-first-key-0123456789", "sk-second-key-abcdefgh"


def test_empty_store_is_open():
    for store in (KeyStore.from_config([], None), KeyStore.from_config("", None)):
        assert not store.enabled and store.check(None) and store.check("Bearer anything")


@pytest.mark.parametrize("keys", [[K1, K2], f"{K1}, {K2}", f" {K1},,{K2} ,"])
def test_keys_from_a_list_or_a_comma_separated_string(keys):
    store = KeyStore.from_config(keys, None)
    assert store.enabled and len(store) == 2
    assert store.check(f"Bearer {K1}") and store.check(f"bearer {K2}")
    assert store.check(f"Bearer  {K1} ")  # stray whitespace is not a different key


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        K1,  # no scheme
        f"Basic {K1}",
        "Bearer",
        "Bearer ",
        f"Bearer {K1}x",
        f"Bearer {K1[:-1]}",
        f"Bearer {K1} {K1}",
        "Bearer \udcff",  # undecodable bytes from a header
    ],
)
def test_wrong_or_malformed_authorization_is_refused(header):
    assert not KeyStore.from_config([K1], None).check(header)


def test_key_file_of_hashed_lines(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# reviewers\n\n{hash_line(K1)}\n  {hash_line(K2).upper()[:7].lower()}"
                    f"{hash_line(K2)[7:].upper()}  \n")  # fmt: skip
    store = KeyStore.from_config("sk-config-key", str(path))
    assert len(store) == 3
    assert store.check(f"Bearer {K1}") and store.check(f"Bearer {K2}")
    assert store.check("Bearer sk-config-key")
    assert not store.check(f"Bearer {hash_line(K1)}")  # the hash is not the key


def test_hashed_entries_in_config_are_taken_as_hashes():
    store = KeyStore.from_config([hash_line(K1)], None)
    assert store.check(f"Bearer {K1}") and not store.check(f"Bearer {hash_line(K1)}")


def test_bad_key_files_say_what_to_fix_without_echoing_the_line(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"{hash_line(K1)}\n{K2}\n")  # a plaintext key by mistake
    with pytest.raises(KeyFileError) as e:
        KeyStore.from_config([], str(path))
    assert f"{path}:2" in str(e.value) and "sha256:" in str(e.value) and K2 not in str(e.value)
    with pytest.raises(KeyFileError) as e:
        KeyStore.from_config([], str(tmp_path / "missing"))
    assert "missing" in str(e.value)


def test_every_key_is_compared_whichever_matches(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def counting(a, b):
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    store = KeyStore.from_config([K1, K2, "sk-third-key-zzzzzzzz"], None)
    for header in (f"Bearer {K1}", f"Bearer {K2}", "Bearer nope"):
        calls.clear()
        store.check(header)
        assert len(calls) == 3


def test_keys_never_appear_in_repr_str_or_logs(caplog):
    store = KeyStore.from_config([K1, K2], None)
    text = repr(store) + str(store) + f"{store!r} {store}"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("store %s %r", store, store)
    for key in (K1, K2):
        assert key not in text and key not in caplog.text
    assert "2 keys" in repr(store)
    assert not any(isinstance(v, str) and K1 in v for v in vars(store).values())


def test_cli_hash_and_new_round_trip(tmp_path, capsys, monkeypatch):
    assert auth.main(["hash", K1]) == 0
    line = capsys.readouterr().out.strip()
    assert line == hash_line(K1) and line.startswith("sha256:") and len(line) == 7 + 64
    monkeypatch.setattr("sys.stdin", io.StringIO(K2 + "\n"))
    auth.main(["hash", "-"])
    assert capsys.readouterr().out.strip() == hash_line(K2)
    auth.main(["new"])
    key, new_line = capsys.readouterr().out.split()
    (tmp_path / "keys").write_text(new_line + "\n")
    assert KeyStore.from_config([], str(tmp_path / "keys")).check(f"Bearer {key}")


LOCAL = ["localhost", "127.0.0.1", "::1"]


@pytest.mark.parametrize(
    "host,allowed,ok",
    [
        ("localhost", LOCAL, True),
        ("localhost:8000", LOCAL, True),
        ("LOCALHOST.:8000", LOCAL, True),
        ("127.0.0.1:8000", LOCAL, True),
        ("[::1]:8000", LOCAL, True),
        ("[::1]", LOCAL, True),
        ("[0:0::1]:80", LOCAL, True),
        ("[::1]:8000", ["[::1]"], True),
        ("evil.example", LOCAL, False),
        ("localhost.evil.example", LOCAL, False),
        ("127.0.0.2", LOCAL, False),
        ("[::2]:8000", LOCAL, False),
        ("::1", LOCAL, False),  # an unbracketed IPv6 Host header is not valid HTTP
        ("[::1", LOCAL, False),
        ("localhost:99999", LOCAL, False),
        ("localhost:", LOCAL, False),
        ("local host", LOCAL, False),
        ("localhost@evil", LOCAL, False),
        (None, LOCAL, False),
        ("", LOCAL, False),
        ("anything.example:1234", ["*"], True),
        (None, ["*"], True),
        ("api.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("badexample.com", ["*.example.com"], False),
        ("seethink.local:8000", ["seethink.local:8000"], True),
        ("seethink.local:8001", ["seethink.local:8000"], False),
        ("10.0.0.5:8000", ["10.0.0.5"], True),
    ],
)
def test_host_allowed(host, allowed, ok):
    assert host_allowed(host, allowed) is ok
