"""Turn one photo into an application headshot.

    python headshot.py me.jpg headshot.jpg [--preset bewerbung-45x60] [--background studio-grey]
"""

from __future__ import annotations

import argparse
import json

import lichtbild


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("photo")
    ap.add_argument("output")
    ap.add_argument("--preset", default="bewerbung-45x60", choices=[p["name"] for p in lichtbild.presets()])
    ap.add_argument("--background", default="studio-grey")
    args = ap.parse_args()

    engine = lichtbild.Engine()
    with open(args.photo, "rb") as f:
        photo = f.read()
    # Ask the person first: this is their face. Consent is never implied.
    res = engine.process(photo, consent=lichtbild.Consent(face_geometry=True), preset=args.preset, background=args.background)
    assert res.image is not None
    with open(args.output, "wb") as f:
        f.write(res.image)
    print(f"{args.output}: {res.width}x{res.height} px at {res.dpi} dpi")
    for finding in res.findings:
        print(f"  [{finding.severity}] {finding.message}")
    print(json.dumps({"network": res.receipt["network"], "disk": res.receipt["disk"]}))


if __name__ == "__main__":
    main()
