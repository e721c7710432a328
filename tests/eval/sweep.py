"""Scores matte-refinement parameter sets (core/src/matte.rs `RefineParams`) on the evaluation's
photos in seconds, with the harness's own metrics: `make eval-sweep PARAMS='[{}, {"gf_eps": 0.01}]'`.

Needs one `make eval` (or eval-quick) run first: it reuses that run's photos, ISNet reference
mattes and true alphas from target/eval-work. The frames, coarse masks (the embedded segmenter on
the frame and its mirror image, as the core does) and references are prepared once, then
core/examples/refine_sweep runs every parameter set on every photo in one process."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

import eval as E

D = E.WORK / "sweep"
SWEEP = E.TARGET / "release/examples/refine_sweep"
seg = ort.InferenceSession(str(E.SEGMENTER), providers=["CPUExecutionProvider"])

def prep():
    photos = sorted(p for p in E.PHOTOS.iterdir() if (E.WORK / "imgly-isnet" / f"{p.stem}.png").exists())
    (D / "lb").mkdir(parents=True, exist_ok=True)
    run = subprocess.run([str(E.RUNNER), str(D / "lb"), "1", *map(str, photos)], check=True, capture_output=True, text=True)
    items = []
    for line in run.stdout.splitlines():
        l = json.loads(line)
        if "photo_to_frame" not in l:
            continue
        name = l["photo"]
        m = l["photo_to_frame"]
        w, h = l["preset"]["width_px"], l["preset"]["height_px"]
        photo = E.read_rgb(next(p for p in photos if p.stem == name))
        _, ref0 = E.read_rgba(E.WORK / "imgly-isnet" / f"{name}.png")
        tp = E.TRUTH / f"{name}.npy"
        truth0 = np.load(tp) if tp.exists() else None
        frame = E.warp(photo, m, w, h, border=cv2.BORDER_REPLICATE).astype(np.float32)
        cov = E.warp(np.ones(photo.shape[:2], np.float32), m, w, h)
        coarse = E.coarse_mask(seg, frame)
        d = D / name
        d.mkdir(parents=True, exist_ok=True)
        frame.astype("<f4").tofile(d / "frame.f32"); coarse.astype("<f4").tofile(d / "coarse.f32"); cov.astype("<f4").tofile(d / "cov.f32")
        ref = E.warp(ref0, m, w, h)
        valid = E.warp(np.ones_like(ref0), m, w, h) > 0.99
        truth = E.warp(truth0, m, w, h) if truth0 is not None else None
        N = E.contrast_colour(photo, ref0)
        items.append(dict(name=name, w=w, h=h, d=d, frame=frame, ref=ref, valid=valid, truth=truth, N=N))
    return items

def score(items, params_list):
    jobs = []
    for pi, p in enumerate(params_list):
        for it in items:
            d = it["d"]
            jobs.append(dict(w=it["w"], h=it["h"], frame=str(d / "frame.f32"), coarse=str(d / "coarse.f32"), coverage=str(d / "cov.f32"),
                             out_alpha=str(d / f"a{pi}.f32"), out_fg=str(d / f"fg{pi}.f32"), params=p))
    (D / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([str(SWEEP), str(D / "jobs.json")], check=True, stdout=subprocess.DEVNULL)
    out = []
    for pi, p in enumerate(params_list):
        rows = []
        for it in items:
            d, w, h = it["d"], it["w"], it["h"]
            a = np.fromfile(d / f"a{pi}.f32", "<f4").reshape(h, w)
            fg = np.fromfile(d / f"fg{pi}.f32", "<f4").reshape(h, w, 3)
            r = E.matte_metrics(a, it["ref"], it["valid"], "")
            if it["truth"] is not None:
                r.update(E.matte_metrics(a, it["truth"], it["valid"], "true_"))
            r["halo"], _ = E.halo(fg, a, it["frame"], it["ref"], it["valid"], it["N"])
            rows.append(r)
        def med(k: str) -> float:
            return float(np.nanmedian([r.get(k, np.nan) for r in rows]))

        out.append(dict(params=p, edge_mae=med("edge_mae"), edge_mae_true=med("true_edge_mae"), halo=med("halo"), mae=med("mae"), iou=med("iou")))
    return out

if __name__ == "__main__":
    variants = json.loads(sys.argv[1]) if len(sys.argv) > 1 else [{}]
    items = prep()
    print("medians over the photos; {} = the defaults")
    for r in score(items, variants):
        print(f"edgeMAE {r['edge_mae']:.4f} edgeMAEtrue {r['edge_mae_true']:.4f} halo {r['halo']:.4f} mae {r['mae']:.4f} iou {r['iou']:.4f}  {json.dumps(r['params'])}")

