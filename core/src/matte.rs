//! Portrait matte: MediaPipe selfie segmentation on the composed frame, refined to a soft alpha
//! with foreground colours.
//!
//! The segmenter sees 256x256, so its edge is a blurry, slightly misplaced band once it is back at
//! frame size. [`refine`] turns it into a matte at full resolution in three O(n) steps:
//! 1. a fast colour guided filter snaps the soft band onto the photo's real edges (hair strands
//!    come out as partial alpha);
//! 2. a trimap: pixels confidently inside/outside the coarse mask are forced to 1/0, only the
//!    band in between keeps the filtered, soft alpha (no haze in the background, no holes in the
//!    face);
//! 3. blur-fusion foreground estimation (Forte & Pitié 2021) removes the old background's colour
//!    from the semi-transparent pixels, so hair does not carry a fringe onto the new background.

use crate::error::{Error, Result};
use crate::filters::{box_blur, dilate, erode, guided_filter, resize};
use crate::raster::{Image, Plane};
use ort::session::Session;

/// The selfie segmenter's square input size.
pub const MODEL_SIZE: usize = 256;

/// Coarse person probability for `frame` (RGB float [0,1], any size), at frame size.
pub fn person_mask(session: &mut Session, frame: &Image<f32>) -> Result<Plane> {
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h == 0 {
        return Ok(Plane::new(w, h, 1));
    }
    let rgb = as_rgb(frame);
    // MediaPipe stretches the whole frame to the square input (no letterbox), so do we.
    let small = resize(&rgb, MODEL_SIZE, MODEL_SIZE);
    drop(rgb);
    let n = MODEL_SIZE * MODEL_SIZE;
    let mut mask = Plane::new(MODEL_SIZE, MODEL_SIZE, 1);
    {
        let t = ort::value::TensorRef::from_array_view(([1usize, MODEL_SIZE, MODEL_SIZE, 3], &small.data[..]))
            .map_err(|e| Error::inference("matte", e))?;
        let out = session.run(ort::inputs!["input_1" => t]).map_err(|e| Error::inference("matte", e))?;
        let (_shape, data) = out["activation_10"].try_extract_tensor::<f32>().map_err(|e| Error::inference("matte", e))?;
        if data.len() != n {
            return Err(Error::inference("matte", format!("segmenter returned {} values, expected {n}", data.len())));
        }
        for (m, &v) in mask.data.iter_mut().zip(data) {
            *m = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
        }
    }
    Ok(resize(&mask, w, h))
}

/// Tunables of [`refine`], as fractions of the frame's shorter side where they are lengths.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefineParams {
    /// Guided-filter window radius.
    pub gf_radius: f32,
    /// Guided-filter regulariser: smaller follows the photo's edges more closely.
    pub gf_eps: f32,
    /// How far inside the coarse edge alpha is forced to 1.
    pub band_in: f32,
    /// How far outside the coarse edge alpha is forced to 0.
    pub band_out: f32,
    /// Threshold of the coarse mask that defines "the edge".
    pub threshold: f32,
    /// Blur-fusion radii (coarse then fine pass).
    pub fg_r1: f32,
    pub fg_r2: f32,
}

pub(crate) const DEFAULT_PARAMS: RefineParams = RefineParams {
    gf_radius: 0.012,
    gf_eps: 1e-3,
    band_in: 0.02,
    band_out: 0.03,
    threshold: 0.5,
    fg_r1: 0.075,
    fg_r2: 0.006,
};

/// Refines the coarse mask against the full-resolution frame.
/// `coverage` is 1 where the frame holds photo pixels and 0 where the composition had to extend
/// past the photo's border (alpha there must be 0). Returns (alpha, foreground colours).
pub fn refine(frame: &Image<f32>, coarse: &Plane, coverage: &Plane) -> (Plane, Image<f32>) {
    refine_with(frame, coarse, coverage, &DEFAULT_PARAMS)
}

