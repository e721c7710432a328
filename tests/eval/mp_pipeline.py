"""Peer: the headshot pipeline a developer would write by hand with MediaPipe 0.10.14 (models
in the wheel), OpenCV and Pillow. Detect (face mesh), crop to the preset (level the eyes, scale the
head, place the eye line), segment (selfie segmentation), composite on the preset background,
encode JPEG.

    python mp_pipeline.py OUT_DIR N PRESET_JSON PHOTO...

Per photo: one warm-up run, N timed runs (encoded bytes in memory -> JPEG bytes in memory).
Writes OUT_DIR/STEM.jpg, OUT_DIR/STEM.png (RGBA: the crop + its matte) and one JSON line per
photo with the photo->frame map (pixel-edge convention, like lichtbild's photo_to_frame).
"""

import io
import json
import math
import sys
import time
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from PIL import Image

LEFT_EYE, RIGHT_EYE, CHIN = (33, 133), (362, 263), 152


def hex_rgb(h: str) -> tuple[int, int, int]:
    return tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


NAMED = {"studio-grey": "#8e9297", "light-grey": "#d9dbde", "white": "#ffffff"}


class Pipeline:
    def __init__(self, preset: dict):
        self.p = preset
        self.mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False)
        self.seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self.bg = hex_rgb(NAMED.get(preset["default_background"], "#8e9297"))

    def run(self, data: bytes):
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        res = self.mesh.process(rgb)
        if not res.multi_face_landmarks:
            raise ValueError("no face")
        h0, w0 = rgb.shape[:2]
        pts = np.array([(q.x * w0, q.y * h0) for q in res.multi_face_landmarks[0].landmark])
        le, re = pts[list(LEFT_EYE)].mean(0), pts[list(RIGHT_EYE)].mean(0)
        if le[0] > re[0]:
            le, re = re, le
        eye = (le + re) / 2
        roll = math.atan2(re[1] - le[1], re[0] - le[0])
        # Head height = 2x eye-to-chin (the eyes sit about mid-head), scaled to the preset's target.
        head = 2.0 * float(np.linalg.norm(pts[CHIN] - eye))
        W, H = self.p["width_px"], self.p["height_px"]
        k = self.p["head_height"]["target"] * H / head
        M = cv2.getRotationMatrix2D((float(eye[0]), float(eye[1])), math.degrees(roll), k)
        M[0, 2] += W / 2 - eye[0]
        M[1, 2] += self.p["eye_line"]["target"] * H - eye[1]
        crop = cv2.warpAffine(rgb, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = self.seg.process(crop).segmentation_mask.astype(np.float32)
        alpha = cv2.GaussianBlur(mask, (0, 0), 1.5)[..., None]
        out = (crop * alpha + np.array(self.bg, np.float32) * (1 - alpha)).round().clip(0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=92, dpi=(self.p["dpi"], self.p["dpi"]))
        return buf.getvalue(), crop, alpha[..., 0], M


def main() -> None:
    out_dir, n, preset = Path(sys.argv[1]), max(1, int(sys.argv[2])), json.loads(sys.argv[3])
    pipe = Pipeline(preset)
    for photo in sys.argv[4:]:
        data = Path(photo).read_bytes()
        stem = Path(photo).stem
        try:
            pipe.run(data)  # warm-up
        except ValueError as e:
            print(json.dumps({"photo": stem, "error": str(e)}), flush=True)
            continue
        times = []
        for _ in range(n):
            t = time.perf_counter()
            jpg, crop, alpha, M = pipe.run(data)
            times.append((time.perf_counter() - t) * 1e3)
        (out_dir / f"{stem}.jpg").write_bytes(jpg)
        rgba = np.dstack([crop, (alpha * 255).round().clip(0, 255).astype(np.uint8)])
        Image.fromarray(rgba, "RGBA").save(out_dir / f"{stem}.png")
        # OpenCV maps pixel centres; lichtbild's convention is pixel edges (centre at +0.5).
        A, t = M[:, :2], M[:, 2]
        te = t - A @ np.array([0.5, 0.5]) + 0.5
        print(json.dumps({"photo": stem, "times_ms": times,
                          "photo_to_frame": [A[0, 0], A[0, 1], A[1, 0], A[1, 1], te[0], te[1]]}), flush=True)


if __name__ == "__main__":
    main()
