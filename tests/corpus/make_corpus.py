"""Builds the bad-input corpus (issue 9) from the two public-domain fixtures, deterministically.

    .venv/bin/python tests/corpus/make_corpus.py OUT_DIR      (make corpus-data: target/corpus)

Writes OUT_DIR/files/* and OUT_DIR/manifest.json: a JSON array with ONE CASE PER LINE (so the C
test can read it line by line without a JSON library). Every case is run through
`Engine::process` with the default engine limits, the default preset (bewerbung-45x60, 531x709
JPEG) and face_geometry consent, by the Rust test (core/tests/corpus.rs) and by each binding's
corpus test. Fields:

  id        unique name, "<group>/<case>"
  file      path relative to OUT_DIR
  expect    "ok", or the error code (ErrorKind::code()) the core must return. A few byte-flip
            cases in checksum-free entropy-coded data list alternatives ("ok|no_face|invalid_input"):
            a flipped bit there may or may not make the picture undecodable, and either is correct;
            what they check is that the answer is typed (no panic, no hang, no `internal`).
  width, height        (ok only) size of the headshot
  absent_findings      (ok only) finding codes that must NOT be reported (e.g. roll_too_large:
                       an orientation applied wrongly shows up as a 90/180 degree roll)
  metadata             (ok only) kinds the receipt's metadata_removed must list
  why       what the case is about

Files are generated at test time into target/ (never committed), so there is nothing to drift.
The minimised fuzzer crashers that were fixed live in tests/corpus/regressions/ (committed) and are
added to the manifest from tests/corpus/regressions.json. Randomness comes from one seeded RNG.
Expected outcomes follow from how each file is built (the format specs), never from running lichtbild.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SEED = 20261127
HEADSHOT = (531, 709)  # bewerbung-45x60

rng = random.Random(SEED)
cases: list[dict] = []
out_dir: Path


def add(cid: str, data: bytes, ext: str, expect: str, why: str, **extra) -> None:
    name = cid.replace("/", "__") + "." + ext
    (out_dir / "files" / name).write_bytes(data)
    case = {"id": cid, "file": "files/" + name, "expect": expect}
    if expect == "ok":
        case.update(width=HEADSHOT[0], height=HEADSHOT[1], absent_findings=extra.pop("absent", []),
                    metadata=extra.pop("metadata", []))
    assert not extra, extra
    case["why"] = why
    cases.append(case)


def ok(cid: str, data: bytes, ext: str, why: str, **extra) -> None:
    add(cid, data, ext, "ok", why, **extra)


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


# --- raw container writers (for what Pillow will not write) --------------------------------------

def png_chunk(ty: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ty + data + struct.pack(">I", zlib.crc32(ty + data) & 0xFFFFFFFF)


def png_raw(w: int, h: int, color_type: int, depth: int, rows: bytes | None, extra: list[bytes] = (),
            idat: bytes | None = None) -> bytes:
    """A PNG from filter-0 scanlines (`rows` without the filter bytes) or a given IDAT payload."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    if idat is None:
        stride = len(rows) // h
        raw = b"".join(b"\0" + rows[y * stride:(y + 1) * stride] for y in range(h))
        idat = zlib.compress(raw, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + b"".join(extra) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start of the length field, end after the CRC) for every chunk."""
    out, i = [], 8
    while i + 8 <= len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        out.append((data[i + 4:i + 8], i, i + 12 + n))
        i += 12 + n
    return out


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset of FF, end) of the marker segments up to and including the first SOS."""
    out, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        m = data[i + 1]
        n = struct.unpack(">H", data[i + 2:i + 4])[0]
        out.append((m, i, i + 2 + n))
        i += 2 + n
        if m == 0xDA:
            break
    return out


