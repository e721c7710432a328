"""Turn every photo in a folder into a headshot, several at a time, on one engine.

    python batch_folder.py photos/ headshots/ [--preset linkedin] [--threads 4]

One engine is shared by all threads: it releases the GIL and runs the work on its own workers.
Photos without a usable face are reported and skipped; other errors stop the batch.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
from pathlib import Path

import lichtbild

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif"}


def main() -> None:
    ap = argparse.ArgumentParser(description="Turn every photo in a folder into a headshot.")
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--preset", default="bewerbung-45x60")
    ap.add_argument("--background", default=None)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()

    photos = sorted(p for p in args.input.iterdir() if p.suffix.lower() in SUFFIXES)
    args.output.mkdir(parents=True, exist_ok=True)
    engine = lichtbild.Engine()
    consent = lichtbild.Consent(face_geometry=True)  # collected from each person beforehand

    def one(photo: Path) -> str:
        try:
            res = engine.process(photo.read_bytes(), consent=consent, preset=args.preset, background=args.background)
        except (lichtbild.NoFaceError, lichtbild.MultipleFacesError, lichtbild.InvalidImageError) as e:
            return f"skipped {photo.name}: {e} ({e.code})"
        assert res.image is not None
        out = args.output / (photo.stem + ".jpg")
        out.write_bytes(res.image)
        warnings = sum(f.severity != "info" for f in res.findings)
        return f"{photo.name} -> {out.name} ({res.width}x{res.height}, {warnings} warnings)"

    with cf.ThreadPoolExecutor(args.threads) as pool:
        for line in pool.map(one, photos):
            print(line)


if __name__ == "__main__":
    main()
