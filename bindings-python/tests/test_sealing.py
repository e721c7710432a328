"""Sealed output: the headshot leaves the engine as an age file; open_sealed opens it.

Keys come from the real `age-keygen` (Debian package `age`, `make sys-deps`), and the `age` CLI
decrypts one sealed result too, so the format is the real one and not only our own round trip.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import CONSENT, SMALL

import lichtbild

AGE_HEADER = b"age-encryption.org/v1"
JPEG_MAGIC = b"\xff\xd8\xff"


def keygen(path: Path) -> tuple[str, str]:
    """A fresh age key pair: (recipient "age1…", identity file text)."""
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True).stdout.strip()
    assert recipient.startswith("age1")
    return recipient, path.read_text()


def test_round_trip_to_two_recipients(engine: lichtbild.Engine, small_hopper: bytes, tmp_path: Path) -> None:
    (r1, k1), (r2, k2) = keygen(tmp_path / "a.txt"), keygen(tmp_path / "b.txt")
    plain = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL)
    sealed = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, seal_to=[r1, r2])
    assert plain.image is not None and plain.image.startswith(JPEG_MAGIC)
    assert sealed.image is not None and sealed.image.startswith(AGE_HEADER)
    assert JPEG_MAGIC not in sealed.image
    assert sealed.receipt["output"]["sealed"] == {"format": "age-encryption.org/v1", "method": "x25519", "recipients": 2}
    assert "sealed" not in plain.receipt["output"]
    # The receipt counts recipients and never names them.
    text = json.dumps(sealed.receipt)
    assert r1 not in text and r2 not in text
    # Either identity opens it: the whole identity file's text, or just its key line.
    assert lichtbild.open_sealed(sealed.image, identity=k1) == plain.image
    key2 = next(line for line in k2.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    assert lichtbild.open_sealed(bytearray(sealed.image), identity=key2) == plain.image
    # And the age CLI reads what the engine wrote.
    (tmp_path / "sealed.age").write_bytes(sealed.image)
    out = subprocess.run(["age", "-d", "-i", str(tmp_path / "a.txt"), str(tmp_path / "sealed.age")], check=True, capture_output=True)
    assert out.stdout == plain.image


def test_passphrase_round_trip(engine: lichtbild.Engine, small_hopper: bytes) -> None:
    plain = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, format="png")
    sealed = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, format="png", seal_passphrase="correct horse")
    assert sealed.image is not None and sealed.image.startswith(AGE_HEADER) and b"\x89PNG" not in sealed.image
    assert sealed.receipt["output"]["sealed"]["method"] == "scrypt"
    assert lichtbild.open_sealed(memoryview(sealed.image), passphrase="correct horse") == plain.image
    with pytest.raises(lichtbild.SealError) as info:
        lichtbild.open_sealed(sealed.image, passphrase="wrong horse")
    assert info.value.code == "seal"


def test_wrong_key_and_corrupted_bytes_are_seal_errors(engine: lichtbild.Engine, small_hopper: bytes, tmp_path: Path) -> None:
    (r, k), (_, other) = keygen(tmp_path / "a.txt"), keygen(tmp_path / "b.txt")
    sealed = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, seal_to=[r]).image
    assert sealed is not None
    with pytest.raises(lichtbild.SealError):
        lichtbild.open_sealed(sealed, identity=other)
    broken = bytearray(sealed)
    broken[-10] ^= 1
    with pytest.raises(lichtbild.SealError):
        lichtbild.open_sealed(bytes(broken), identity=k)
    with pytest.raises(lichtbild.SealError):
        lichtbild.open_sealed(b"not an age file", identity=k)
    # A malformed key, or no key / two keys, is the caller's mistake: InvalidOptionsError.
    for kwargs in ({"identity": "AGE-SECRET-KEY-1NONSENSE"}, {}, {"identity": k, "passphrase": "p"}):
        with pytest.raises(lichtbild.InvalidOptionsError):
            lichtbild.open_sealed(sealed, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lichtbild.open_sealed("text", identity=k)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seal_to": ["age1nope"]},
        {"seal_to": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"]},
        {"seal_to": []},
        {"seal_passphrase": ""},
        {"seal_to": ["age1nope"], "seal_passphrase": "both"},
        {"seal_passphrase": "p", "format": "pixels"},
        {"seal_passphrase": "p", "return_landmarks": True},
    ],
)
def test_bad_seal_options(engine: lichtbild.Engine, small_hopper: bytes, kwargs: dict[str, object]) -> None:
    with pytest.raises(lichtbild.InvalidOptionsError) as info:
        engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == "invalid_options"


def test_seal_to_is_a_list_not_a_string(engine: lichtbild.Engine, small_hopper: bytes, tmp_path: Path) -> None:
    r, _ = keygen(tmp_path / "a.txt")
    with pytest.raises(TypeError):
        engine.process(small_hopper, consent=CONSENT, seal_to=r)
    # Any sequence of strings works.
    res = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, seal_to=(r,))
    assert res.image is not None and res.image.startswith(AGE_HEADER)
