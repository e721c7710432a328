//! Portrait matte: MediaPipe selfie segmentation on the composed frame, refined to a soft alpha
//! with foreground colours.
//!
//! The segmenter sees 256x256, so its edge is a blurry, slightly misplaced band once it is back at
//! frame size. [`refine`] turns it into a matte at full resolution in O(n) steps:
//! 1. a trimap: pixels confidently inside/outside the coarse mask are forced to 1/0, only the
//!    band in between gets a soft alpha (no haze over the background, no holes in the face);
//! 2. in that band, a fast colour guided filter (He et al.), run twice, snaps the alpha onto the
//!    photo's real edges: crisp on hard edges, partial alpha on hair strands;
//! 3. blur-fusion foreground estimation (Forte & Pitié 2021) removes the old background's colour
//!    from the semi-transparent pixels, so hair does not carry a fringe onto the new background.
//!
//! Everything smooth (trimap, filter coefficients, local colour means) is solved on a grid of
//! about 180 px on its short side (3x smaller at 531x709; visually identical to 2x, twice as
//! fast) and streamed through running-sum box filters; the full-resolution work is reading the
//! photo, evaluating the band and writing the two results.

use crate::error::{Error, Result};
use crate::filters::{
    apply_coefficients, block_downsample, block_downsample_into, block_mean, block_row, box_blur_owned, box_stream_par, dilate, erode, guided_coefficients, resize,
    BlockSampler,
};
use crate::privacy::secure_buffer::{count_zeroised, SecureBuf};
use crate::raster::{Image, Plane};
use ort::session::Session;
use std::borrow::Cow;

/// The selfie segmenter's square input size.
pub const MODEL_SIZE: usize = 256;

/// Coarse person probability for `frame` (RGB float [0,1], any size), at frame size.
pub fn person_mask(session: &mut Session, frame: &Image<f32>) -> Result<Plane> {
    Ok(resize(&person_mask_small(session, None, frame)?, frame.width, frame.height))
}

/// [`person_mask`] at the segmenter's own 256x256 (the frame stretched to the square), which
/// [`refine`] takes as is: upsampling it to the frame only for refine to average it back down
/// cost more than the rest of the matte's arithmetic. With `mirror` (a second session of the same
/// model), the mirror-image run goes on it alongside the first, on a thread of its own.
pub fn person_mask_small(session: &mut Session, mirror: Option<&mut Session>, frame: &Image<f32>) -> Result<Plane> {
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h == 0 {
        return Ok(Plane::new(w, h, 1));
    }
    let rgb = as_rgb(frame);
    // MediaPipe stretches the whole frame to the square input (no letterbox), so do we.
    let mut small = resize(&rgb, MODEL_SIZE, MODEL_SIZE);
    drop(rgb);
    // The segmenter runs on the frame and on its mirror image, and the two masks are averaged:
    // its edge errors are largely not mirror-symmetric, so the mean lies closer to the real edge
    // (edge-band error -5 % against ISNet, -8 % against true alpha in tests/eval; one more 256 px
    // inference).
    let mut mirrored = Image::<f32>::new(MODEL_SIZE, MODEL_SIZE, 3);
    for (d, s) in mirrored.data.chunks_exact_mut(MODEL_SIZE * 3).zip(small.data.chunks_exact(MODEL_SIZE * 3)) {
        for (dp, sp) in d.chunks_exact_mut(3).zip(s.chunks_exact(3).rev()) {
            dp.copy_from_slice(sp);
        }
    }
    let (mut mask, mut back) = (Plane::new(MODEL_SIZE, MODEL_SIZE, 1), Plane::new(MODEL_SIZE, MODEL_SIZE, 1));
    // The worker's run options (the watchdog's terminate flag) serve both runs.
    let ro = crate::runtime::run_options()?;
    match mirror.filter(|_| crate::parallel::threads() >= 2) {
        Some(second) => {
            let (a, b) = crate::parallel::join(
                || {
                    let r = segment_into(session, &ro, &small, &mut mask, false);
                    small.data.wipe_now();
                    r
                },
                // ORT's tensors freed on that thread come back to be zeroed with this job's.
                || {
                    crate::privacy::ort_alloc::as_part_of_job(|| {
                        let r = segment_into(second, &ro, &mirrored, &mut back, true);
                        mirrored.data.wipe_now();
                        r
                    })
                },
            );
            let (b, freed, wiped) = b;
            count_zeroised(wiped);
            crate::privacy::ort_alloc::adopt(freed);
            a.and(b)?;
        }
        None => {
            segment_into(session, &ro, &small, &mut mask, false)?;
            segment_into(session, &ro, &mirrored, &mut back, true)?;
        }
    }
    for (m, &b) in mask.data.iter_mut().zip(back.data.iter()) {
        *m = 0.5 * (*m + b);
    }
    Ok(mask)
}

/// One segmenter run on a 256x256 RGB input, its probabilities into `mask` (mirrored back when
/// the input was the mirror image).
fn segment_into(session: &mut Session, ro: &ort::session::RunOptions, input: &Image<f32>, mask: &mut Plane, mirrored: bool) -> Result<()> {
    let n = MODEL_SIZE * MODEL_SIZE;
    let t = ort::value::TensorRef::from_array_view(([1usize, MODEL_SIZE, MODEL_SIZE, 3], &input.data[..]))
        .map_err(|e| Error::inference("matte", e))?;
    let out = session.run_with_options(ort::inputs!["input_1" => t], ro).map_err(|e| Error::inference("matte", e))?;
    let (_shape, data) = out["activation_10"].try_extract_tensor::<f32>().map_err(|e| Error::inference("matte", e))?;
    if data.len() != n {
        return Err(Error::inference("matte", format!("segmenter returned {} values, expected {n}", data.len())));
    }
    let clean = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    for (mrow, drow) in mask.data.chunks_exact_mut(MODEL_SIZE).zip(data.chunks_exact(MODEL_SIZE)) {
        if mirrored {
            for (m, &v) in mrow.iter_mut().zip(drow.iter().rev()) {
                *m = clean(v);
            }
        } else {
            for (m, &v) in mrow.iter_mut().zip(drow) {
                *m = clean(v);
            }
        }
    }
    Ok(())
}