def with_app1_exif(jpeg: bytes, tiff: bytes) -> bytes:
    payload = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xFF\xE1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def tiff(entries: list[tuple[int, int, int, bytes]], next_ifd: int = 0, ifd0: int = 8, tail: bytes = b"",
         count_override: int | None = None) -> bytes:
    """Little-endian TIFF: header, IFD0 at `ifd0` with (tag, type, count, 4-byte value) entries."""
    t = b"II*\0" + struct.pack("<I", ifd0)
    t += b"\0" * max(0, 8 - len(t))
    n = len(entries) if count_override is None else count_override
    t += struct.pack("<H", n)
    for tag, ty, count, value in entries:
        t += struct.pack("<HHI", tag, ty, count) + value.ljust(4, b"\0")[:4]
    return t + struct.pack("<I", next_ifd) + tail


def u16v(v: int) -> bytes:
    return struct.pack("<H", v) + b"\0\0"


def u32v(v: int) -> bytes:
    return struct.pack("<I", v)


# --- the inputs -----------------------------------------------------------------------------------

def build() -> None:
    hopper_jpg = (FIXTURES / "grace_hopper.jpg").read_bytes()
    astro_png = (FIXTURES / "astronaut.png").read_bytes()
    hopper = Image.open(io.BytesIO(hopper_jpg)).convert("RGB")   # 512x600
    astro = Image.open(io.BytesIO(astro_png)).convert("RGB")     # 512x512
    ha = np.asarray(hopper)

    # Derived encodings of the portrait, each a valid file the truncation and flip cases start from.
    progressive = encode(hopper, "JPEG", quality=90, progressive=True)
    webp_lossy = encode(hopper, "WEBP", quality=80)
    webp_lossless = encode(hopper, "WEBP", lossless=True)
    gif = encode(hopper.quantize(256), "GIF")

    # == Success: formats and pixel layouts that must all give the headshot ======================
    t = Image.Transpose
    inverse = {1: None, 2: t.FLIP_LEFT_RIGHT, 3: t.ROTATE_180, 4: t.FLIP_TOP_BOTTOM, 5: t.TRANSPOSE,
               6: t.ROTATE_90, 7: t.TRANSVERSE, 8: t.ROTATE_270}

    def stored(n: int) -> Image.Image:
        return hopper if inverse[n] is None else hopper.transpose(inverse[n])

    def exif_orient(n: int) -> bytes:
        e = Image.Exif()
        e[0x0112] = n
        return e.tobytes()

    # The portrait's own eye line is tilted ~2.3 degrees (roll_corrected is expected); a wrong
    # 90 or 180 degree turn would be roll_too_large (or no face at all).
    no_roll = ["roll_too_large"]
    for n in range(1, 9):
        ok(f"orientation/jpeg-{n}", encode(stored(n), "JPEG", quality=92, exif=exif_orient(n)), "jpg",
           f"pixels stored transformed, EXIF orientation {n} turns them upright: same headshot, no roll",
           absent=no_roll, metadata=["exif"])
    ok("orientation/png-6", encode(stored(6), "PNG", exif=exif_orient(6)), "png",
       "orientation 6 in a PNG eXIf chunk", absent=no_roll, metadata=["exif"])
    ok("orientation/webp-8", encode(stored(8), "WEBP", quality=90, exif=exif_orient(8)), "webp",
       "orientation 8 in a WebP EXIF chunk", absent=no_roll, metadata=["exif"])

    # Small photos (also the pipeline fuzzer's seeds, under its 256x256 pixel limit): enlarged.
    small = hopper.resize((128, 150), Image.Resampling.LANCZOS)
    for fmt, ext, kw in [("JPEG", "jpg", {"quality": 90}), ("PNG", "png", {}), ("WEBP", "webp", {"quality": 90})]:
        ok(f"small/hopper-128x150-{ext}", encode(small, fmt, **kw), ext, "a 128x150 portrait: found and enlarged",
           absent=["roll_too_large"])
    ok("small/astronaut-128-gif", encode(astro.resize((128, 128), Image.Resampling.LANCZOS).quantize(256), "GIF"), "gif",
       "a 128x128 GIF portrait", absent=["roll_too_large"])

    # CMYK (Adobe APP14 transform 0, inverted) and YCCK (transform 2): see core/tests/data.
    ok("colour/cmyk-jpeg", encode(hopper.convert("CMYK"), "JPEG", quality=92), "jpg", "CMYK JPEG (Pillow, Adobe inverted)")
    c = 255.0 - ha.astype(np.float64)            # ink amounts C, M, Y (K = 0)
    y = 0.299 * c[..., 0] + 0.587 * c[..., 1] + 0.114 * c[..., 2]
    cb = -0.168736 * c[..., 0] - 0.331264 * c[..., 1] + 0.5 * c[..., 2] + 128
    cr = 0.5 * c[..., 0] - 0.418688 * c[..., 1] - 0.081312 * c[..., 2] + 128
    ycc = np.clip(np.rint(np.stack([y, cb, cr], -1)), 0, 255).astype(np.uint8)
    ycck = np.concatenate([255 - ycc, np.zeros(ycc.shape[:2] + (1,), np.uint8)], -1)
    data = bytearray(encode(Image.fromarray(ycck, "CMYK"), "JPEG", quality=92))
    a = data.find(b"Adobe")
    assert a > 0 and data[a + 11] == 0
    data[a + 11] = 2  # APP14 transform: YCCK
    ok("colour/ycck-jpeg", bytes(data), "jpg", "YCCK JPEG (APP14 transform patched to 2 after a YCC transform)")

    # PNG pixel layouts (written by hand where Pillow cannot: 16-bit RGB / RGBA).
    ha16 = ha.astype(">u2") * 257
    ok("png/rgb16", png_raw(512, 600, 2, 16, ha16.tobytes()), "png", "16-bit RGB PNG")
    alpha = np.full(ha.shape[:2] + (1,), 65535, ">u2")
    alpha[:40, :40] = 0  # a transparent corner, composited over grey
    ok("png/rgba16", png_raw(512, 600, 6, 16, np.concatenate([ha16, alpha], -1).tobytes()), "png", "16-bit RGBA PNG")
    grey = np.asarray(hopper.convert("L"))
    ok("png/grey16", png_raw(512, 600, 0, 16, (grey.astype(">u2") * 257).tobytes()), "png", "16-bit greyscale PNG")
    ok("png/palette", encode(hopper.quantize(256), "PNG"), "png", "8-bit palette PNG")
    ok("png/palette-trns", encode(hopper.quantize(16), "PNG", transparency=0), "png", "4-bit palette PNG with tRNS")
    la = Image.merge("LA", [hopper.convert("L"), Image.new("L", hopper.size, 255)])
    la.paste((0, 0), (0, 0, 60, 60))
    ok("png/grey-alpha", encode(la, "PNG"), "png", "greyscale + alpha PNG with a transparent corner")
    ok("png/grey1bit", encode(hopper.convert("1"), "PNG"), "png", "1-bit (dithered) PNG")

    # Animations: the first frame is the portrait, the second a grey card.
    card = Image.new("RGB", hopper.size, (128, 128, 128))
    ok("animation/webp", encode(hopper, "WEBP", save_all=True, append_images=[card], duration=100, loop=0, quality=85),
       "webp", "animated WebP: the first frame is used")
    ok("animation/gif", encode(hopper.quantize(256), "GIF", save_all=True, append_images=[card.quantize(4)], duration=100, loop=0),
       "gif", "animated GIF: the first frame is used")

    # Malformed EXIF: never fatal, never a wrong rotation, still inventoried as EXIF.
    plain = encode(hopper, "JPEG", quality=92)
    artist = (0x013B, 2, 8, u32v(0x40))
    orient1 = (0x0112, 3, 1, u16v(1))
    bad_exif = {
        "ifd-loop": (tiff([orient1, (0x8769, 4, 1, u32v(8)), (0x8825, 4, 1, u32v(8))], next_ifd=8),
                     "IFD0 names itself as Exif IFD, GPS IFD and next IFD"),
        "count-past-end": (tiff([orient1, (0x013B, 2, 0xFFFFFFF0, u32v(0x20))]), "an ASCII entry whose count runs past the end"),
        "offset-past-end": (tiff([orient1, artist], tail=b"x" * 8) [:8] + b"\0" * 4, "IFD0 offset beyond the data"),
        "ifd0-offset-huge": (b"II*\0" + u32v(0xFFFFFF00), "IFD0 at 0xFFFFFF00"),
        "wrong-type-orientation": (tiff([(0x0112, 2, 4, b"6\0\0\0")]), "orientation stored as ASCII \"6\": ignored"),
        "orientation-9": (tiff([(0x0112, 3, 1, u16v(9))]), "orientation 9 (out of range): treated as 1"),
        "orientation-0xffff": (tiff([(0x0112, 3, 1, u16v(0xFFFF))]), "orientation 65535: treated as 1"),
        "entries-past-end": (tiff([orient1], count_override=0xFFFF), "IFD0 claims 65535 entries in 20 bytes"),
        "bad-byte-order": (b"XX*\0" + u32v(8) + b"\0" * 6, "neither II nor MM"),
        "truncated-header": (b"II*", "a 3-byte TIFF header"),
        "subifd-nowhere": (tiff([orient1, (0x8769, 4, 1, u32v(0x7FFFFFF0)), (0x8825, 4, 1, u32v(0xFFFFFFFF))]),
                           "Exif and GPS IFD pointers past the end"),
        "wrong-type-rational-orientation": (tiff([(0x0112, 5, 1, u32v(0x100))]), "orientation with type RATIONAL pointing past the end"),
    }
    for name, (t_, why) in bad_exif.items():
        ok(f"exif/{name}", with_app1_exif(plain, t_), "jpg", f"malformed EXIF ({why}): ignored, upright",
           absent=no_roll, metadata=["exif"])
    # Valid orientation 6 followed by a broken IFD1: the valid part must still count.
    t6 = tiff([(0x0112, 3, 1, u16v(6))], next_ifd=8)
    ok("exif/orientation-6-ifd1-loop", with_app1_exif(encode(stored(6), "JPEG", quality=92), t6), "jpg",
       "orientation 6 in IFD0 whose next-IFD pointer loops back to IFD0: still applied", absent=no_roll, metadata=["exif"])
    ok("exif/png-ifd-loop", encode(hopper, "PNG", exif=b"Exif\0\0" + bad_exif["ifd-loop"][0]), "png",
       "the self-referencing IFD in a PNG eXIf chunk", absent=no_roll, metadata=["exif"])

    # == No face: valid pictures with nothing to find ============================================
    px1 = Image.new("RGB", (1, 1), (200, 150, 120))
    add("tiny/1x1-jpeg", encode(px1, "JPEG"), "jpg", "no_face", "a 1x1 JPEG")
    add("tiny/1x1-png", encode(px1, "PNG"), "png", "no_face", "a 1x1 PNG")
    add("tiny/1x1-gif", encode(px1, "GIF"), "gif", "no_face", "a 1x1 GIF")
    add("tiny/1x1-webp", encode(px1, "WEBP", lossless=True), "webp", "no_face", "a 1x1 WebP")
    add("tiny/100000x1-png", png_raw(100000, 1, 0, 8, bytes(range(256)) * 390 + bytes(160)), "png", "no_face", "a 100000x1 line")
    add("tiny/1x100000-png", png_raw(1, 100000, 0, 8, bytes(100000)), "png", "no_face", "a 1x100000 column")
    add("tiny/65500x1-jpeg", encode(Image.new("L", (65500, 1), 90), "JPEG"), "jpg", "no_face", "a 65500x1 JPEG (scaled decode of a line)")
    add("tiny/grey-card", encode(card, "PNG"), "png", "no_face", "a flat grey picture")

    # == Bombs: huge declared size, tiny payload ==================================================
    add("bomb/png-100000x100000", png_raw(100000, 100000, 2, 8, None, idat=zlib.compress(b"\0" * 1000)), "png",
        "too_large", "IHDR declares 10^10 pixels")
    sof = struct.pack(">BHHB", 8, 65000, 65000, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    add("bomb/jpeg-65000x65000", b"\xFF\xD8\xFF\xC0" + struct.pack(">H", len(sof) + 2) + sof + b"\xFF\xD9", "jpg",
        "too_large", "SOF0 declares 65000x65000")
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (99999).to_bytes(3, "little") * 2
    add("bomb/webp-vp8x-100000", b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x, "webp",
        "too_large", "VP8X canvas 100000x100000")
    bits = (16383) | (16383 << 14)
    vp8l = b"VP8L" + struct.pack("<I", 5) + b"\x2F" + struct.pack("<I", bits) + b"\0"
    add("bomb/webp-vp8l-16384", b"RIFF" + struct.pack("<I", 4 + len(vp8l)) + b"WEBP" + vp8l, "webp",
        "too_large", "VP8L 16384x16384 (one pixel row over the default limit of 16383^2)")
    add("bomb/gif-65535", b"GIF89a\xff\xff\xff\xff\0\0\0" + b"," + b"\0" * 8 + b"\xff\xff\xff\xff\0\x02\x02\x4c\x01\0;", "gif",
        "too_large", "GIF screen 65535x65535")
    add("bomb/png-8000x8000-tiny-idat", png_raw(8000, 8000, 2, 8, None, idat=zlib.compress(b"\0" * 1000)), "png",
        "invalid_input", "64 Mpx declared (under the limit), 1000 bytes of image data: refused, not padded")
    add("bomb/gif-8000x8000-tiny", b"GIF89a" + struct.pack("<HH", 8000, 8000) + b"\0\0\0," + struct.pack("<HHHH", 0, 0, 8000, 8000)
        + b"\0\x02\x02\x4c\x01\0;", "gif", "invalid_input", "64 Mpx GIF with one pixel of data")

    # == Not an image / unsupported ===============================================================
    add("garbage/empty", b"", "bin", "invalid_input", "0 bytes")
    add("garbage/zeros-8", bytes(8), "bin", "invalid_input", "8 zero bytes: too short to be an image")
    add("garbage/zeros-4096", bytes(4096), "bin", "unsupported_format", "4096 zero bytes")
    for i in range(3):
        add(f"garbage/random-{i}", bytes(rng.getrandbits(8) for _ in range(4096 << i)), "bin", "unsupported_format", "random bytes")
    add("garbage/png-signature-random", b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(2048)), "png",
        "invalid_input", "PNG signature, then noise (no IHDR)")
    add("garbage/jpeg-soi-only", b"\xFF\xD8\xFF", "jpg", "invalid_input", "just SOI")
    add("garbage/jpeg-soi-eoi", b"\xFF\xD8\xFF\xD9", "jpg", "invalid_input", "SOI, EOI, nothing else")
    add("garbage/riff-not-webp", b"RIFF\x24\0\0\0WAVEfmt " + bytes(32), "bin", "unsupported_format", "a RIFF WAVE file")
    add("unsupported/bmp", encode(hopper, "BMP"), "bmp", "unsupported_format", "BMP")
    add("unsupported/tiff", encode(hopper, "TIFF"), "tif", "unsupported_format", "TIFF")
    add("unsupported/heic-ftyp", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64), "heic", "unsupported_format", "HEIC box header")
    add("unsupported/pdf", b"%PDF-1.7\n" + bytes(64), "pdf", "unsupported_format", "PDF")
    for m, what in [(0xC1, "12-bit extended"), (0xC9, "arithmetic-coded")]:
        j = bytearray(plain)
        s = next(o for mk, o, _ in jpeg_segments(plain) if mk == 0xC0)
        j[s + 1] = m
        if m != 0xC9:
            j[s + 4] = 12
        add(f"unsupported/jpeg-{what.split()[0]}", bytes(j), "jpg", "unsupported_format", f"a {what} JPEG frame (SOF{m - 0xC0:X})")
    j = bytearray(plain)
    s = next(o for mk, o, _ in jpeg_segments(plain) if mk == 0xC0)
    j[s + 5:s + 7] = b"\0\0"
    add("unsupported/jpeg-dnl-height-0", bytes(j), "jpg", "unsupported_format", "SOF height 0 (DNL)")
    png_cmyk_like = bytearray(png_raw(4, 4, 2, 8, bytes(48)))
    png_cmyk_like[25] = 5  # colour type 5 does not exist
    png_cmyk_like[29:33] = struct.pack(">I", zlib.crc32(bytes(png_cmyk_like[12:29])) & 0xFFFFFFFF)
    add("garbage/png-colour-type-5", bytes(png_cmyk_like), "png", "invalid_input", "IHDR colour type 5 (undefined)")
    z = bytearray(png_raw(4, 4, 2, 8, bytes(48)))
    z[16:20] = b"\0\0\0\0"
    add("garbage/png-width-0", bytes(z), "png", "invalid_input", "IHDR width 0")

    # == Truncated at many cut points ==============================================================
    def cuts(n: int, end: int, k: int = 12) -> list[int]:
        """k cut points in (0, end): the first bytes, then spread evenly; `end` is where the
        image data ends (after it a cut may legitimately decode)."""
        fixed = [1, 2, 3, 4, 8, 12, 20, 30]
        spread = sorted({int(end * f) for f in np.linspace(0.05, 0.98, k)})
        return sorted({c for c in fixed + spread if 0 < c < end})

    def jpeg_data_end(d: bytes) -> int:
        return d.rindex(b"\xFF\xD9")

    for name, d, ext in [("jpeg-baseline", hopper_jpg, "jpg"), ("jpeg-progressive", progressive, "jpg")]:
        for cut in cuts(len(d), jpeg_data_end(d) - 16):
            add(f"truncated/{name}-{cut}", d[:cut], ext, "invalid_input", f"cut at byte {cut} of {len(d)}")
    idat_end = max(e for ty, _, e in png_chunks(astro_png) if ty == b"IDAT")
    for cut in cuts(len(astro_png), idat_end - 1):
        add(f"truncated/png-{cut}", astro_png[:cut], "png", "invalid_input", f"cut at byte {cut} of {len(astro_png)}")
    for name, d in [("webp-lossy", webp_lossy), ("webp-lossless", webp_lossless)]:
        for cut in cuts(len(d), len(d) - 1):
            add(f"truncated/{name}-{cut}", d[:cut], "webp", "invalid_input", f"cut at byte {cut} of {len(d)}")
    for cut in cuts(len(gif), len(gif) - 2, 8):
        add(f"truncated/gif-{cut}", gif[:cut], "gif", "invalid_input", f"cut at byte {cut} of {len(gif)}")

    # == Flipped and zeroed bytes ==================================================================
    # PNG: every chunk is CRC-checked, so any flip in IHDR or IDAT (length, type, data or CRC)
    # makes the file invalid.
    spans = [(s, e) for ty, s, e in png_chunks(astro_png) if ty in (b"IHDR", b"IDAT")]
    for i in range(10):
        s, e = rng.choice(spans)
        pos = rng.randrange(s, e)
        d = bytearray(astro_png)
        d[pos] ^= 1 << rng.randrange(8)
        add(f"flipped/png-bit-{pos}", bytes(d), "png", "invalid_input", f"one bit flipped at {pos} (in a CRC-checked chunk)")
    idats = [(s, e) for s, e in spans if e - s > 256]
    for i in range(3):
        s, e = rng.choice(idats)
        pos = rng.randrange(s, e - 64)
        d = bytearray(astro_png)
        d[pos:pos + 64] = bytes(64)
        add(f"zeroed/png-{pos}", bytes(d), "png", "invalid_input", f"64 bytes zeroed at {pos}")
    # JPEG header corruptions with a definite outcome.
    segs = {m: (o, e) for m, o, e in reversed(jpeg_segments(plain))}

    def patched(off: int, b: bytes) -> bytes:
        d = bytearray(plain)
        d[off:off + len(b)] = b
        return bytes(d)

    sof, sos, dqt, dht = segs[0xC0][0], segs[0xDA][0], segs[0xDB][0], segs[0xC4][0]
    for name, data, why in [
        ("sof-no-components", patched(sof + 9, b"\0"), "SOF with 0 components"),
        ("sof-5-components", patched(sof + 9, b"\x05"), "SOF claims 5 components, has 3"),
        ("sof-sampling-0", patched(sof + 11, b"\x00"), "a component with sampling factor 0"),
        ("sos-unknown-component", patched(sos + 5, b"\x09"), "SOS names a component that does not exist"),
        ("dqt-table-id-9", patched(dqt + 4, b"\x09"), "DQT with table id 9 (at most 3)"),
        ("dht-counts-overflow", patched(dht + 5, b"\xFF" * 16), "DHT code counts summing far past 256"),
        ("segment-length-1", patched(segs[0xDB][0] + 2, b"\x00\x01"), "a segment length of 1 (below the minimum 2)"),
    ]:
        add(f"flipped/jpeg-{name}", data, "jpg", "invalid_input", why)
    # libjpeg-turbo, like every libjpeg, falls back on the standard Huffman tables of the JPEG
    # spec when a scan's table was never defined (Motion-JPEG frames carry none), and this file
    # was written with exactly those: the picture is intact.
    ok("flipped/jpeg-sos-missing-tables", plain[:dht] + plain[segs[0xC4][1]:], "jpg",
       "the first Huffman table removed: the standard tables it was written with stand in")
    # Entropy-coded data has no checksum: a flipped bit may or may not make it undecodable.
    scan = segs[0xDA][1]
    for i in range(3):
        d = bytearray(plain)
        for _ in range(4):
            pos = rng.randrange(scan, len(plain) - 2)
            d[pos] ^= 1 << rng.randrange(8)
        add(f"flipped/jpeg-scan-{i}", bytes(d), "jpg", "ok|no_face|invalid_input", "4 bits flipped in the entropy-coded data")
    # WebP: header fields with a definite outcome.
    vp8l_at = webp_lossless.index(b"VP8L")
    d = bytearray(webp_lossless)
    d[vp8l_at + 8] = 0x2E
    add("flipped/webp-vp8l-signature", bytes(d), "webp", "invalid_input", "VP8L signature byte 0x2F changed")
    vp8_at = webp_lossy.index(b"VP8 ")
    d = bytearray(webp_lossy)
    d[vp8_at + 11] ^= 0xFF
    add("flipped/webp-vp8-start-code", bytes(d), "webp", "invalid_input", "VP8 start code damaged")
    d = bytearray(webp_lossy)
    d[vp8_at + 4:vp8_at + 8] = struct.pack("<I", 0xFFFFFFF0)
    ok("flipped/webp-chunk-size-huge", bytes(d), "webp", "VP8 chunk size 4 GiB in a small file: the whole frame is there, "
       "and the decoder reads it (like a file with trailing garbage)")
    d = bytearray(webp_lossy)
    d[12:16] = b"ABCD"
    add("flipped/webp-unknown-first-chunk", bytes(d), "webp", "invalid_input", "first chunk neither VP8, VP8L nor VP8X")
    d = bytearray(gif)
    d[10] = 0  # no global colour table: the palette bytes are read as blocks
    add("flipped/gif-no-colour-table", bytes(d), "gif", "invalid_input", "GIF flags cleared: its palette is read as data")

    # == Fuzzer findings (committed, minimised) ====================================================
    reg = HERE / "regressions.json"
    if reg.exists():
        for r in json.loads(reg.read_text()):
            src = HERE / "regressions" / r["file"]
            dst = out_dir / "files" / ("regression__" + r["file"])
            shutil.copyfile(src, dst)
            case = {"id": "regression/" + r["file"], "file": "files/" + dst.name, "expect": r["expect"]}
            if r["expect"] == "ok":
                case.update(width=HEADSHOT[0], height=HEADSHOT[1], absent_findings=[], metadata=[])
            case["why"] = r["why"]
            cases.append(case)


def main() -> None:
    global out_dir
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    out_dir = Path(sys.argv[1])
    if (out_dir / "files").exists():
        shutil.rmtree(out_dir / "files")
    (out_dir / "files").mkdir(parents=True)
    build()
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    with open(out_dir / "manifest.json", "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, sort_keys=False) for c in cases) + "\n]\n")
    kinds: dict[str, int] = {}
    for c in cases:
        kinds[c["expect"]] = kinds.get(c["expect"], 0) + 1
    print(f"corpus: {len(cases)} cases in {out_dir}/manifest.json " + ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    main()
