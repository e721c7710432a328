"""Shared fixtures. The suite runs against the INSTALLED wheel: conftest refuses a source-tree import."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

import lichtbild

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"

if Path(lichtbild.__file__).resolve().is_relative_to(REPO / "bindings-python"):
    raise RuntimeError(f"lichtbild imported from the source tree ({lichtbild.__file__}), not the installed wheel")

CONSENT = lichtbild.Consent(face_geometry=True)
# A small preset keeps the loops (threads, RSS) fast; the geometry is the application photo's.
SMALL = dict(lichtbild.presets()[0], name="small-test", width_px=120, height_px=160, dpi=100)


@pytest.fixture(scope="session")
def engine() -> Iterator[lichtbild.Engine]:
    e = lichtbild.Engine(workers=2)
    yield e


@pytest.fixture(scope="session")
def hopper() -> bytes:
    return (FIXTURES / "grace_hopper.jpg").read_bytes()


@pytest.fixture(scope="session")
def astronaut() -> bytes:
    return (FIXTURES / "astronaut.png").read_bytes()


@pytest.fixture(scope="session")
def small_hopper() -> bytes:
    """The portrait at half size as JPEG: a small input for the loops."""
    im = Image.open(FIXTURES / "grace_hopper.jpg").convert("RGB")
    im = im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def encode_png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


assert sys.version_info >= (3, 9)
