"""Generates the small test inputs in core/tests/data/ (and core/data/srgb.icc) with Pillow.

Run from the repository root with the project's venv:

    .venv/bin/python core/tests/data/make_test_data.py

Everything here is synthetic (flat colour patches, gradients, made-up metadata values); no photo
of a person is involved. The Rust tests in core/src/{decode,encode,metadata}.rs include these files
with include_bytes!. Re-running the script rewrites them (byte-identical for the same Pillow /
libjpeg / libwebp versions; Pillow 13.0.0 with libjpeg-turbo 3.2.0 was used).
"""

import io
import os
import struct

from PIL import Image, ImageCms, ImageOps, PngImagePlugin

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.dirname(os.path.dirname(HERE))


def out(name):
    return os.path.join(HERE, name)


# --- sRGB ICC profile (lcms2's built-in sRGB, as exported by Pillow) -------------------------
# Made once; kept as is afterwards because lcms2 stamps the creation date and time into the
# header (delete core/data/srgb.icc to make a new one).
ICC_PATH = os.path.join(CORE, "data", "srgb.icc")
if not os.path.exists(ICC_PATH):
    with open(ICC_PATH, "wb") as f:
        f.write(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
with open(ICC_PATH, "rb") as f:
    SRGB = f.read()

# --- EXIF orientations 1..=8 ----------------------------------------------------------------
# The upright picture is 32x16: top-left red, top-right green, bottom-left blue, bottom-right
# white (blocks aligned to 8x8 JPEG blocks, 4:4:4, so the colours survive compression). For
# orientation n the stored pixels are the inverse transform of the upright picture, so a
# viewer that applies the tag shows the upright picture (checked below with exif_transpose).
T = Image.Transpose
upright = Image.new("RGB", (32, 16))
for (x0, y0, c) in [(0, 0, (255, 0, 0)), (16, 0, (0, 255, 0)), (0, 8, (0, 0, 255)), (16, 8, (255, 255, 255))]:
    upright.paste(c, (x0, y0, x0 + 16, y0 + 8))
inverse = {1: None, 2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
           6: T.ROTATE_90, 7: T.TRANSVERSE, 8: T.ROTATE_270}
for n in range(1, 9):
    stored = upright if inverse[n] is None else upright.transpose(inverse[n])
    exif = Image.Exif()
    exif[0x0112] = n
    path = out(f"orient_{n}.jpg")
    stored.save(path, quality=95, subsampling=0, exif=exif.tobytes())
    check = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    assert check.size == (32, 16), (n, check.size)
    for (x, y) in [(4, 4), (28, 4), (4, 12), (28, 12)]:
        a, b = check.getpixel((x, y)), upright.getpixel((x, y))
        assert max(abs(p - q) for p, q in zip(a, b)) < 8, (n, x, y, a, b)

# --- Every kind of metadata -----------------------------------------------------------------
base = Image.new("RGB", (64, 48))
base.putdata([(x * 4, y * 5, 128) for y in range(48) for x in range(64)])


def full_exif():
    exif = Image.Exif()
    exif[0x0112] = 1                        # Orientation
    exif[0x013B] = "Jane Example"           # Artist
    exif[0x8298] = "(c) Jane Example"       # Copyright
    exif[0x0132] = "2024:05:01 10:00:00"    # DateTime
    exif[0x010F] = "ExampleCam"             # Make
    ifd = exif.get_ifd(0x8769)              # Exif IFD
    ifd[0xA431] = "SN-0123456789"           # BodySerialNumber
    ifd[0xA430] = "Jane Example"            # CameraOwnerName
    ifd[0x9003] = "2024:05:01 10:00:00"     # DateTimeOriginal
    ifd[0x927C] = b"EXAMPLE MAKERNOTE\0\1\2\3"  # MakerNote
    gps = exif.get_ifd(0x8825)              # GPS IFD
    gps[0x0001] = "N"
    gps[0x0002] = (52.0, 31.0, 12.0)
    gps[0x0003] = "E"
    gps[0x0004] = (13.0, 24.0, 36.0)
    return exif.tobytes()


XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
       b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Jane Example</dc:creator>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')

buf = io.BytesIO()
base.save(buf, "JPEG", quality=90, exif=full_exif(), icc_profile=SRGB, comment=b"a JPEG comment", xmp=XMP)
jpg = buf.getvalue()
# Pillow cannot write IPTC: insert an APP13 "Photoshop 3.0" segment with an 8BIM IPTC-NAA
# resource (0x0404) holding record 2:80 (By-line) right after SOI.
iptc = b"\x1c\x02\x50" + struct.pack(">H", 12) + b"Jane Example"
res = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(iptc)) + iptc
if len(iptc) % 2:
    res += b"\0"