/// Coarse alpha from a user-supplied matting model (declared size, layout and normalisation),
/// at frame size. Its output may be [1,1,H,W], [1,H,W,1] or [1,H,W].
pub fn user_mask(session: &mut Session, m: &crate::models::UserModel, frame: &Image<f32>) -> Result<Plane> {
    use crate::models::Layout;
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h == 0 {
        return Ok(Plane::new(w, h, 1));
    }
    let (iw, ih) = (m.input_width as usize, m.input_height as usize);
    let rgb = as_rgb(frame);
    let small = resize(&rgb, iw, ih);
    drop(rgb);
    let mut input = SecureBuf::<f32>::zeroed(iw * ih * 3);
    for (i, px) in small.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            let v = (px[c] - m.mean[c]) / m.std[c];
            match m.layout {
                Layout::Nhwc => input[i * 3 + c] = v,
                Layout::Nchw => input[c * iw * ih + i] = v,
            }
        }
    }
    drop(small);
    let shape = match m.layout {
        Layout::Nhwc => [1usize, ih, iw, 3],
        Layout::Nchw => [1usize, 3, ih, iw],
    };
    let e = |e: ort::Error| Error::inference("matte", e);
    let input_name = session.inputs().first().map(|i| i.name().to_string()).ok_or_else(|| Error::inference("matte", "the model has no input"))?;
    let t = ort::value::TensorRef::from_array_view((shape, &input[..])).map_err(e)?;
    let ro = crate::runtime::run_options()?;
    let out = session.run_with_options(ort::inputs![input_name.as_str() => t], &*ro).map_err(e)?;
    let (oshape, data) = out[0].try_extract_tensor::<f32>().map_err(e)?;
    let dims: Vec<usize> = oshape.iter().map(|&d| d.max(0) as usize).collect();
    let n = dims.len();
    let (oh, ow) = match dims.as_slice() {
        [.., hh, ww, 1] if n >= 3 => (*hh, *ww),
        [.., hh, ww] if n >= 2 => (*hh, *ww),
        _ => return Err(Error::inference("matte", format!("matting output has shape {dims:?}; expected [1,1,H,W], [1,H,W,1] or [1,H,W]"))),
    };
    if oh * ow != data.len() || oh == 0 || ow == 0 {
        return Err(Error::inference("matte", format!("matting output has shape {dims:?}; expected a single-channel alpha")));
    }
    let mut mask = Plane::new(ow, oh, 1);
    for (a, &v) in mask.data.iter_mut().zip(data) {
        let v = if m.logits { 1.0 / (1.0 + (-v).exp()) } else { v };
        *a = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    }
    Ok(resize(&mask, w, h))
}

/// What refine knows of a grid cell's alpha from the trimap around it, as bits (never both):
/// surely person, surely not, or neither (the band, solved per pixel).
const SURE_FG: u8 = 1;
const SURE_BG: u8 = 2;

/// Tunables of [`refine`], as fractions of the frame's shorter side where they are lengths.
/// Public only for the parameter sweep (`examples/refine_sweep.rs`) the evaluation drives.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RefineParams {
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
    /// The coarse mask is contrast-stretched from [pre_lo, pre_hi] to [0, 1] before filtering,
    /// so the softness of the result comes from the photo, not from the upsampled 256 px mask.
    pub pre_lo: f32,
    pub pre_hi: f32,
    /// Guided-filter passes and the radius of the passes after the first.
    pub passes: usize,
    pub gf_radius2: f32,
    /// Blur-fusion radii (coarse then fine pass).
    pub fg_r1: f32,
    pub fg_r2: f32,
    /// Short side of the grid the smooth parts are solved on, in cells (k = short side / grid).
    pub grid: f32,
}

impl Default for RefineParams {
    fn default() -> Self {
        DEFAULT_PARAMS
    }
}

#[doc(hidden)]
pub const DEFAULT_PARAMS: RefineParams = RefineParams {
    gf_radius: 0.012,
    gf_eps: 1e-3,
    band_in: 0.02,
    band_out: 0.03,
    threshold: 0.5,
    pre_lo: 0.3,
    pre_hi: 0.7,
    passes: 2,
    gf_radius2: 0.006,
    fg_r1: 0.075,
    fg_r2: 0.01,
    grid: 180.0,
};

/// Refines the coarse mask (at frame size, or any size such as the segmenter's) against the
/// full-resolution frame. `coverage` is 1 where the frame holds photo pixels and 0 where the composition had to extend
/// past the photo's border (alpha there must be 0). Returns (alpha, foreground colours).
pub fn refine(frame: &Image<f32>, coarse: &Plane, coverage: &Plane) -> (Plane, Image<f32>) {
    refine_with(frame, coarse, coverage, &DEFAULT_PARAMS)
}