pub(crate) fn refine_with(frame: &Image<f32>, coarse: &Plane, coverage: &Plane, p: &RefineParams) -> (Plane, Image<f32>) {
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h == 0 {
        return (Plane::new(w, h, 1), Image::new(w, h, 3));
    }
    let rgb = as_rgb(frame);
    let coarse = fit_plane(coarse, w, h, 0.0);
    let coverage = fit_plane(coverage, w, h, 1.0);
    let s = w.min(h) as f32;
    let px = |f: f32| (f * s).round().max(1.0) as usize;

    // 1. Edge-aware alpha. Solving on a half-size copy is 4x cheaper and visually identical,
    //    because the coefficients are smooth and are applied to the full-resolution guide.
    let r = px(p.gf_radius);
    let sub = if r >= 4 { 2 } else { 1 };
    let q = guided_filter(&rgb, &coarse, r, p.gf_eps, sub);

    // 2. Trimap from the coarse mask; the soft band in between keeps the filtered alpha.
    let mut hard = Plane::new(w, h, 1);
    for (b, &c) in hard.data.iter_mut().zip(coarse.data.iter()) {
        *b = if c > p.threshold { 1.0 } else { 0.0 };
    }
    let feather = (px(p.band_in) / 4).max(1);
    let lower = box_blur(&erode(&hard, px(p.band_in)), feather, feather);
    let upper = box_blur(&dilate(&hard, px(p.band_out)), feather, feather);
    drop(hard);
    let mut alpha = Plane::new(w, h, 1);
    for i in 0..w * h {
        let a = q.data[i].clamp(lower.data[i], upper.data[i].max(lower.data[i]));
        // Snap near-certain values: a 2 % haze over the background reads as a grey veil.
        let a = ((a - 0.02) / 0.96).clamp(0.0, 1.0);
        alpha.data[i] = a * coverage.data[i].clamp(0.0, 1.0);
    }
    drop((q, lower, upper));

    // 3. Foreground colours without the old background.
    let fg = estimate_foreground(&rgb, &alpha, &coverage, px(p.fg_r1), px(p.fg_r2));
    (alpha, fg)
}

/// Blur-fusion foreground estimation (Forte & Pitié, "Approximate fast foreground colour
/// estimation", ICIP 2021), two passes: a wide one for the colours of F and B, a narrow one to
/// sharpen F. The background average is weighted by coverage too, so extended border pixels
/// (not photo) do not count as background colour.
pub fn estimate_foreground(img: &Image<f32>, alpha: &Plane, coverage: &Plane, r1: usize, r2: usize) -> Image<f32> {
    let (f1, b1) = blur_fusion(img, img, img, alpha, coverage, r1);
    blur_fusion(img, &f1, &b1, alpha, coverage, r2).0
}

fn blur_fusion(
    img: &Image<f32>,
    f: &Image<f32>,
    b: &Image<f32>,
    alpha: &Plane,
    coverage: &Plane,
    r: usize,
) -> (Image<f32>, Image<f32>) {
    let (w, h) = (img.width, img.height);
    let n = w * h;
    // One 8-channel box blur: alpha*F (3), alpha, (1-alpha)*cov*B (3), (1-alpha)*cov.
    let mut st = Image::<f32>::new(w, h, 8);
    for i in 0..n {
        let a = alpha.data[i];
        let wb = (1.0 - a) * coverage.data[i];
        let s = &mut st.data[i * 8..i * 8 + 8];
        for c in 0..3 {
            s[c] = a * f.data[i * 3 + c];
            s[4 + c] = wb * b.data[i * 3 + c];
        }
        s[3] = a;
        s[7] = wb;
    }
    let m = box_blur(&st, r, r);
    drop(st);
    let mut fo = Image::<f32>::new(w, h, 3);
    let mut bo = Image::<f32>::new(w, h, 3);
    for i in 0..n {
        let s = &m.data[i * 8..i * 8 + 8];
        let a = alpha.data[i];
        let ia = 1.0 / (s[3] + 1e-5);
        let ib = 1.0 / (s[7] + 1e-5);
        for c in 0..3 {
            let fh = s[c] * ia;
            let bh = s[4 + c] * ib;
            let v = img.data[i * 3 + c];
            fo.data[i * 3 + c] = (fh + a * (v - a * fh - (1.0 - a) * bh)).clamp(0.0, 1.0);
            bo.data[i * 3 + c] = bh;
        }
    }
    (fo, bo)
}