app13 = b"Photoshop 3.0\0" + res
jpg = jpg[:2] + b"\xff\xed" + struct.pack(">H", len(app13) + 2) + app13 + jpg[2:]
with open(out("meta_full.jpg"), "wb") as f:
    f.write(jpg)
Image.open(out("meta_full.jpg")).load()

info = PngImagePlugin.PngInfo()
info.add_itxt("XML:com.adobe.xmp", XMP.decode("utf-8"))
info.add_text("Comment", "a PNG comment")
info.add(b"tIME", struct.pack(">HBBBBB", 2024, 5, 1, 10, 0, 0))
base.save(out("meta_full.png"), pnginfo=info, exif=full_exif(), icc_profile=SRGB)
Image.open(out("meta_full.png")).load()

base.save(out("meta_full.webp"), quality=80, exif=full_exif(), icc_profile=SRGB, xmp=XMP)
Image.open(out("meta_full.webp")).load()

base.save(out("comment.gif"), comment=b"a GIF comment")

# --- CMYK JPEG (Pillow writes Adobe APP14, transform 0, inverted CMYK) -------------------------
# 4x2 patches of 16x16; the Rust test holds the same table and expects
# R = (255-C)(255-K)/255 etc.
CMYK_PATCHES = [(0, 0, 0, 0), (255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0),
                (0, 0, 0, 255), (0, 0, 0, 128), (128, 64, 0, 64), (40, 200, 100, 30)]
cmyk = Image.new("CMYK", (64, 32))
for i, c in enumerate(CMYK_PATCHES):
    x0, y0 = (i % 4) * 16, (i // 4) * 16
    cmyk.paste(c, (x0, y0, x0 + 16, y0 + 16))
cmyk.save(out("cmyk.jpg"), quality=95)

# --- YCCK JPEG (Adobe APP14 transform 2) with the same patches --------------------------------
# Pillow cannot write YCCK, so the YCC transform is done here: libjpeg's CMYK->YCCK turns the
# (inverted) CMY into R'G'B' = ink amounts, stores Y/Cb/Cr of those and keeps K inverted. Pillow
# writes "CMYK" data inverted (rawmode CMYK;I), hence the 255 - x below; then the APP14 transform
# byte is patched from 0 (CMYK) to 2 (YCCK). Checked by decoding with libjpeg-turbo.
def ycc(r, g, b):
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return [max(0, min(255, round(v))) for v in (y, cb, cr)]


ycck = Image.new("CMYK", (64, 32))
for i, (c, m, y_, k) in enumerate(CMYK_PATCHES):
    x0, y0 = (i % 4) * 16, (i // 4) * 16
    Y, Cb, Cr = ycc(c, m, y_)
    ycck.paste((255 - Y, 255 - Cb, 255 - Cr, k), (x0, y0, x0 + 16, y0 + 16))
buf = io.BytesIO()
ycck.save(buf, "JPEG", quality=95)
data = bytearray(buf.getvalue())
a = data.find(b"Adobe")
assert a > 0 and data[a + 11] == 0
data[a + 11] = 2
with open(out("ycck.jpg"), "wb") as f:
    f.write(bytes(data))
back = Image.open(out("ycck.jpg"))
assert back.mode == "CMYK" and back.info.get("adobe_transform") == 2
for i, want in enumerate(CMYK_PATCHES):
    got = back.getpixel(((i % 4) * 16 + 8, (i // 4) * 16 + 8))
    assert max(abs(p - q) for p, q in zip(got, want)) <= 4, (i, got, want)

# --- Animated WebP: first frame red, second blue ---------------------------------------------
frames = [Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))]
frames[0].save(out("anim.webp"), save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)

# --- Progressive JPEG (for the scaled decoder) -------------------------------------------------
base.resize((128, 96)).save(out("progressive.jpg"), quality=90, progressive=True)

print("ok:", sorted(os.listdir(HERE)))