/// [`refine`] with the frame turned into the foreground colours in place (no second
/// frame-sized copy): returns alpha. For callers that no longer need the photo itself.
pub fn refine_in_place(frame: &mut Image<f32>, coarse: &Plane, coverage: &Plane) -> Plane {
    let (alpha, plan) = refine_alpha(frame, coarse, coverage, &DEFAULT_PARAMS);
    if frame.channels != 3 {
        *frame = as_rgb(frame).into_owned();
    }
    if let Some(plan) = plan {
        plan.foreground(frame, &alpha, coverage);
    }
    alpha
}

#[doc(hidden)]
pub fn refine_with(frame: &Image<f32>, coarse: &Plane, coverage: &Plane, p: &RefineParams) -> (Plane, Image<f32>) {
    let (alpha, plan) = refine_alpha(frame, coarse, coverage, p);
    let mut fg = as_rgb(frame).into_owned();
    if let Some(plan) = plan {
        plan.foreground(&mut fg, &alpha, coverage);
    }
    (alpha, fg)
}

/// What the foreground estimate takes over from the alpha: the grid, the frame's block means on
/// it, what is known of each block, and the two radii in pixels.
struct ForegroundPlan {
    k: usize,
    means: Image<f32>,
    kinds: SecureBuf<u8>,
    r1: usize,
    r2: usize,
}

impl ForegroundPlan {
    /// `fg` holds the frame's RGB on entry, the foreground colours on return.
    fn foreground(&self, fg: &mut Image<f32>, alpha: &Plane, coverage: &Plane) {
        let coverage = fit_plane(coverage, fg.width, fg.height, 1.0);
        estimate_foreground_into(fg, alpha, &coverage, self.r1, self.r2, self.k, Some((&self.means, &self.kinds)));
    }
}

