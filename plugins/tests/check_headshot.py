"""Asserts on a headshot a host saved: size, the requested background in the top corners, the
face (centre) far from that colour. Or, with --same A B, that two saved images have equal pixels.

  check_headshot.py FILE WIDTH HEIGHT '#rrggbb'
  check_headshot.py --same A B
"""
import sys

from PIL import Image, ImageStat


def rgb(path):
    return Image.open(path).convert("RGB")


def dist(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5


def main(argv):
    if argv[0] == "--same":
        a, b = rgb(argv[1]), rgb(argv[2])
        assert a.size == b.size, f"{argv[2]}: size {b.size} != {a.size}"
        assert a.tobytes() == b.tobytes(), f"{argv[2]}: pixels differ from {argv[1]}"
        print(f"{argv[2]}: same pixels as {argv[1]} ({a.size[0]}x{a.size[1]})")
        return
    path, w, h, hexcol = argv[0], int(argv[1]), int(argv[2]), argv[3]
    want = tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))
    img = rgb(path)
    assert img.size == (w, h), f"{path}: size {img.size}, expected {(w, h)}"
    corners = [img.getpixel((x, y)) for x, y in ((5, 5), (w - 6, 5), (w // 2, 3))]
    for c in corners:
        assert dist(c, want) < 40, f"{path}: background {c} is not the requested {want}"
    # The face: the middle of the upper half of a headshot (the eyes sit ~40% from the top).
    face = img.crop((w * 2 // 5, h * 3 // 10, w * 3 // 5, h // 2))
    mean = tuple(ImageStat.Stat(face).mean)
    assert dist(mean, want) > 120, f"{path}: the face area {mean} looks like the background {want}"
    print(f"{path}: {w}x{h}, background {corners[0]} ~ {want}, face mean {tuple(round(v) for v in mean)}")


if __name__ == "__main__":
    main(sys.argv[1:])
