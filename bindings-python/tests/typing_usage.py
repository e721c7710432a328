"""Typed use of the public API, checked with `mypy --strict` against the installed stubs (not run)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

import lichtbild


def headshot(engine: lichtbild.Engine, photo: bytes) -> tuple[bytes, list[str], dict[str, Any]]:
    res: lichtbild.Result = engine.process(photo, consent=lichtbild.Consent(face_geometry=True), background="white", quality=90)
    image: bytes | None = res.image
    assert image is not None
    codes = [f.code for f in res.findings if f.value is None or f.value > 0.0]
    return image, codes, res.receipt


def arrays(engine: lichtbild.Engine, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return engine.process_array(rgb, consent=lichtbild.Consent(True, appearance=True), retouch=0.3)


def pil(engine: lichtbild.Engine, img: Image.Image) -> Image.Image:
    return engine.process_pil(img, consent=lichtbild.Consent(face_geometry=True), preset="linkedin")


def many(photos: list[bytes]) -> list[int]:
    engine = lichtbild.Engine(workers=2, max_pixels=40_000_000)
    custom: dict[str, Any] = dict(lichtbild.presets()[0], name="mine", width_px=300, height_px=400)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: engine.process(p, consent=lichtbild.Consent(True), custom_preset=custom), photos))
    return [r.width * r.height for r in results]


def errors(engine: lichtbild.Engine, photo: bytes) -> str:
    try:
        engine.process(photo, consent=lichtbild.Consent(face_geometry=True), multi_face="error")
    except lichtbild.NoFaceError as e:
        return e.code
    except lichtbild.InvalidOptionsError as e:
        return str(e)
    except lichtbild.Error as e:
        return e.code
    return "ok"


def sealed(engine: lichtbild.Engine, photo: bytes, recipients: list[str], identity: str) -> bytes:
    res = engine.process(photo, consent=lichtbild.Consent(face_geometry=True), seal_to=recipients)
    assert res.image is not None
    try:
        return lichtbild.open_sealed(res.image, identity=identity)
    except lichtbild.SealError as e:
        raise RuntimeError(e.code) from e


def sealed_with_passphrase(engine: lichtbild.Engine, photo: bytes, passphrase: str) -> bytes | None:
    try:
        res = engine.process(photo, consent=lichtbild.Consent(True), seal_passphrase=passphrase, format="png")
    except lichtbild.SandboxError:
        return None
    return res.image