/// Step 1 of [`refine`]: alpha, and the plan for step 2 (none for an empty frame).
fn refine_alpha(frame: &Image<f32>, coarse: &Plane, coverage: &Plane, p: &RefineParams) -> (Plane, Option<ForegroundPlan>) {
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h == 0 {
        return (Plane::new(w, h, 1), None);
    }
    let rgb = as_rgb(frame);
    let coverage = fit_plane(coverage, w, h, 1.0);
    let s = w.min(h) as f32;
    let px = |f: f32| (f * s).round().max(1.0) as usize;
    // Everything smooth (trimap, filter coefficients, local colour means) is solved on a grid k
    // times smaller; full resolution is only touched to read the photo, to evaluate the soft
    // band and to write the results. (Big temporaries cost more in page faults and wiping
    // than in arithmetic.)
    let k = ((s / p.grid.max(1.0)).round() as usize).max(1);
    let low = |r: usize| ((r as f32 / k as f32).round() as usize).max(1);
    let guide_low = block_downsample(&rgb, k);
    let (lw, lh) = (w.div_ceil(k), h.div_ceil(k));
    // The coverage's block means (a pass over a frame-sized plane) go on the helper while this
    // thread brings the coarse mask onto the grid; the helper only fills a buffer made here.
    let mut cov_low = Image::<f32>::new(lw, lh, 1);
    let (hard, ()) = crate::parallel::join(
        || {
            // A frame-size mask is block-averaged onto the grid; a smaller one (the segmenter's
            // 256 px output, as the pipeline passes it) is resampled straight to it.
            let coarse_low = if coarse.width == w && coarse.height == h && coarse.channels == 1 {
                block_downsample(coarse, k)
            } else {
                fit_plane(coarse, lw, lh, 0.0).into_owned()
            };
            let mut hard = Plane::new(lw, lh, 1);
            for (b, &c) in hard.data.iter_mut().zip(coarse_low.data.iter()) {
                *b = if c > p.threshold { 1.0 } else { 0.0 };
            }
            (coarse_low, hard)
        },
        || block_downsample_into(&coverage, k, &mut cov_low),
    );
    let (coarse_low, hard) = hard;
    // Trimap from the coarse mask: `lower` = 1 where surely person, `upper` = 0 where surely
    // not; the band in between gets the filtered, soft alpha. Feathered so there is no seam.
    // The two sides side by side; the helper's buffers are counted for this thread's receipt.
    let feather = low((px(p.band_in) / 4).max(1));
    let (lower, (upper, counts)) = crate::parallel::join(
        || box_blur_owned(erode(&hard, low(px(p.band_in))), feather, feather),
        || crate::privacy::secure_buffer::counted(|| box_blur_owned(dilate(&hard, low(px(p.band_out))), feather, feather)),
    );
    crate::privacy::secure_buffer::add_counts(counts);
    drop(hard);
    let mut trimap = Image::<f32>::new(lw, lh, 2);
    for ((t, &lo), &hi) in trimap.data.chunks_exact_mut(2).zip(lower.data.iter()).zip(upper.data.iter()) {
        t[0] = lo;
        t[1] = hi.max(lo);
    }
    drop((lower, upper));
    debug_assert_eq!((lw, lh), (guide_low.width, guide_low.height));

    // 1. Edge-aware alpha: colour guided filter, twice. The second pass starts from the first
    //    one's result (already on the photo's edges, trimap applied), so the flat background
    //    next to an edge maps to ~0 instead of keeping the coarse mask's grey ramp.
    let span = (p.pre_hi - p.pre_lo).max(1e-3);
    let stretch = |v: f32| {
        let t = ((v - p.pre_lo) / span).clamp(0.0, 1.0);
        t * t * (3.0 - 2.0 * t)
    };
    let mut pre = Plane::new(lw, lh, 1);
    for (d, &c) in pre.data.iter_mut().zip(coarse_low.data.iter()) {
        *d = stretch(c);
    }
    drop(coarse_low);
    let mut ab = guided_coefficients(&guide_low, &pre, low(px(p.gf_radius)), p.gf_eps);
    for _ in 1..p.passes.max(1) {
        // Top and bottom halves of the grid side by side.
        let update = |i0: usize, out: &mut [f32]| {
            let (c, g, t) = (&ab.data[i0 * 4..], &guide_low.data[i0 * 3..], &trimap.data[i0 * 2..]);
            for (((d, c), g), t) in out.iter_mut().zip(c.chunks_exact(4)).zip(g.chunks_exact(3)).zip(t.chunks_exact(2)) {
                let q = c[0] * g[0] + c[1] * g[1] + c[2] * g[2] + c[3];
                *d = stretch(q.clamp(t[0], t[1]));
            }
        };
        let mid = lh / 2 * lw;
        let (top, bottom) = pre.data.split_at_mut(mid);
        crate::parallel::join(|| update(0, top), || update(mid, bottom));
        ab = guided_coefficients(&guide_low, &pre, low(px(p.gf_radius2)), p.gf_eps);
    }
    drop(pre);

    // Cells whose every bilinear tap is certain skip the per-pixel work: for a pixel in cell
    // (bx, by) the taps lie in the 3x3 cells around it. A certain cell that is wholly photo
    // (coverage 1) has alpha exactly 0 or 1 everywhere, which the foreground estimate uses too.
    // Per cell: SURE_FG and SURE_BG bits, AND-ed over the 3x3 neighbourhood, rows then columns.
    let mut sure = SecureBuf::<u8>::zeroed(lw * lh);
    for (s, t) in sure.iter_mut().zip(trimap.data.chunks_exact(2)) {
        *s = if t[0] >= 1.0 - 1e-4 { SURE_FG } else { 0 } | if t[1] <= 1e-4 { SURE_BG } else { 0 };
    }
    let mut rows3 = SecureBuf::<u8>::zeroed(lw * lh);
    for (o, r) in rows3.chunks_exact_mut(lw).zip(sure.chunks_exact(lw)) {
        o.copy_from_slice(r);
        for (o, &v) in o[1..].iter_mut().zip(&r[..lw - 1]) {
            *o &= v;
        }
        for (o, &v) in o[..lw - 1].iter_mut().zip(&r[1..]) {
            *o &= v;
        }
    }
    for (by, out) in sure.chunks_exact_mut(lw).enumerate() {
        out.copy_from_slice(&rows3[by * lw..(by + 1) * lw]);
        for ny in [by.wrapping_sub(1), by + 1].into_iter().filter(|&ny| ny < lh) {
            for (o, &v) in out.iter_mut().zip(&rows3[ny * lw..(ny + 1) * lw]) {
                *o &= v;
            }
        }
    }
    drop(rows3);
    let mut kinds = SecureBuf::<u8>::zeroed(lw * lh);
    for ((k, &c), &cv) in kinds.iter_mut().zip(sure.iter()).zip(cov_low.data.iter()) {
        *k = match (c, cv >= 1.0 - 1e-6) {
            (SURE_FG, true) => known::OPAQUE,
            (SURE_BG, true) => known::CLEAR,
            _ => known::MIXED,
        };
    }
    drop(cov_low);
    let mut alpha = Plane::new(w, h, 1);
    let tri = BlockSampler::new(&trimap, w, k);
    let coef = BlockSampler::new(&ab, w, k);
    crate::parallel::bands(&mut alpha.data, w, |y0, band| {
        for (j, alpha_row) in band.chunks_exact_mut(w).enumerate() {
            let y = y0 + j;
            let by = y / k;
            let (trow, crow) = (tri.row(y), coef.row(y));
            for bx in 0..lw {
                let (x0, x1) = (bx * k, ((bx + 1) * k).min(w));
                let (arow, crow_cov) = (&mut alpha_row[x0..x1], &coverage.data[y * w + x0..y * w + x1]);
                let kind = sure[by * lw + bx];
                match kinds[by * lw + bx] {
                    known::CLEAR => continue,
                    known::OPAQUE => {
                        arow.fill(1.0);
                        continue;
                    }
                    _ if kind == SURE_BG => continue,
                    _ => {}
                }
                for (j, (a, &cv)) in arow.iter_mut().zip(crow_cov).enumerate() {
                    let cv = cv.clamp(0.0, 1.0);
                    if kind == SURE_FG || cv <= 0.0 {
                        *a = cv;
                        continue;
                    }
                    let x = x0 + j;
                    let [lo, hi] = tri.sample::<2>(&trow, x);
                    let v = if lo >= 1.0 - 1e-4 {
                        1.0
                    } else if hi <= 1e-4 {
                        0.0
                    } else {
                        let i = y * w + x;
                        let q = apply_coefficients(&coef, &crow, x, &rgb.data[i * 3..i * 3 + 3]);
                        // Snap near-certain values: a 2 % haze over the background reads as a veil.
                        ((q.clamp(lo, hi) - 0.02) / 0.96).clamp(0.0, 1.0)
                    };
                    *a = v * cv;
                }
            }
        }
    });
    drop((tri, coef));
    drop((ab, trimap, sure));

    // 2. Foreground colours without the old background: the caller's, in place or on a copy.
    (alpha, Some(ForegroundPlan { k, means: guide_low, kinds, r1: px(p.fg_r1), r2: px(p.fg_r2) }))
}

