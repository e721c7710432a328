"""Every exception class, each from a real cause where Python can cause it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
from conftest import CONSENT, FIXTURES, encode_png
from PIL import Image

import lichtbild

# The specification of the hierarchy: core code -> class name.
EXPECTED = {
    "invalid_input": "InvalidImageError",
    "unsupported_format": "UnsupportedFormatError",
    "too_large": "TooLargeError",
    "no_face": "NoFaceError",
    "multiple_faces": "MultipleFacesError",
    "consent_required": "ConsentRequiredError",
    "invalid_options": "InvalidOptionsError",
    "runtime_not_found": "RuntimeNotFoundError",
    "model_integrity": "ModelIntegrityError",
    "inference": "InferenceError",
    "encode": "EncodeError",
    "cancelled": "CancelledError",
    "sandbox": "SandboxError",
    "seal": "SealError",
    "internal": "InternalError",
    "busy": "BusyError",
    "timeout": "TimeBudgetError",
}


def test_the_table_covers_every_core_code() -> None:
    codes = lichtbild._native._error_codes()
    assert sorted(codes) == sorted(EXPECTED)
    for code in codes:
        cls = lichtbild._native._error_class(code)
        assert cls is getattr(lichtbild, EXPECTED[code])
        assert issubclass(cls, lichtbild.Error) and cls is not lichtbild.Error and cls.code == code
        assert cls.__module__ == "lichtbild" and cls.__doc__
    assert issubclass(lichtbild.InvalidOptionsError, ValueError)
    assert issubclass(lichtbild.TimeBudgetError, TimeoutError)
    assert issubclass(lichtbild.Error, Exception)
    # A code the binding does not know yet still raises the base class.
    assert lichtbild._native._error_class("from_the_future") is lichtbild.Error


def expect(cls: type[lichtbild.Error], fn: Any, *args: Any, **kwargs: Any) -> lichtbild.Error:
    with pytest.raises(cls) as info:
        fn(*args, **kwargs)
    err = info.value
    assert type(err) is cls and err.code == cls.code and str(err)
    return err


def test_truncated_jpeg(engine: lichtbild.Engine, hopper: bytes) -> None:
    expect(lichtbild.InvalidImageError, engine.process, hopper[: len(hopper) // 3], consent=CONSENT)


def test_zero_bytes(engine: lichtbild.Engine) -> None:
    expect(lichtbild.InvalidImageError, engine.process, b"", consent=CONSENT)


def test_unsupported_format(engine: lichtbild.Engine) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "grey").save(buf, "BMP")
    expect(lichtbild.UnsupportedFormatError, engine.process, buf.getvalue(), consent=CONSENT)


def test_too_large(hopper: bytes) -> None:
    small = lichtbild.Engine(workers=1, max_pixels=100_000)
    err = expect(lichtbild.TooLargeError, small.process, hopper, consent=CONSENT)
    assert "100000" in str(err)
    tiny = lichtbild.Engine(workers=1, max_bytes=1000)
    expect(lichtbild.TooLargeError, tiny.process, hopper, consent=CONSENT)


def test_no_face(engine: lichtbild.Engine) -> None:
    blank = encode_png(Image.new("RGB", (480, 600), (200, 200, 200)))
    err = expect(lichtbild.NoFaceError, engine.process, blank, consent=CONSENT)
    assert "no face" in str(err)


def test_multiple_faces(engine: lichtbild.Engine) -> None:
    a = Image.open(FIXTURES / "grace_hopper.jpg").convert("RGB")
    b = Image.open(FIXTURES / "astronaut.png").convert("RGB")
    both = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), "white")
    both.paste(a, (0, 0))
    both.paste(b, (a.width, 0))
    two = encode_png(both)
    err = expect(lichtbild.MultipleFacesError, engine.process, two, consent=CONSENT, multi_face="error")
    assert "2 faces" in str(err)
    # The default policy takes the largest face and says so.
    res = engine.process(two, consent=CONSENT)
    assert any(f.code == "multiple_faces" for f in res.findings)


def test_consent(engine: lichtbild.Engine, hopper: bytes) -> None:
    expect(lichtbild.ConsentRequiredError, engine.process, hopper, consent=lichtbild.Consent(face_geometry=False))
    # Retouching changes how the person looks: it needs the appearance scope too.
    err = expect(lichtbild.ConsentRequiredError, engine.process, hopper, consent=CONSENT, retouch=0.5)
    assert "appearance" in str(err)
    with pytest.raises(TypeError):
        engine.process(hopper)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        engine.process(hopper, consent=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quality": 0},
        {"quality": 1000},
        {"format": "gif"},
        {"preset": "passport-of-atlantis"},
        {"background": "pinkish"},
        {"multi_face": "all"},
        {"retouch": 2.0},
        {"max_kb": 1},
        {"background": "transparent", "format": "jpeg"},
        {"custom_preset": {"name": "broken", "width_px": 0}},
        {"background": "white", "background_image": b"\xff\xd8"},
    ],
)
def test_invalid_options(engine: lichtbild.Engine, hopper: bytes, kwargs: dict[str, Any]) -> None:
    consent = lichtbild.Consent(face_geometry=True, appearance=True)
    err = expect(lichtbild.InvalidOptionsError, engine.process, hopper, consent=consent, **kwargs)
    assert isinstance(err, ValueError)


def test_invalid_engine_settings() -> None:
    expect(lichtbild.InvalidOptionsError, lichtbild.Engine, workers=-1)


def test_encode_error(engine: lichtbild.Engine, hopper: bytes) -> None:
    expect(lichtbild.EncodeError, engine.process, hopper, consent=CONSENT, preset="digital-3x4", max_kb=4)


def test_invalid_pixels(engine: lichtbild.Engine) -> None:
    expect(lichtbild.InvalidImageError, engine.process_array, np.zeros((0, 10, 3), np.uint8), consent=CONSENT)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter: ONNX Runtime loads once per process, so discovery needs a new one."""
    env = {k: v for k, v in os.environ.items() if k != "ORT_DYLIB_PATH"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300)


def test_runtime_not_found() -> None:
    r = run_python(
        """
        import lichtbild
        try:
            lichtbild.Engine(ort_library="/nonexistent/libonnxruntime.so")
        except lichtbild.RuntimeNotFoundError as e:
            print("code", e.code)
            print(e)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "code runtime_not_found" in r.stdout and "/nonexistent/libonnxruntime.so" in r.stdout


def test_runtime_found_in_the_onnxruntime_wheel_without_importing_it() -> None:
    r = run_python(
        """
        import sys, lichtbild
        e = lichtbild.Engine(workers=1)
        print(e.runtime["library"])
        print(lichtbild._onnxruntime_library())
        print("onnxruntime" in sys.modules)
        """
    )
    assert r.returncode == 0, r.stderr
    used, found, imported = r.stdout.split()
    assert "/onnxruntime/capi/libonnxruntime.so." in found and os.path.samefile(used, found)
    assert imported == "False"
