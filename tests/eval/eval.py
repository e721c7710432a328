"""lichtbild's evaluation against its peers (issue #8). Run by `make eval`; see README.md.

Builds the photo set, runs every tool on it (sequentially, so timings do not fight each other),
brings every matte into the frame of the tool that made it, measures, and writes RESULTS.md,
results.json and contact_sheet.png.

Environment: EVAL_N (timed runs per photo for the fast tools, default 3), EVAL_REUSE_PEERS=1
(reuse the peers' outputs of the last run when the photo and the peer are unchanged: for quick
iterations on lichtbild; `make eval` itself always runs them), EVAL_TOOLS (comma list to run),
EVAL_PHOTOS (comma list of photo names, for debugging the harness).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests/eval"
TARGET = ROOT / "target"
WORK = TARGET / "eval-work"
PHOTOS = WORK / "photos"
TRUTH = WORK / "truth"
NODE_MODULES = TARGET / "eval-node/node_modules"
ISNET = TARGET / "eval-models/isnet_medium.onnx"
RUNNER = TARGET / "release/lichtbild-eval"
SEGMENTER = ROOT / "core/models/mp_selfie_segmentation_fixed.onnx"
N = int(os.environ.get("EVAL_N", "3"))
REUSE = os.environ.get("EVAL_REUSE_PEERS") == "1"

# Tools in table order. "batch": one process for all photos (its peak RSS is the whole batch's).
TOOLS = {
    "imgly-isnet": dict(label="imgly ISNet (reference)", batch=True),
    "mediapipe-py": dict(label="MediaPipe+OpenCV+Pillow", batch=False),
    "gf-baseline": dict(label="guided-filter baseline", batch=False),
    "lichtbild": dict(label="lichtbild", batch=False),
    "lichtbild-isnet": dict(label="lichtbild + user ISNet", batch=True),
}
SELECTED = [t for t in os.environ.get("EVAL_TOOLS", ",".join(TOOLS)).split(",") if t]
ONLY_PHOTOS = [x for x in os.environ.get("EVAL_PHOTOS", "").split(",") if x]
# Only a full, fresh run writes the committed RESULTS.md / contact sheet; partial or reusing runs
# write theirs under target/eval-work/ so they are never mistaken for a full run.
FULL = not REUSE and not ONLY_PHOTOS and "EVAL_TOOLS" not in os.environ
OUT = HERE if FULL else WORK


def log(*a: object) -> None:
    print("[eval]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Photos
# ---------------------------------------------------------------------------------------------

def site_packages() -> Path:
    import skimage

    return Path(skimage.__file__).parent.parent


def isnet_alpha(rgb: np.ndarray, sess: ort.InferenceSession) -> np.ndarray:
    """ISNet the way imgly runs it: bilinear to 1024x1024, (x - 128) / 256, NCHW, back to size."""
    h, w = rgb.shape[:2]
    x = cv2.resize(rgb, (1024, 1024), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = ((x - 128.0) / 256.0).transpose(2, 0, 1)[None]
    a = sess.run(["output"], {"input": x})[0][0, 0]
    return cv2.resize(np.clip(a, 0, 1), (w, h), interpolation=cv2.INTER_LINEAR)


def build_photos() -> list[dict]:
    """The evaluation set: real photos (fixtures, scikit-image's CC0 data, simple derivations of
    them) and synthetic composites with a known alpha. Deterministic; see PROVENANCE.md."""
    PHOTOS.mkdir(parents=True, exist_ok=True)
    TRUTH.mkdir(parents=True, exist_ok=True)
    sk = site_packages() / "skimage/data"
    hopper = cv2.cvtColor(cv2.imread(str(ROOT / "tests/fixtures/grace_hopper.jpg")), cv2.COLOR_BGR2RGB)
    astro = cv2.cvtColor(cv2.imread(str(ROOT / "tests/fixtures/astronaut.png")), cv2.COLOR_BGR2RGB)
    set_: list[dict] = []

    def save(name: str, rgb: np.ndarray, kind: str, ext: str = "jpg") -> Path:
        p = PHOTOS / f"{name}.{ext}"
        if ext == "jpg":
            Image.fromarray(rgb).save(p, "JPEG", quality=95)
        else:
            Image.fromarray(rgb).save(p, "PNG")
        set_.append(dict(name=name, path=p, kind=kind))
        return p

    shutil.copy(ROOT / "tests/fixtures/grace_hopper.jpg", PHOTOS / "hopper.jpg")
    set_.append(dict(name="hopper", path=PHOTOS / "hopper.jpg", kind="real"))
    shutil.copy(ROOT / "tests/fixtures/astronaut.png", PHOTOS / "astronaut.png")
    set_.append(dict(name="astronaut", path=PHOTOS / "astronaut.png", kind="real"))
    # Grey-level, stored as RGB: imgly 1.4.5 refuses 1-channel PNGs ("Only 4-channel images").
    save("cameraman", cv2.cvtColor(cv2.imread(str(sk / "camera.png"), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2RGB), "real", ext="png")
    # Derived real photos: a tilted camera, an underexposed shot, a large (upscaled) file.
    h, w = hopper.shape[:2]
    R = cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0)
    save("hopper-tilt12", cv2.warpAffine(hopper, R, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101), "real")
    save("hopper-dark", (255 * (hopper / 255.0) ** 2.2 * 0.8).round().astype(np.uint8), "real")
    save("astronaut-2k", cv2.resize(astro, (2048, 2048), interpolation=cv2.INTER_LANCZOS4), "real")

    # Synthetic composites: the person cut out with ISNet, on new backgrounds; the cut-out's alpha
    # is the true alpha. Straight compositing I = a F + (1 - a) B with F = the photo's colours.
    sess = ort.InferenceSession(str(ISNET), providers=["CPUExecutionProvider"])
    coffee = cv2.cvtColor(cv2.imread(str(sk / "coffee.png")), cv2.COLOR_BGR2RGB)
    for name, img in (("hopper", hopper), ("astronaut", astro)):
        a = isnet_alpha(img, sess)
        h, w = a.shape
        band = (a > 0.05) & (a < 0.95)
        # The person's own edge colour (hair, shoulders): the hardest background there is.
        same = np.median(img[band], axis=0) if band.any() else np.array([128, 128, 128])
        ys = np.linspace(0, 1, h)[:, None, None]
        backgrounds = {
            "busy": cv2.resize(coffee, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32),
            "bright": np.broadcast_to(np.array([250, 249, 246], np.float32) - 12 * ys, (h, w, 3)),
            "dark": np.broadcast_to(np.array([14, 15, 18], np.float32) + 10 * ys, (h, w, 3)),
            "same": np.broadcast_to(same.astype(np.float32), (h, w, 3)),
        }
        for bg_name, bg in backgrounds.items():
            comp = (img * a[..., None] + bg * (1 - a[..., None])).round().clip(0, 255).astype(np.uint8)
            stem = f"{name}-on-{bg_name}"
            save(stem, comp, "synthetic", ext="png")
            np.save(TRUTH / f"{stem}.npy", a.astype(np.float32))
    return set_


# ---------------------------------------------------------------------------------------------
# Running the tools
# ---------------------------------------------------------------------------------------------

def run_rss(cmd: list[str], env: dict | None = None) -> tuple[list[dict], float]:
    """Runs a tool process; returns its JSON lines and its peak RSS in MiB.
    Through GNU time: a child forked straight from this (large) Python process would inherit its
    high-water mark, so wait4's ru_maxrss would report the harness's memory, not the tool's."""
    rss_file = WORK / "rss.txt"
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd], capture_output=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
        raise SystemExit(f"{' '.join(cmd[:2])} failed with exit code {p.returncode}")
    lines = [json.loads(x) for x in p.stdout.decode().splitlines() if x.startswith("{")]
    return lines, int(rss_file.read_text().split()[-1]) / 1024