/// Blur-fusion foreground estimation (Forte & Pitié, "Approximate fast foreground colour
/// estimation", ICIP 2021), two passes: a wide one (radius `r1`) for the colours of F and B, a
/// narrow one (`r2`) to sharpen F. The background average is weighted by coverage too, so
/// extended border pixels (not photo) do not count as background colour.
pub fn estimate_foreground(img: &Image<f32>, alpha: &Plane, coverage: &Plane, r1: usize, r2: usize) -> Image<f32> {
    estimate_foreground_k(img, alpha, coverage, r1, r2, 1, None)
}

/// What refine knows of a grid cell before the foreground estimate: alpha is 1 on all of it and
/// coverage 1 (`OPAQUE`), alpha 0 and coverage 1 (`CLEAR`), or anything (`MIXED`). Bytes, so a
/// grid of them lives in a SecureBuf like everything else derived from the photo.
mod known {
    pub const MIXED: u8 = 0;
    pub const OPAQUE: u8 = 1;
    pub const CLEAR: u8 = 2;
}

/// [`estimate_foreground`] with the local means (which are smooth) computed on a grid `k`
/// times smaller and streamed through the box filter; full-resolution work is limited to
/// pixels with 0 < alpha < 1.
///
/// `known`: the image's block means on that grid and what is known of each block; a block
/// known `Opaque` or `Clear` takes its sums from the means instead of its pixels.
fn estimate_foreground_k(img: &Image<f32>, alpha: &Plane, coverage: &Plane, r1: usize, r2: usize, k: usize, known: Option<(&Image<f32>, &[u8])>) -> Image<f32> {
    // F starts as the image itself: exact where alpha = 1, irrelevant where alpha = 0.
    let mut fg = img.clone();
    estimate_foreground_into(&mut fg, alpha, coverage, r1, r2, k, known);
    fg
}

