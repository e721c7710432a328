"""Real photos through the installed package: sizes, dpi, formats, numpy and Pillow paths."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import CONSENT, FIXTURES, SMALL
from PIL import Image

import lichtbild


def test_headshot_has_the_presets_size_and_dpi(engine: lichtbild.Engine, hopper: bytes) -> None:
    res = engine.process(hopper, consent=CONSENT, preset="bewerbung-45x60", background="studio-grey")
    assert res.format == "jpeg" and res.pixels is None and res.image is not None
    im = Image.open(io.BytesIO(res.image))
    assert im.format == "JPEG"
    assert im.size == (531, 709) == (res.width, res.height)
    assert tuple(round(d) for d in im.info["dpi"]) == (300, 300) and res.dpi == 300
    assert res.receipt["output"]["width"] == 531 and res.receipt["preset"] == "bewerbung-45x60"
    assert res.receipt["consent"] == ["face_geometry"]
    assert all(isinstance(f, lichtbild.Finding) and f.severity in ("info", "warning", "critical") for f in res.findings)
    assert res.landmarks is None


def test_receipt_shows_the_sandbox_and_the_wiping_allocator(engine: lichtbild.Engine, small_hopper: bytes) -> None:
    # The workers confine themselves (seccomp + Landlock) on Linux, and the extension installs
    # lichtbild.WipeOnFree as its global allocator, so every block freed on a worker is zeroed.
    res = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL)
    assert res.receipt["sandbox"]["enforced"] is True, res.receipt["sandbox"]
    assert any("seccomp" in m for m in res.receipt["sandbox"]["mechanisms"])
    assert res.receipt["freed_memory"].startswith("all wiped"), res.receipt["freed_memory"]
    unconfined = lichtbild.Engine(workers=1, sandbox=False).process(small_hopper, consent=CONSENT, custom_preset=SMALL)
    assert unconfined.receipt["sandbox"]["enforced"] is False
    assert unconfined.receipt["freed_memory"].startswith("all wiped")


def test_png_webp_and_landmarks(engine: lichtbild.Engine, astronaut: bytes) -> None:
    res = engine.process(astronaut, consent=CONSENT, preset="linkedin", format="png", return_landmarks=True)
    assert res.image is not None
    im = Image.open(io.BytesIO(res.image))
    assert (im.format, im.size) == ("PNG", (800, 800))
    assert tuple(round(d) for d in im.info["dpi"]) == (72, 72)
    assert res.landmarks is not None and len(res.landmarks) == 468
    assert all(0 <= x <= 800 and 0 <= y <= 800 for x, y in res.landmarks)
    webp = engine.process(astronaut, consent=CONSENT, preset="linkedin", format="webp", quality=80)
    assert webp.image is not None and Image.open(io.BytesIO(webp.image)).format == "WEBP"


def test_bytearray_memoryview_and_background_image(engine: lichtbild.Engine, small_hopper: bytes, astronaut: bytes) -> None:
    a = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, format="pixels")
    b = engine.process(bytearray(small_hopper), consent=CONSENT, custom_preset=SMALL, format="pixels")
    c = engine.process(memoryview(small_hopper), consent=CONSENT, custom_preset=SMALL, format="pixels")
    assert a.pixels is not None and b.pixels is not None and c.pixels is not None
    assert np.array_equal(a.pixels, b.pixels) and np.array_equal(a.pixels, c.pixels)
    bg = engine.process(small_hopper, consent=CONSENT, custom_preset=SMALL, format="pixels", background_image=astronaut)
    assert bg.pixels is not None and not np.array_equal(bg.pixels, a.pixels)
    with pytest.raises(TypeError):
        engine.process("not bytes", consent=CONSENT)  # type: ignore[arg-type]


def test_numpy_path_equals_bytes_path(engine: lichtbild.Engine, astronaut: bytes) -> None:
    # PNG decodes to the same pixels in Pillow and in the core, so both paths see one picture.
    rgb = np.asarray(Image.open(FIXTURES / "astronaut.png").convert("RGB"))
    assert rgb.dtype == np.uint8 and rgb.flags["C_CONTIGUOUS"]
    via_bytes = engine.process(astronaut, consent=CONSENT, format="pixels").pixels
    via_array = engine.process_array(rgb, consent=CONSENT)
    assert via_bytes is not None
    assert via_array.shape == (709, 531, 4) and via_array.dtype == np.uint8
    assert np.array_equal(via_array, via_bytes)
    # A row-strided view (read in place) and a Fortran-ordered copy (copied once) give the same.
    padded = np.zeros((rgb.shape[0], rgb.shape[1] + 7, 4), np.uint8)
    padded[:, : rgb.shape[1], :3] = rgb
    padded[..., 3] = 255
    view = padded[:, : rgb.shape[1]]
    assert not view.flags["C_CONTIGUOUS"]
    assert np.array_equal(engine.process_array(view, consent=CONSENT), via_bytes)
    assert np.array_equal(engine.process_array(np.asfortranarray(rgb), consent=CONSENT), via_bytes)


def test_uint16_and_float32_arrays(engine: lichtbild.Engine) -> None:
    rgb = np.asarray(Image.open(FIXTURES / "astronaut.png").convert("RGB"))
    ref = engine.process_array(rgb, consent=CONSENT, custom_preset=SMALL).astype(np.int16)
    for arr in (rgb.astype(np.uint16) * 257, rgb.astype(np.float32) / 255.0):
        out = engine.process_array(arr, consent=CONSENT, custom_preset=SMALL)
        assert out.shape == (160, 120, 4) and out.dtype == np.uint8
        # Same picture at higher precision: at most rounding differences.
        assert np.abs(out.astype(np.int16) - ref).mean() < 2.0
    with pytest.raises(TypeError):
        engine.process_array(rgb.astype(np.int64), consent=CONSENT)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        engine.process_array(rgb[..., 0], consent=CONSENT)


def test_pillow_in_and_out(engine: lichtbild.Engine) -> None:
    src = Image.open(FIXTURES / "grace_hopper.jpg")
    out = engine.process_pil(src, consent=CONSENT, preset="bewerbung-40x50", background="white")
    assert isinstance(out, Image.Image)
    assert (out.mode, out.size, out.info["dpi"]) == ("RGBA", (472, 591), (300, 300))
    # A greyscale image is converted, not refused.
    grey = engine.process_pil(src.convert("L"), consent=CONSENT, custom_preset=SMALL)
    assert grey.size == (120, 160)


def test_presets_and_custom_preset(engine: lichtbild.Engine, small_hopper: bytes) -> None:
    presets = lichtbild.presets()
    by_name = {p["name"]: p for p in presets}
    assert (by_name["bewerbung-45x60"]["width_px"], by_name["bewerbung-45x60"]["height_px"], by_name["bewerbung-45x60"]["dpi"]) == (531, 709, 300)
    assert {"linkedin", "xing", "biometric-35x45"} <= by_name.keys()
    custom = dict(by_name["linkedin"], name="tiny-square", width_px=200, height_px=200, dpi=150)
    res = engine.process(small_hopper, consent=CONSENT, custom_preset=custom)
    assert res.image is not None
    im = Image.open(io.BytesIO(res.image))
    assert im.size == (200, 200) and tuple(round(d) for d in im.info["dpi"]) == (150, 150)
    assert res.receipt["preset"] == "tiny-square"


def test_retouch_with_appearance_consent(engine: lichtbild.Engine, small_hopper: bytes) -> None:
    both = lichtbild.Consent(face_geometry=True, appearance=True)
    plain = engine.process(small_hopper, consent=both, custom_preset=SMALL, format="pixels")
    retouched = engine.process(small_hopper, consent=both, custom_preset=SMALL, format="pixels", retouch=1.0)
    assert retouched.receipt["retouched"] is True and plain.receipt["retouched"] is False
    assert plain.pixels is not None and retouched.pixels is not None
    assert not np.array_equal(plain.pixels, retouched.pixels)


def test_consent_value_class() -> None:
    c = lichtbild.Consent(face_geometry=True)
    assert (c.face_geometry, c.appearance) == (True, False)
    assert c == lichtbild.Consent(True, False) and hash(c) == hash(lichtbild.Consent(True))
    assert repr(c) == "Consent(face_geometry=True, appearance=False)"
    with pytest.raises(TypeError):
        lichtbild.Consent()  # type: ignore[call-arg]