def file_hash(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def run_tools(photos: list[dict], preset: dict) -> dict[str, dict[str, dict]]:
    env = dict(os.environ)
    results: dict[str, dict[str, dict]] = {}
    paths = [str(p["path"]) for p in photos]

    def collect(tool: str, lines: list[dict], rss: float, batch: bool) -> None:
        for ln in lines:
            ln["rss_mib"] = rss
            ln["rss_batch"] = batch
            results.setdefault(tool, {})[ln["photo"]] = ln

    def peer(tool: str, script: Path, make_cmd, batch: bool) -> None:
        out = WORK / tool
        stamp = out / "inputs.sha"
        key = file_hash(script, *[Path(p) for p in paths]) + f"-n{N}"
        cache = out / "results.json"
        if REUSE and cache.exists() and stamp.exists() and stamp.read_text() == key:
            log(f"{tool}: reusing the last run's outputs (EVAL_REUSE_PEERS=1)")
            results[tool] = json.loads(cache.read_text())
            return
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        t = time.time()
        if batch:
            collect(tool, *run_rss(make_cmd(out, paths)), True)
        else:
            for p in paths:
                collect(tool, *run_rss(make_cmd(out, [p])), False)
        log(f"{tool}: {time.time() - t:.0f} s")
        cache.write_text(json.dumps(results.get(tool, {})))
        stamp.write_text(key)

    if "imgly-isnet" in SELECTED:
        peer("imgly-isnet", HERE / "imgly_run.mjs",
             lambda out, ps: ["node", str(HERE / "imgly_run.mjs"), str(NODE_MODULES), str(out), "1", *ps], True)
    if "mediapipe-py" in SELECTED:
        peer("mediapipe-py", HERE / "mp_pipeline.py",
             lambda out, ps: [sys.executable, str(HERE / "mp_pipeline.py"), str(out), str(N), json.dumps(preset), *ps], False)
    for tool, extra, batch, n in (
        ("lichtbild", [], False, N),
        ("lichtbild-isnet", ["--model", str(ISNET), hashlib.sha256(ISNET.read_bytes()).hexdigest(), "1024"], True, 1),
    ):
        if tool not in SELECTED:
            continue
        out = WORK / tool
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        t = time.time()
        if batch:
            collect(tool, *run_rss([str(RUNNER), str(out), str(n), *extra, *paths], env), True)
        else:
            for p in paths:
                collect(tool, *run_rss([str(RUNNER), str(out), str(n), *extra, p], env), False)
        log(f"{tool}: {time.time() - t:.0f} s")
    return results


# ---------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------

def edge_to_cv(m: list[float]) -> np.ndarray:
    """photo->frame map in pixel-edge coordinates -> OpenCV's pixel-centre matrix."""
    A = np.array([[m[0], m[1]], [m[2], m[3]]], np.float64)
    t = np.array([m[4], m[5]], np.float64)
    tc = t + A @ np.array([0.5, 0.5]) - 0.5
    return np.hstack([A, tc[:, None]])


def warp(img: np.ndarray, m: list[float] | None, w: int, h: int, border=cv2.BORDER_CONSTANT) -> np.ndarray:
    if m is None:
        return img
    return cv2.warpAffine(img, edge_to_cv(m), (w, h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def read_rgba(p: Path) -> tuple[np.ndarray, np.ndarray]:
    im = np.asarray(Image.open(p).convert("RGBA"))
    return im[..., :3].astype(np.float32) / 255, im[..., 3].astype(np.float32) / 255


def read_rgb(p: Path) -> np.ndarray:
    return np.asarray(Image.open(p).convert("RGB")).astype(np.float32) / 255


# ---------------------------------------------------------------------------------------------
# The guided-filter baseline (He et al. 2010), on lichtbild's frame and coarse mask
# ---------------------------------------------------------------------------------------------

def box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_filter(I: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """Colour guided filter: per window, q = a . I + b fitted to p (3x3 solve per pixel)."""
    mI = [box(I[..., c], r) for c in range(3)]
    mp_ = box(p, r)
    cov_Ip = [box(I[..., c] * p, r) - mI[c] * mp_ for c in range(3)]
    S = np.empty(p.shape + (3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = box(I[..., i] * I[..., j], r) - mI[i] * mI[j]
            S[..., i, j] = S[..., j, i] = v
    S += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(S, np.stack(cov_Ip, -1)[..., None])[..., 0]
    b = mp_ - sum(a[..., c] * mI[c] for c in range(3))
    return sum(box(a[..., c], r) * I[..., c] for c in range(3)) + box(b, r)


def coarse_mask(sess: ort.InferenceSession, frame: np.ndarray) -> np.ndarray:
    """lichtbild's coarse mask at frame size, as core/src/matte.rs `person_mask` makes it: the
    frame stretched to 256x256, the segmenter on it and on its mirror image, the two averaged."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (256, 256), interpolation=cv2.INTER_AREA)[None].astype(np.float32)
    out = sess.run(["activation_10"], {"input_1": small})[0].reshape(256, 256)
    mirrored = sess.run(["activation_10"], {"input_1": np.ascontiguousarray(small[:, :, ::-1])})[0].reshape(256, 256)[:, ::-1]
    coarse = np.clip(0.5 * (out + mirrored), 0, 1)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def gf_baseline(photos: list[dict], lb: dict[str, dict]) -> dict[str, dict]:
    """lichtbild's frame (the photo through its photo_to_frame map) and lichtbild's coarse mask
    (`coarse_mask`, the same embedded segmenter run as core/src/matte.rs runs it), refined by
    ONE plain colour guided filter (radius 1.2 % of the short side, eps 1e-3: refine's first-pass
    values), no trimap, no foreground estimation (the frame's own colours)."""
    sess = ort.InferenceSession(str(SEGMENTER), providers=["CPUExecutionProvider"])
    out_dir = WORK / "gf-baseline"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    res = {}
    for ph in photos:
        r = lb.get(ph["name"])
        if not r or "photo_to_frame" not in r:
            continue
        t0 = time.perf_counter()
        w, h = r["preset"]["width_px"], r["preset"]["height_px"]
        photo = read_rgb(ph["path"])
        frame = warp(photo, r["photo_to_frame"], w, h, border=cv2.BORDER_REPLICATE)
        coarse = coarse_mask(sess, frame)
        rad = max(1, round(0.012 * min(w, h)))
        alpha = np.clip(guided_filter(frame, coarse.astype(np.float32), rad, 1e-3), 0, 1)
        ms = (time.perf_counter() - t0) * 1e3
        rgba = np.dstack([frame, alpha]) * 255
        Image.fromarray(rgba.round().clip(0, 255).astype(np.uint8), "RGBA").save(out_dir / f"{ph['name']}.png")
        res[ph["name"]] = dict(photo=ph["name"], photo_to_frame=r["photo_to_frame"], times_ms=[ms], harness_time=True)
    return res


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

PALETTE = np.array([[0, 0.75, 0.2], [0.9, 0.1, 0.8], [0.1, 0.2, 0.95], [1, 1, 1], [0, 0, 0], [1, 0.85, 0]], np.float32)
FACE_MESH = None


def face_mesh():
    global FACE_MESH
    if FACE_MESH is None:
        import mediapipe as mp

        FACE_MESH = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)
    return FACE_MESH


def contrast_colour(photo: np.ndarray, ref: np.ndarray) -> np.ndarray:
    bg = photo[ref < 0.05]
    mean = bg.mean(0) if len(bg) else np.array([0.5, 0.5, 0.5])
    return PALETTE[np.argmax(((PALETTE - mean) ** 2).sum(1))]


def matte_metrics(a: np.ndarray, ref: np.ndarray, valid: np.ndarray, prefix: str) -> dict:
    h, w = ref.shape
    r = max(2, round(0.02 * min(w, h)))
    inside = (ref > 0.5).astype(np.uint8)
    contour = cv2.dilate(inside, disk(r)) != cv2.erode(inside, disk(r))
    band = (contour | ((ref > 0.02) & (ref < 0.98))) & valid
    A, R = a > 0.5, ref > 0.5

    def iou(m: np.ndarray) -> float:
        u = ((A | R) & m).sum()
        return float(((A & R) & m).sum() / u) if u else float("nan")

    return {
        f"{prefix}iou": iou(valid),
        f"{prefix}mae": float(np.abs(a - ref)[valid].mean()),
        f"{prefix}edge_iou": iou(band),
        f"{prefix}edge_mae": float(np.abs(a - ref)[band].mean()) if band.any() else float("nan"),
    }


def halo(fg: np.ndarray, a: np.ndarray, frame: np.ndarray, ref: np.ndarray, valid: np.ndarray, N: np.ndarray) -> tuple[float, np.ndarray]:
    """How much of the OLD background's colour shows just outside the person once the tool's
    result is put on a contrasting colour N: per pixel of the outer edge band, the component of
    (result - N) along (old background - N), as a fraction of |old background - N|, averaged."""
    h, w = ref.shape
    r = max(2, round(0.02 * min(w, h)))
    inside = (ref > 0.5).astype(np.uint8)
    outer = (cv2.dilate(inside, disk(r)) > 0) & (ref <= 0.5) & valid
    result = fg * a[..., None] + N * (1 - a[..., None])
    # The old background around each pixel: normalised convolution over sure-background pixels.
    wbg = ((ref < 0.05) & valid).astype(np.float32)
    s = max(3.0, 2.0 * r)
    num = cv2.GaussianBlur(frame * wbg[..., None], (0, 0), s)
    den = cv2.GaussianBlur(wbg, (0, 0), s)[..., None]
    B = num / np.maximum(den, 1e-4)
    d = B - N
    dd = (d * d).sum(-1)
    ok = outer & (dd > 0.15**2) & (den[..., 0] > 0.05)
    if not ok.any():
        return float("nan"), result
    k = np.clip(((result - N) * d).sum(-1) / np.maximum(dd, 1e-6), 0, 1)
    return float(k[ok].mean()), result


def eye_geometry(img: np.ndarray, ref: np.ndarray) -> dict:
    """Eye-line roll, eye line and head height (crown from the reference matte, chin from the
    mesh) measured from scratch on a tool's result by an independent face mesh."""
    h, w = img.shape[:2]
    res = face_mesh().process((img * 255).round().clip(0, 255).astype(np.uint8))
    if not res.multi_face_landmarks:
        return {}
    pts = np.array([(q.x * w, q.y * h) for q in res.multi_face_landmarks[0].landmark])
    le, re = pts[[33, 133]].mean(0), pts[[362, 263]].mean(0)
    if le[0] > re[0]:
        le, re = re, le
    roll = float(np.degrees(np.arctan2(re[1] - le[1], re[0] - le[0])))
    eye_y = (le[1] + re[1]) / 2 / h
    x0, x1 = sorted((int(pts[234][0]), int(pts[454][0])))
    cols = ref[:, max(0, x0):min(w, x1 + 1)]
    rows = np.where((cols > 0.5).any(1))[0]
    head = float((pts[152][1] - rows[0]) / h) if len(rows) else float("nan")
    return dict(roll_deg=roll, eye_line=float(eye_y), head_height=head)


def measure(photos: list[dict], results: dict[str, dict[str, dict]]) -> tuple[list[dict], dict]:
    rows = []
    pictures: dict = {}
    ref_tool = results.get("imgly-isnet", {})
    for ph in photos:
        name = ph["name"]
        photo = read_rgb(ph["path"])
        if name not in ref_tool:
            log(f"{name}: no reference matte")
            continue
        _, ref0 = read_rgba(WORK / "imgly-isnet" / f"{name}.png")
        truth0 = np.load(TRUTH / f"{name}.npy") if (TRUTH / f"{name}.npy").exists() else None
        N = contrast_colour(photo, ref0)
        pictures[name] = dict(input=photo, tools={})
        for tool in TOOLS:
            r = results.get(tool, {}).get(name)
            if r is None:
                continue
            row = dict(photo=name, kind=ph["kind"], tool=tool)
            if "error" in r:
                row["error"] = r.get("code", r["error"])
                rows.append(row)
                continue
            m = r.get("photo_to_frame")
            fg, a = read_rgba(WORK / tool / f"{name}.png")
            h, w = a.shape
            ref = warp(ref0, m, w, h)
            valid = warp(np.ones_like(ref0), m, w, h) > 0.99
            frame = warp(photo, m, w, h, border=cv2.BORDER_REPLICATE)
            row.update(matte_metrics(a, ref, valid, ""))
            if truth0 is not None:
                row.update(matte_metrics(a, warp(truth0, m, w, h), valid, "true_"))
            row["halo"], composite = halo(fg, a, frame, ref, valid, N)
            if m is not None:  # roll, eye line and head height of the composed headshot
                row.update(eye_geometry(composite, ref))
            ts = r.get("times_ms") or []
            row["time_ms"] = statistics.median(ts) if ts else float("nan")
            row["harness_time"] = bool(r.get("harness_time"))
            row["rss_mib"] = r.get("rss_mib", float("nan"))
            row["rss_batch"] = r.get("rss_batch", False)
            row["cropped"] = m is not None
            rows.append(row)
            pictures[name]["tools"][tool] = dict(alpha=a, composite=composite)
    return rows, pictures


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def fmt(v, spec: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return format(v, spec)


def machine() -> str:
    cpu = "?"
    try:
        for ln in open("/proc/cpuinfo"):
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def write_report(rows: list[dict], preset: dict, started: float) -> None:
    by = {(r["photo"], r["tool"]): r for r in rows}
    ref_t = {r["photo"]: r["time_ms"] for r in rows if r["tool"] == "imgly-isnet" and "time_ms" in r}
    tools = [t for t in TOOLS if any(r["tool"] == t for r in rows)]
    photos = list(dict.fromkeys(r["photo"] for r in rows))
    hh = preset["head_height"]
    L = []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    L += [
        "# lichtbild evaluation results",
        "",
        f"Command: `make eval` (EVAL_N={N}{', EVAL_REUSE_PEERS=1' if REUSE else ''}); commit `{commit}`{' + uncommitted changes' if dirty else ''}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the whole run took {time.time() - started:.0f} s.",
        f"Machine: {machine()}. Timings on a shared, loaded machine are noisy: compare ratios within one run.",
        f"Preset `{preset['name']}` ({preset['width_px']}x{preset['height_px']}): head height target {hh['target']:.2f} "
        f"(band {hh['min']:.2f}-{hh['max']:.2f}), eye line target {preset['eye_line']['target']:.2f}.",
        "",
        "What the columns mean: README.md. Mattes are compared in each tool's own output frame (the reference",
        "matte is mapped there through the tool's photo->frame map). `ref` = imgly ISNet's matte, `true` = the",
        "known alpha of a synthetic composite. Time: median end-to-end ms (bytes in, encoded image out).",
        "",
        "## Summary (median over photos)",
        "",
        "| tool | time ms | x ISNet time | peak RSS MiB | IoU ref | MAE ref | edge IoU ref | edge MAE ref | edge MAE true | halo | abs roll ° | head height |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for t in tools:
        rs = [r for r in rows if r["tool"] == t and "error" not in r]

        def med(k: str) -> float:
            v = [r[k] for r in rs if k in r and r[k] == r[k]]
            return statistics.median(v) if v else float("nan")

        ratios = [r["time_ms"] / ref_t[r["photo"]] for r in rs if r["photo"] in ref_t and not r.get("harness_time")]
        s = dict(time_ms=med("time_ms"), ratio=statistics.median(ratios) if ratios else float("nan"),
                 rss=max((r["rss_mib"] for r in rs), default=float("nan")), iou=med("iou"), mae=med("mae"),
                 edge_iou=med("edge_iou"), edge_mae=med("edge_mae"), true_edge_mae=med("true_edge_mae"), halo=med("halo"),
                 roll=statistics.median([abs(r["roll_deg"]) for r in rs if "roll_deg" in r]) if any("roll_deg" in r for r in rs) else float("nan"),
                 head=med("head_height") if any(r.get("cropped") for r in rs) else float("nan"),
                 errors=sum(1 for r in rows if r["tool"] == t and "error" in r))
        summary[t] = s
        time_cell = fmt(s["time_ms"], ".0f") + (" (harness, numpy)" if any(r.get("harness_time") for r in rs) else "")
        L.append(f"| {TOOLS[t]['label']} | {time_cell} | {fmt(s['ratio'], '.3f')} | {fmt(s['rss'], '.0f')} | {fmt(s['iou'])} | {fmt(s['mae'])} | "
                 f"{fmt(s['edge_iou'])} | {fmt(s['edge_mae'])} | {fmt(s['true_edge_mae'])} | {fmt(s['halo'])} | {fmt(s['roll'], '.2f')} | {fmt(s['head'], '.3f')} |")
    L.append("")
    if "lichtbild" in summary and "gf-baseline" in summary:
        lb, gf = summary["lichtbild"], summary["gf-baseline"]
        L += [
            "### lichtbild's refinement vs the plain guided-filter baseline (issue #8's goal: clearly below 1)",
            "",
            f"- edge MAE vs ISNet: lichtbild {fmt(lb['edge_mae'])} / baseline {fmt(gf['edge_mae'])} = **{fmt(lb['edge_mae'] / gf['edge_mae'], '.2f')}**",
            f"- edge MAE vs true alpha (composites): {fmt(lb['true_edge_mae'])} / {fmt(gf['true_edge_mae'])} = **{fmt(lb['true_edge_mae'] / gf['true_edge_mae'], '.2f')}**",
            f"- halo: {fmt(lb['halo'])} / {fmt(gf['halo'])} = **{fmt(lb['halo'] / gf['halo'] if gf['halo'] else float('nan'), '.2f')}**",
            f"- time vs ISNet (imgly): lichtbild is {fmt(lb['ratio'], '.3f')}x of ISNet's time (median per photo)",
            "",
        ]
    errs = [r for r in rows if "error" in r]
    if errs:
        L += ["Refused photos (typed errors, not crashes): " + ", ".join(f"{r['tool']} on {r['photo']}: {r['error']}" for r in errs), ""]
    L += [
        "## Per photo",
        "",
        "| photo | tool | ms | x ISNet | RSS MiB | IoU ref | MAE ref | edge IoU ref | edge MAE ref | IoU true | edge MAE true | halo | roll ° | eye line | head height |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in photos:
        for t in tools:
            r = by.get((p, t))
            if r is None:
                continue
            if "error" in r:
                L.append(f"| {p} | {t} | refused: `{r['error']}` |||||||||||||")
                continue
            ratio = r["time_ms"] / ref_t[p] if p in ref_t and not r.get("harness_time") else float("nan")
            rss = fmt(r["rss_mib"], ".0f") + ("†" if r.get("rss_batch") else "")
            L.append(f"| {p} | {t} | {fmt(r['time_ms'], '.0f')}{'*' if r.get('harness_time') else ''} | {fmt(ratio, '.3f')} | {rss} | {fmt(r['iou'])} | {fmt(r['mae'])} | "
                     f"{fmt(r['edge_iou'])} | {fmt(r['edge_mae'])} | {fmt(r.get('true_iou'))} | {fmt(r.get('true_edge_mae'))} | {fmt(r['halo'])} | "
                     f"{fmt(r.get('roll_deg'), '.2f')} | {fmt(r.get('eye_line'), '.3f')} | {fmt(r.get('head_height') if r.get('cropped') else None, '.3f')} |")
    L += ["", "† peak RSS of one process that ran the whole batch (model loaded once). * baseline time is the harness's numpy, not a product.", ""]
    (OUT / "RESULTS.md").write_text("\n".join(L))
    (OUT / "results.json").write_text(json.dumps(dict(summary=summary, rows=rows), indent=1, default=float))


def contact_sheet(photos: list[dict], pictures: dict) -> None:
    """Per photo one row: the input, then per tool its matte and its result on the contrasting colour."""
    H = 180
    tools = [t for t in TOOLS if any(t in pictures[p]["tools"] for p in pictures)]

    def tile(img: np.ndarray) -> Image.Image:
        im = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
        return im.resize((max(1, round(im.width * H / im.height)), H), Image.LANCZOS)

    rows = []
    for ph in photos:
        pic = pictures.get(ph["name"])
        if not pic:
            continue
        cells = [(ph["name"], tile(pic["input"]))]
        for t in tools:
            d = pic["tools"].get(t)
            if d is None:
                blank = Image.new("RGB", (135, H), (60, 60, 60))
                cells += [(f"{t}: refused", blank), ("", blank)]
                continue
            cells += [(f"{t} matte", tile(np.repeat(d["alpha"][..., None], 3, -1))), (f"{t} result", tile(d["composite"]))]
        rows.append(cells)
    if not rows:
        return
    widths = [max(r[i][1].width for r in rows if i < len(r)) for i in range(max(len(r) for r in rows))]
    pad, lab = 4, 14
    sheet = Image.new("RGB", (sum(widths) + pad * (len(widths) + 1), len(rows) * (H + lab + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    y = pad
    for r in rows:
        x = pad
        for i, (label, im) in enumerate(r):
            draw.text((x, y), label, fill=(0, 0, 0))
            sheet.paste(im, (x, y + lab))
            x += widths[i] + pad
        y += H + lab + pad
    sheet.save(OUT / "contact_sheet.png", optimize=True)


def main() -> None:
    started = time.time()
    for need in (NODE_MODULES, ISNET, RUNNER):
        if not need.exists():
            raise SystemExit(f"missing {need}: run `make eval` (it installs and builds what the harness needs)")
    photos = build_photos()
    if ONLY_PHOTOS:  # for debugging the harness on a few photos
        photos = [p for p in photos if p["name"] in ONLY_PHOTOS]
    log(f"{len(photos)} photos")
    preset = json.loads(subprocess.run(
        [str(RUNNER), str(WORK), "1", str(ROOT / "tests/fixtures/grace_hopper.jpg")],
        capture_output=True, text=True, check=True, cwd=ROOT).stdout.splitlines()[0])["preset"]
    results = run_tools(photos, preset)
    if "gf-baseline" in SELECTED and "lichtbild" in results:
        results["gf-baseline"] = gf_baseline(photos, results["lichtbild"])
    rows, pictures = measure(photos, results)
    write_report(rows, preset, started)
    contact_sheet(photos, pictures)
    log(f"wrote {OUT / 'RESULTS.md'} and {OUT / 'contact_sheet.png'} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