/// [`estimate_foreground_k`] in place: `fg` holds the RGB image on entry and the foreground
/// colours on return. Only the soft pixels change; their original colours, which pass 2 needs
/// again, are kept aside (a tenth of the frame instead of a copy of all of it).
fn estimate_foreground_into(fg: &mut Image<f32>, alpha: &Plane, coverage: &Plane, r1: usize, r2: usize, k: usize, known: Option<(&Image<f32>, &[u8])>) {
    let (w, h) = (fg.width, fg.height);
    let k = k.max(1);
    let low = |r: usize| ((r as f32 / k as f32).round() as usize).max(1);
    if w == 0 || h == 0 || fg.channels != 3 {
        return;
    }
    let img = &*fg;
    let (lw, lh) = (w.div_ceil(k), h.div_ceil(k));
    let cov = |i: usize| coverage.data[i].clamp(0.0, 1.0);
    let soft = |a: f32| a > 0.0 && a < 1.0;
    // Pass 1 (F = B = I). Block means of alpha*F (3), alpha, (1-alpha)*cov*B (3), (1-alpha)*cov
    // and whether the block has soft pixels, first for every block (in row bands), then the
    // first eight through the box filter; out come the local means F_hat, B_hat. Pass 2 reuses
    // the block means wherever F = I.
    let f1 = |i: usize| {
        let a = alpha.data[i];
        let wbi = (1.0 - a) * cov(i);
        let v = &img.data[i * 3..i * 3 + 3];
        [a * v[0], a * v[1], a * v[2], a, wbi * v[0], wbi * v[1], wbi * v[2], wbi, if soft(a) { 1.0 } else { 0.0 }]
    };
    let mut blocks = Image::<f32>::new(lw, lh, 9);
    crate::parallel::bands(&mut blocks.data, lw * 9, |b0, band| {
        for (j, nine) in band.chunks_exact_mut(lw * 9).enumerate() {
            let by = b0 + j;
            match known {
                Some((means, kinds)) => {
                    for (bx, o) in nine.chunks_exact_mut(9).enumerate() {
                        let i = by * lw + bx;
                        let g = &means.data[i * 3..i * 3 + 3];
                        o.copy_from_slice(&match kinds[i] {
                            known::OPAQUE => [g[0], g[1], g[2], 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                            known::CLEAR => [0.0, 0.0, 0.0, 0.0, g[0], g[1], g[2], 1.0, 0.0],
                            _ => block_mean::<9>(w, h, k, bx, by, &mut &f1),
                        });
                    }
                }
                None => block_row::<9>(w, h, k, by, &mut &f1, nine),
            }
        }
    });
    let mut fb1 = Image::<f32>::new(lw, lh, 6);
    box_stream_par(
        lw,
        lh,
        8,
        low(r1),
        low(r1),
        &mut fb1.data,
        lw * 6,
        |by, row| {
            for (d, s) in row.chunks_exact_mut(8).zip(blocks.data[by * lw * 9..(by + 1) * lw * 9].chunks_exact(9)) {
                d.copy_from_slice(&s[..8]);
            }
        },
        |o, _, m| local_means(m, o),
    );
    // The soft pixels' colours, row by row (row y's start at `first[y]`), for pass 2: counted,
    // then copied, the top and bottom halves side by side.
    let mid = h / 2;
    let mut first = SecureBuf::<usize>::zeroed(h + 1);
    let count = |y0: usize, counts: &mut [usize]| {
        for (y, c) in (y0..).zip(counts.iter_mut()) {
            *c = alpha.data[y * w..(y + 1) * w].iter().filter(|&&a| soft(a)).count();
        }
    };
    let (top, bottom) = first[1..].split_at_mut(mid);
    crate::parallel::join(|| count(0, top), || count(mid, bottom));
    for y in 0..h {
        first[y + 1] += first[y];
    }
    let mut orig = SecureBuf::<f32>::zeroed(first[h] * 3);
    let gather = |rows: std::ops::Range<usize>, out: &mut [f32]| {
        let (mut n, base) = (0, rows.start * w);
        for (i, &a) in (base..).zip(&alpha.data[base..rows.end * w]) {
            if soft(a) {
                out[n * 3..n * 3 + 3].copy_from_slice(&img.data[i * 3..i * 3 + 3]);
                n += 1;
            }
        }
    };
    let (top, bottom) = orig.split_at_mut(first[mid] * 3);
    crate::parallel::join(|| gather(0..mid, top), || gather(mid..h, bottom));
    fuse(alpha, &fb1, k, None, fg);
    let img = &*fg;
    // Pass 2: F from pass 1 (differs from I only in blocks with soft pixels, the others reuse
    // pass 1's sums); B = the smooth pass-1 background mean, constant enough within a block to
    // take at the block's centre.
    let mut fb2 = Image::<f32>::new(lw, lh, 6);
    let f2 = |i: usize| {
        let a = alpha.data[i];
        let f = &img.data[i * 3..i * 3 + 3];
        [a * f[0], a * f[1], a * f[2], a]
    };
    box_stream_par(
        lw,
        lh,
        8,
        low(r2),
        low(r2),
        &mut fb2.data,
        lw * 6,
        |by, row| {
            let (kr, br) = (&blocks.data[by * lw * 9..(by + 1) * lw * 9], &fb1.data[by * lw * 6..(by + 1) * lw * 6]);
            for (bx, ((d, kp), b)) in row.chunks_exact_mut(8).zip(kr.chunks_exact(9)).zip(br.chunks_exact(6)).enumerate() {
                let s = if kp[8] > 0.0 { block_mean::<4>(w, h, k, bx, by, &mut &f2) } else { [kp[0], kp[1], kp[2], kp[3]] };
                let wbi = kp[7];
                d.copy_from_slice(&[s[0], s[1], s[2], s[3], wbi * b[3], wbi * b[4], wbi * b[5], wbi]);
            }
        },
        |o, _, m| local_means(m, o),
    );
    drop((blocks, fb1));
    fuse(alpha, &fb2, k, Some((&first, &orig)), fg);
}

/// From box-filtered (alpha*F, alpha, w*B, w) to local means (F_hat, B_hat), 6 values a pixel.
fn local_means(m: &[f32], out: &mut [f32]) {
    for (o, s) in out.chunks_exact_mut(6).zip(m.chunks_exact(8)) {
        let ia = 1.0 / (s[3] + 1e-5);
        let ib = 1.0 / (s[7] + 1e-5);
        o.copy_from_slice(&[s[0] * ia, s[1] * ia, s[2] * ia, s[4] * ib, s[5] * ib, s[6] * ib]);
    }
}

/// F = F_hat + alpha (I - alpha F_hat - (1 - alpha) B_hat), on the soft pixels only, in place.
/// I is `fg`'s own pixel, or with `kept` the soft pixels' colours kept aside (row y's from
/// `first[y]` on).
fn fuse(alpha: &Plane, fb: &Image<f32>, k: usize, kept: Option<(&[usize], &[f32])>, fg: &mut Image<f32>) {
    let w = fg.width;
    let sampler = BlockSampler::new(fb, w, k);
    crate::parallel::bands(&mut fg.data, w * 3, |y0, band| {
        for (j, frow) in band.chunks_exact_mut(w * 3).enumerate() {
            let y = y0 + j;
            let arow = &alpha.data[y * w..(y + 1) * w];
            if arow.iter().all(|&a| a <= 0.0 || a >= 1.0) {
                continue;
            }
            let row = sampler.row(y);
            let mut n = kept.map_or(0, |(first, _)| first[y]);
            for (x, &a) in arow.iter().enumerate() {
                if a <= 0.0 || a >= 1.0 {
                    continue;
                }
                let m: [f32; 6] = sampler.sample(&row, x);
                let f = &mut frow[x * 3..x * 3 + 3];
                let v: [f32; 3] = match kept {
                    Some((_, orig)) => orig.get(n * 3..n * 3 + 3).and_then(|s| s.try_into().ok()).unwrap_or([0.0; 3]),
                    None => [f[0], f[1], f[2]],
                };
                n += 1;
                for c in 0..3 {
                    f[c] = (m[c] + a * (v[c] - a * m[c] - (1.0 - a) * m[3 + c])).clamp(0.0, 1.0);
                }
            }
        }
    });
}

/// The first three channels (grey is replicated), as a packed RGB image (borrowed if it is one).
fn as_rgb(img: &Image<f32>) -> Cow<'_, Image<f32>> {
    if img.channels == 3 {
        return Cow::Borrowed(img);
    }
    let mut out = Image::<f32>::new(img.width, img.height, 3);
    if img.channels == 0 {
        return Cow::Owned(out);
    }
    let ch = img.channels;
    for (o, px) in out.data.chunks_exact_mut(3).zip(img.data.chunks_exact(ch)) {
        if ch >= 3 {
            o.copy_from_slice(&px[..3]);
        } else {
            o.fill(px[0]);
        }
    }
    Cow::Owned(out)
}