/// The first three channels (grey is replicated), as a packed RGB image.
fn as_rgb(img: &Image<f32>) -> Image<f32> {
    if img.channels == 3 {
        return img.clone();
    }
    let mut out = Image::<f32>::new(img.width, img.height, 3);
    let ch = img.channels.max(1);
    if img.channels == 0 {
        return out;
    }
    for (o, px) in out.data.chunks_exact_mut(3).zip(img.data.chunks_exact(ch)) {
        if ch >= 3 {
            o.copy_from_slice(&px[..3]);
        } else {
            o.fill(px[0]);
        }
    }
    out
}

/// `p` as a single-channel plane of exactly w x h (resampled if a caller passed another size;
/// an empty plane becomes `fill`).
fn fit_plane(p: &Plane, w: usize, h: usize, fill: f32) -> Plane {
    if p.width == 0 || p.height == 0 || p.channels == 0 {
        let mut out = Plane::new(w, h, 1);
        out.data.fill(fill);
        return out;
    }
    let one = if p.channels == 1 {
        p.clone()
    } else {
        let mut o = Plane::new(p.width, p.height, 1);
        for (d, px) in o.data.iter_mut().zip(p.data.chunks_exact(p.channels)) {
            *d = px[0];
        }
        o
    };
    if one.width == w && one.height == h {
        one
    } else {
        resize(&one, w, h)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn load_fixture(name: &str) -> Image<f32> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
        let im = image::open(path).expect("fixture").to_rgb8();
        let (w, h) = (im.width() as usize, im.height() as usize);
        let raw = crate::privacy::secure_buffer::SecureBuf::from_vec(im.into_raw());
        Image::from_buf(w, h, 3, raw).to_f32()
    }

    pub(crate) fn ones(w: usize, h: usize) -> Plane {
        let mut p = Plane::new(w, h, 1);
        p.data.fill(1.0);
        p
    }

    fn astronaut_mask() -> (Image<f32>, Plane) {
        let frame = load_fixture("astronaut.png");
        let mut s = crate::runtime::test_session("matte", crate::models::SEGMENTER.bytes);
        let m = person_mask(&mut s, &frame).unwrap();
        (frame, m)
    }

    #[test]
    fn person_mask_on_astronaut() {
        let (frame, m) = astronaut_mask();
        assert_eq!((m.width, m.height, m.channels), (frame.width, frame.height, 1));
        // Face centre (between the eyes and the mouth) and the suit: person.
        assert!(m.px(225, 120)[0] > 0.9, "face {}", m.px(225, 120)[0]);
        assert!(m.px(200, 380)[0] > 0.9, "suit {}", m.px(200, 380)[0]);
        // Upper corners: studio backdrop and the flag.
        for (x, y) in [(5, 5), (506, 5), (330, 40)] {
            assert!(m.px(x, y)[0] < 0.1, "({x},{y}) {}", m.px(x, y)[0]);
        }
    }

    #[test]
    fn refine_on_astronaut() {
        let (frame, m) = astronaut_mask();
        let (w, h) = (frame.width, frame.height);
        // Pretend the bottom 40 rows were extended past the photo.
        let mut cov = ones(w, h);
        for y in h - 40..h {
            for x in 0..w {
                cov.data[y * w + x] = 0.0;
            }
        }
        let (a, fg) = refine(&frame, &m, &cov);
        assert_eq!((a.width, a.height, fg.channels), (w, h, 3));
        assert_eq!(a.px(225, 120)[0], 1.0);
        assert_eq!(a.px(5, 5)[0], 0.0);
        assert_eq!(a.px(330, 40)[0], 0.0);
        assert!((h - 40..h).all(|y| (0..w).all(|x| a.px(x, y)[0] == 0.0)));
        // A soft edge: partial alpha along the hair and shoulders, but only in a thin band.
        let soft = a.data.iter().filter(|&&v| v > 0.05 && v < 0.95).count();
        let hair = (40..110).flat_map(|y| (140..320).map(move |x| (x, y))).filter(|&(x, y)| {
            let v = a.px(x, y)[0];
            v > 0.05 && v < 0.95
        });
        assert!(hair.count() > 150, "hair band too thin");
        assert!(soft > 800 && soft < w * h / 10, "soft pixels {soft}");
    }

    /// A feathered disk of a known colour on a known background: the estimated foreground in
    /// the soft band is much closer to the true colour than the observed (mixed) pixel.
    #[test]
    fn foreground_estimation_removes_background() {
        let (w, h) = (160, 120);
        let (fgc, bgc) = ([0.9f32, 0.7, 0.2], [0.1f32, 0.3, 0.9]);
        let mut img = Image::<f32>::new(w, h, 3);
        let mut alpha = Plane::new(w, h, 1);
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f32 - 80.0).powi(2) + (y as f32 - 60.0).powi(2)).sqrt();
                let a = ((40.0 - d) / 10.0 + 0.5).clamp(0.0, 1.0);
                alpha.data[y * w + x] = a;
                for c in 0..3 {
                    img.data[(y * w + x) * 3 + c] = a * fgc[c] + (1.0 - a) * bgc[c];
                }
            }
        }
        let fg = estimate_foreground(&img, &alpha, &ones(w, h), 12, 2);
        let (mut err_raw, mut err_est, mut n) = (0.0f32, 0.0f32, 0);
        for i in 0..w * h {
            let a = alpha.data[i];
            if a > 0.1 && a < 0.9 {
                for c in 0..3 {
                    err_raw += (img.data[i * 3 + c] - fgc[c]).abs();
                    err_est += (fg.data[i * 3 + c] - fgc[c]).abs();
                }
                n += 3;
            }
        }
        let (err_raw, err_est) = (err_raw / n as f32, err_est / n as f32);
        assert!(err_est < 0.2 * err_raw, "raw {err_raw:.3} estimated {err_est:.3}");
        assert!(err_est < 0.03, "estimated {err_est:.3}");
    }

    #[test]
    fn refine_degenerate_sizes() {
        for (w, h) in [(0, 0), (1, 1), (1, 7), (9, 1), (3, 3)] {
            let f = Image::<f32>::new(w, h, 3);
            let c = ones(w, h);
            let (a, fg) = refine(&f, &c, &c);
            assert_eq!((a.width, a.height, fg.width, fg.height), (w, h, w, h));
        }
        // Mismatched mask sizes are resampled, not a panic.
        let f = Image::<f32>::new(20, 10, 3);
        let (a, _) = refine(&f, &ones(5, 5), &Plane::new(0, 0, 1));
        assert_eq!((a.width, a.height), (20, 10));
    }

    fn save(img: &Image<f32>, path: &str) {
        let u = img.to_u8();
        let ct = match u.channels {
            1 => image::ExtendedColorType::L8,
            4 => image::ExtendedColorType::Rgba8,
            _ => image::ExtendedColorType::Rgb8,
        };
        image::save_buffer(path, &u.data, u.width as u32, u.height as u32, ct).unwrap();
    }

    /// Writes the coarse mask, alpha and composites on red/blue to /tmp for looking at.
    #[test]
    #[ignore]
    fn debug_dump_astronaut() {
        let (frame, m) = astronaut_mask();
        let (w, h) = (frame.width, frame.height);
        let t = std::time::Instant::now();
        let (a, fg) = refine(&frame, &m, &ones(w, h));
        eprintln!("refine {:?}", t.elapsed());
        save(&m, "/tmp/matte_coarse.png");
        save(&a, "/tmp/matte_alpha.png");
        for (name, col) in [("red", [1.0, 0.0, 0.0]), ("blue", [0.1, 0.2, 0.8]), ("white", [1.0, 1.0, 1.0])] {
            let mut out = Image::<f32>::new(w, h, 3);
            let mut raw = Image::<f32>::new(w, h, 3);
            for i in 0..w * h {
                let al = a.data[i];
                for c in 0..3 {
                    out.data[i * 3 + c] = al * fg.data[i * 3 + c] + (1.0 - al) * col[c];
                    raw.data[i * 3 + c] = al * frame.data[i * 3 + c] + (1.0 - al) * col[c];
                }
            }
            save(&out, &format!("/tmp/matte_on_{name}.png"));
            save(&raw, &format!("/tmp/matte_raw_on_{name}.png"));
        }
    }

    /// Timing at the bewerbung-45x60 size (run with --release --ignored).
    #[test]
    #[ignore]
    fn time_refine_531x709() {
        let (frame, m) = astronaut_mask();
        let f = resize(&frame, 531, 709);
        let c = resize(&m, 531, 709);
        let cov = ones(531, 709);
        let _ = refine(&f, &c, &cov);
        let n = 20;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(refine(&f, &c, &cov));
        }
        eprintln!("refine 531x709: {:.2} ms", t.elapsed().as_secs_f64() * 1000.0 / n as f64);
    }
}