/// `p` as a single-channel plane of exactly w x h: borrowed when it already is one, else
/// resampled (a caller passed another size) or filled with `fill` (an empty plane).
fn fit_plane(p: &Plane, w: usize, h: usize, fill: f32) -> Cow<'_, Plane> {
    if p.channels == 1 && p.width == w && p.height == h {
        return Cow::Borrowed(p);
    }
    if p.width == 0 || p.height == 0 || p.channels == 0 {
        let mut out = Plane::new(w, h, 1);
        out.data.fill(fill);
        return Cow::Owned(out);
    }
    let mut one = Plane::new(p.width, p.height, 1);
    for (d, px) in one.data.iter_mut().zip(p.data.chunks_exact(p.channels)) {
        *d = px[0];
    }
    Cow::Owned(resize(&one, w, h))
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
    fn person_mask_is_the_mean_of_the_photo_and_its_mirror_image() {
        // The segmenter alone is not mirror-symmetric (its edges differ by tenths between a
        // photo and its mirror image); averaging both runs makes the mask mirror-equivariant.
        let frame = load_fixture("astronaut.png");
        let (w, h) = (frame.width, frame.height);
        let mut mirror = Image::<f32>::new(w, h, 3);
        for y in 0..h {
            for x in 0..w {
                let p = frame.px(w - 1 - x, y).to_vec();
                mirror.px_mut(x, y).copy_from_slice(&p);
            }
        }
        let mut s = crate::runtime::test_session("matte", crate::models::SEGMENTER.bytes);
        let (a, b) = (person_mask(&mut s, &frame).unwrap(), person_mask(&mut s, &mirror).unwrap());
        let mut worst = 0.0f32;
        for y in 0..h {
            for x in 0..w {
                worst = worst.max((a.px(x, y)[0] - b.px(w - 1 - x, y)[0]).abs());
            }
        }
        assert!(worst < 0.02, "mask and mirrored mask differ by up to {worst}");
    }

    #[test]
    fn the_mirror_run_on_a_second_session_alongside_gives_the_same_mask() {
        let frame = load_fixture("astronaut.png");
        let mut s = crate::runtime::test_session("matte", crate::models::SEGMENTER.bytes);
        let mut second = crate::runtime::test_session("matte", crate::models::SEGMENTER.bytes);
        let one = person_mask_small(&mut s, None, &frame).unwrap();
        crate::privacy::secure_buffer::take_zeroised_bytes();
        let allocs = crate::privacy::ort_alloc::allocations();
        let (two, wiped) = crate::parallel::with_threads(2, || {
            let m = person_mask_small(&mut s, Some(&mut second), &frame).unwrap();
            (m, crate::privacy::secure_buffer::take_zeroised_bytes())
        });
        assert_eq!(&one.data[..], &two.data[..]);
        // Both runs' tensors went through the wiping allocator and some bytes were counted here
        // (that a helper thread's bytes reach this count: ort_alloc's `as_part_of_job` test).
        assert!(crate::privacy::ort_alloc::allocations() > allocs);
        assert!(wiped > 0, "no bytes counted as wiped");
    }

    #[test]
    fn refine_is_the_same_in_bands_and_from_the_small_mask() {
        let frame = load_fixture("astronaut.png");
        let mut s = crate::runtime::test_session("matte", crate::models::SEGMENTER.bytes);
        let small = person_mask_small(&mut s, None, &frame).unwrap();
        assert_eq!((small.width, small.height), (MODEL_SIZE, MODEL_SIZE));
        let cov = ones(frame.width, frame.height);
        let (a1, f1) = crate::parallel::with_threads(1, || refine(&frame, &small, &cov));
        let (a2, f2) = crate::parallel::with_threads(2, || refine(&frame, &small, &cov));
        assert_eq!(&a1.data[..], &a2.data[..]);
        assert_eq!(&f1.data[..], &f2.data[..]);
        // The 256 px mask gives (nearly) the alpha the frame-size one does.
        let (a3, _) = refine(&frame, &person_mask(&mut s, &frame).unwrap(), &cov);
        let mean = a1.data.iter().zip(a3.data.iter()).map(|(x, y)| (x - y).abs()).sum::<f32>() / a1.data.len() as f32;
        assert!(mean < 0.005, "mean alpha difference {mean}");
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

    #[test]
    fn refine_in_place_equals_refine_on_a_copy() {
        let (frame, m) = astronaut_mask();
        let mut cov = ones(frame.width, frame.height);
        cov.data[..frame.width * 30].fill(0.0);
        let (a1, f1) = refine(&frame, &m, &cov);
        let mut f2 = frame.clone();
        let a2 = refine_in_place(&mut f2, &m, &cov);
        assert_eq!(&a1.data[..], &a2.data[..]);
        assert_eq!(&f1.data[..], &f2.data[..]);
        assert_ne!(&f2.data[..], &frame.data[..], "the soft pixels changed");
    }

    #[test]
    fn foreground_from_known_blocks_equals_the_full_sums() {
        // refine() lets blocks known wholly opaque or clear take their sums from the block
        // means; computed from every pixel instead, the foreground must be the same. Part of
        // the frame is not photo (coverage 0 and a soft border), so mixed blocks occur too.
        let (frame, m) = astronaut_mask();
        let (w, h) = (frame.width, frame.height);
        let mut cov = ones(w, h);
        for y in 0..h {
            for x in 0..w {
                cov.data[y * w + x] = ((x as f32 - 60.0) / 3.0).clamp(0.0, 1.0);
            }
        }
        let (a, fg) = refine(&frame, &m, &cov);
        let s = w.min(h) as f32;
        let px = |f: f32| (f * s).round().max(1.0) as usize;
        let k = ((s / DEFAULT_PARAMS.grid).round() as usize).max(1);
        let full = estimate_foreground_k(&frame, &a, &cov, px(DEFAULT_PARAMS.fg_r1), px(DEFAULT_PARAMS.fg_r2), k, None);
        let worst = fg.data.iter().zip(full.data.iter()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "foregrounds differ by up to {worst}");
        let soft = a.data.iter().filter(|&&v| v > 0.0 && v < 1.0).count();
        assert!(soft > 1000, "soft pixels {soft}");
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
        // The radii refine() uses at 531 px: 0.075 and 0.01 of the short side.
        let fg = estimate_foreground(&img, &alpha, &ones(w, h), 40, 5);
        let (mut err_raw, mut err_est, mut n) = (0.0f32, 0.0f32, 0);
        for i in 0..w * h {
            let a = alpha.data[i];
            if a > 0.1 && a < 0.9 {
                for (c, &t) in fgc.iter().enumerate() {
                    err_raw += (img.data[i * 3 + c] - t).abs();
                    err_est += (fg.data[i * 3 + c] - t).abs();
                }
                n += 3;
            }
        }
        let (err_raw, err_est) = (err_raw / n as f32, err_est / n as f32);
        assert!(err_est < 0.15 * err_raw, "raw {err_raw:.3} estimated {err_est:.3}");
        assert!(err_est < 0.04, "estimated {err_est:.3}");
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

    fn zoom(img: &Image<f32>, x0: usize, y0: usize, w: usize, h: usize, k: usize) -> Image<f32> {
        let mut out = Image::<f32>::new(w * k, h * k, img.channels);
        for y in 0..h * k {
            for x in 0..w * k {
                let s = img.px((x0 + x / k).min(img.width - 1), (y0 + y / k).min(img.height - 1)).to_vec();
                out.px_mut(x, y).copy_from_slice(&s);
            }
        }
        out
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
        save(&zoom(&a, 140, 5, 180, 130, 3), "/tmp/matte_hair_alpha.png");
        save(&zoom(&m, 140, 5, 180, 130, 3), "/tmp/matte_hair_coarse.png");
        for (name, col) in [("red", [1.0, 0.0, 0.0]), ("blue", [0.1, 0.2, 0.8]), ("white", [1.0, 1.0, 1.0])] {
            let mut out = Image::<f32>::new(w, h, 3);
            let mut raw = Image::<f32>::new(w, h, 3);
            for i in 0..w * h {
                let al = a.data[i];
                for (c, &b) in col.iter().enumerate() {
                    out.data[i * 3 + c] = al * fg.data[i * 3 + c] + (1.0 - al) * b;
                    raw.data[i * 3 + c] = al * frame.data[i * 3 + c] + (1.0 - al) * b;
                }
            }
            save(&out, &format!("/tmp/matte_on_{name}.png"));
            save(&raw, &format!("/tmp/matte_raw_on_{name}.png"));
            save(&zoom(&out, 140, 5, 180, 130, 3), &format!("/tmp/matte_hair_on_{name}.png"));
            save(&zoom(&raw, 140, 5, 180, 130, 3), &format!("/tmp/matte_hair_raw_on_{name}.png"));
            save(&zoom(&out, 250, 130, 140, 180, 3), &format!("/tmp/matte_shoulder_on_{name}.png"));
        }
    }

    #[test]
    #[ignore]
    fn debug_sweep_astronaut() {
        let (frame, m) = astronaut_mask();
        let (w, h) = (frame.width, frame.height);
        let d = DEFAULT_PARAMS;
        let variants: Vec<(&str, RefineParams)> = vec![
            ("base", d),
            ("eps1e-4", RefineParams { gf_eps: 1e-4, ..d }),
            ("eps1e-2", RefineParams { gf_eps: 1e-2, ..d }),
            ("pre", RefineParams { pre_lo: 0.3, pre_hi: 0.7, ..d }),
            ("pre_eps1e-4", RefineParams { pre_lo: 0.3, pre_hi: 0.7, gf_eps: 1e-4, ..d }),
            ("pre_r2x", RefineParams { pre_lo: 0.3, pre_hi: 0.7, gf_radius: 0.024, ..d }),
            ("pre_rhalf", RefineParams { pre_lo: 0.3, pre_hi: 0.7, gf_radius: 0.006, ..d }),
            ("it2", RefineParams { pre_lo: 0.3, pre_hi: 0.7, passes: 2, ..d }),
            ("it2_r012", RefineParams { pre_lo: 0.3, pre_hi: 0.7, passes: 2, gf_radius2: 0.012, ..d }),
            ("it2_r004", RefineParams { pre_lo: 0.3, pre_hi: 0.7, passes: 2, gf_radius2: 0.004, ..d }),
            ("it3", RefineParams { pre_lo: 0.3, pre_hi: 0.7, passes: 3, ..d }),
        ];
        for (name, p) in variants {
            let (a, fg) = refine_with(&frame, &m, &ones(w, h), &p);
            let mut out = Image::<f32>::new(w, h, 3);
            for i in 0..w * h {
                let al = a.data[i];
                let col = [1.0, 0.0, 0.0];
                for (c, &b) in col.iter().enumerate() {
                    out.data[i * 3 + c] = al * fg.data[i * 3 + c] + (1.0 - al) * b;
                }
            }
            save(&zoom(&out, 140, 5, 180, 130, 3), &format!("/tmp/sweep_{name}_red.png"));
            save(&zoom(&a, 140, 5, 180, 130, 3), &format!("/tmp/sweep_{name}_alpha.png"));
            save(&zoom(&out, 145, 20, 90, 80, 6), &format!("/tmp/sweep_{name}_red6.png"));
            save(&zoom(&out, 270, 170, 90, 90, 6), &format!("/tmp/sweep_{name}_ring6.png"));
            save(&zoom(&a, 270, 170, 90, 90, 6), &format!("/tmp/sweep_{name}_ringa6.png"));
        }
        save(&zoom(&frame, 140, 5, 180, 130, 3), "/tmp/sweep_frame.png");
    }
}
