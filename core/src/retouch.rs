//! Gentle retouch, only with `appearance` consent: white balance, face exposure, skin smoothing
//! restricted to skin.
//!
//! Two rules keep it honest. Nothing outside the person changes (every correction is blended by
//! the matte). And no step treats a skin tone as an error: the white balance is measured on
//! near-neutral parts of the person (shirt, collar, grey hair) with the face excluded, and the
//! exposure only moves when the face's brightness *and* the eye whites, which are about the same
//! brightness on everyone, agree that the photo is too dark or too bright. A darker complexion in
//! a well-exposed photo is therefore left exactly as it is.

use crate::filters::{dilate, fill_polygon, gaussian_blur, guided_filter, resize};
use crate::geometry::Point;
use crate::landmarks::{FaceMesh, LEFT_EYE, RIGHT_EYE};
use crate::privacy::secure_buffer::SecureBuf;
use crate::raster::{Image, Plane};
use std::borrow::Cow;

/// Largest white-balance gain change per channel at strength 1.
const MAX_WB: f32 = 0.06;
/// Largest exposure change at strength 1, in EV.
const MAX_EV: f32 = 0.5;
/// Mean skin luminance (sRGB, Rec. 709 weights) of a well-exposed face, as asked for.
const FACE_TARGET: f32 = 0.52;
/// Eye-white luminance (sRGB) of a well-exposed portrait as this meter reads it: sclera is
/// shaded by lids and lashes, and at headshot resolution the brighter part of the eye opening
/// still mixes in some iris (the astronaut fixture, a professional exposure, reads 0.63).
const SCLERA_TARGET: f32 = 0.66;
/// The eye-white meter only speaks up beyond this many EV: it is a guard against misreading a
/// complexion as an exposure error, not a precise meter.
const SCLERA_DEADBAND: f32 = 0.5;
/// Exposure changes smaller than this are not worth a re-quantisation.
const MIN_EV: f32 = 0.03;
/// Share of the smoothed skin at strength 1: pores and texture stay visible.
const SMOOTH_MIX: f32 = 0.6;

/// Retouches `fg` (RGB float, output frame) in place. `mesh` is in output-frame coordinates,
/// `alpha` the person matte; `strength` in (0, 1], 0.5 is the natural default.
pub fn apply(fg: &mut Image<f32>, alpha: &Plane, mesh: &FaceMesh, strength: f32) {
    let s = if strength.is_nan() { 0.0 } else { strength.clamp(0.0, 1.0) };
    if s == 0.0 || fg.width == 0 || fg.height == 0 || fg.channels < 3 || mesh.points.len() < 468 {
        return;
    }
    if mesh.points.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return;
    }
    let iod = mesh.left_eye_center().dist(mesh.right_eye_center());
    let eyes: Vec<Vec<Point>> = [&RIGHT_EYE[..], &LEFT_EYE[..]].iter().map(|idx| idx.iter().map(|&i| mesh.point(i)).collect()).collect();
    apply_polygons(fg, alpha, &mesh.face_oval(), &mesh.eyes_brows_lips(), &eyes, iod, s);
}

/// [`apply`] on polygons: the face oval, the features to keep out of the smoothing (eyes,
/// brows, lips), the two eye openings (for the eye-white exposure reference) and the distance
/// between the eye centres (the scale of everything face-related).
pub(crate) fn apply_polygons(
    fg: &mut Image<f32>,
    alpha: &Plane,
    oval: &[Point],
    features: &[Vec<Point>],
    eyes: &[Vec<Point>],
    iod: f32,
    s: f32,
) {
    let (w, h) = (fg.width, fg.height);
    // NaN fails every comparison, so test for the good case.
    let usable = iod > 2.0 && s > 0.0;
    if !usable || w == 0 || h == 0 || fg.channels < 3 {
        return;
    }
    let s = s.min(1.0);
    let alpha = fit(alpha, w, h);
    let Some(skin) = skin_mask(w, h, oval, features, iod) else {
        return;
    };
    // Measure everything on the untouched photo, then change it in one pass.
    let gains = white_balance_gains(fg, &alpha, &skin, s);
    let ev = exposure_ev(fg, &alpha, &skin, eyes, s);
    tone(fg, &alpha, gains, ev);
    smooth_skin(fg, &alpha, &skin, iod, s);
}

/// A mask over part of the frame: `plane` covers the rectangle at (x0, y0).
pub(crate) struct Roi {
    pub x0: usize,
    pub y0: usize,
    pub plane: Plane,
}

impl Roi {
    /// Mask value at frame pixel (x, y); 0 outside the rectangle.
    pub fn at(&self, x: usize, y: usize) -> f32 {
        if x < self.x0 || y < self.y0 || x - self.x0 >= self.plane.width || y - self.y0 >= self.plane.height {
            return 0.0;
        }
        self.plane.data[(y - self.y0) * self.plane.width + (x - self.x0)]
    }
}

/// The polygons rasterised on their bounding box (None if empty or off-frame).
fn polygons_roi(w: usize, h: usize, polys: &[Vec<Point>]) -> Option<Roi> {
    let pts = || polys.iter().flatten().filter(|p| p.x.is_finite() && p.y.is_finite());
    let x0 = pts().map(|p| p.x).fold(f32::INFINITY, f32::min).floor().clamp(0.0, w as f32) as usize;
    let y0 = pts().map(|p| p.y).fold(f32::INFINITY, f32::min).floor().clamp(0.0, h as f32) as usize;
    let x1 = pts().map(|p| p.x).fold(f32::NEG_INFINITY, f32::max).ceil().clamp(0.0, w as f32) as usize;
    let y1 = pts().map(|p| p.y).fold(f32::NEG_INFINITY, f32::max).ceil().clamp(0.0, h as f32) as usize;
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let mut plane = Plane::new(x1 - x0, y1 - y0, 1);
    for p in polys {
        let local: Vec<Point> = p.iter().map(|q| Point::new(q.x - x0 as f32, q.y - y0 as f32)).collect();
        fill_polygon(&mut plane, &local);
    }
    Some(Roi { x0, y0, plane })
}

/// Skin = face oval minus (slightly dilated) eyes, brows and lips, feathered; computed only on
/// the face's bounding box. Pixels inside the feature polygons are exactly 0. None when the oval
/// is empty or off-frame.
pub(crate) fn skin_mask(w: usize, h: usize, oval: &[Point], features: &[Vec<Point>], iod: f32) -> Option<Roi> {
    if oval.len() < 3 || iod.is_nan() || iod <= 0.0 || oval.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
        return None;
    }
    let grow = (iod * 0.06).round().max(1.0) as usize;
    let sigma = (iod * 0.04).max(0.5);
    let margin = (3.0 * sigma).ceil() as isize + 2;
    let bx0 = (oval.iter().map(|p| p.x).fold(f32::INFINITY, f32::min).floor() as isize - margin).clamp(0, w as isize) as usize;
    let by0 = (oval.iter().map(|p| p.y).fold(f32::INFINITY, f32::min).floor() as isize - margin).clamp(0, h as isize) as usize;
    let bx1 = (oval.iter().map(|p| p.x).fold(f32::NEG_INFINITY, f32::max).ceil() as isize + margin).clamp(0, w as isize) as usize;
    let by1 = (oval.iter().map(|p| p.y).fold(f32::NEG_INFINITY, f32::max).ceil() as isize + margin).clamp(0, h as isize) as usize;
    if bx1 <= bx0 || by1 <= by0 {
        return None;
    }
    let (rw, rh) = (bx1 - bx0, by1 - by0);
    let local = |poly: &[Point]| -> Vec<Point> { poly.iter().map(|p| Point::new(p.x - bx0 as f32, p.y - by0 as f32)).collect() };
    let mut face = Plane::new(rw, rh, 1);
    fill_polygon(&mut face, &local(oval));
    let mut feat = Plane::new(rw, rh, 1);
    for p in features {
        fill_polygon(&mut feat, &local(p));
    }
    // Margin around the features: lashes, lid creases and the lip line stay crisp.
    let feat = dilate(&feat, grow);
    for (f, &e) in face.data.iter_mut().zip(feat.data.iter()) {
        *f *= 1.0 - e;
    }
    let mut m = gaussian_blur(&face, sigma);
    // Feathering must not reach back into the eyes and lips: keep them exactly at 0.
    for (v, &e) in m.data.iter_mut().zip(feat.data.iter()) {
        *v *= 1.0 - e;
    }
    Some(Roi { x0: bx0, y0: by0, plane: m })
}

fn luma(p: &[f32]) -> f32 {
    0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2]
}

fn chroma(p: &[f32]) -> f32 {
    let mx = p[0].max(p[1]).max(p[2]);
    let mn = p[0].min(p[1]).min(p[2]);
    if mx > 1e-3 { (mx - mn) / mx } else { 0.0 }
}

/// Per-channel gains from the near-neutral parts of the person ("grey pixels": low chroma, not
/// clipped, not face skin), normalised to keep luminance, each limited to 1 ± MAX_WB * s. Too few
/// such pixels (a person in saturated colours only) means no correction rather than a guess.
fn white_balance_gains(fg: &Image<f32>, alpha: &Plane, skin: &Roi, s: f32) -> [f32; 3] {
    let (w, ch) = (fg.width, fg.channels);
    let (mut sum, mut n, mut person) = ([0.0f64; 3], 0.0f64, 0.0f64);
    for (i, (p, &a)) in fg.data.chunks_exact(ch).zip(alpha.data.iter()).enumerate() {
        if a < 0.9 {
            continue;
        }
        person += 1.0;
        let l = luma(p);
        if !(0.12..=0.95).contains(&l) || chroma(p) > 0.2 || skin.at(i % w, i / w) > 0.05 {
            continue;
        }
        for c in 0..3 {
            sum[c] += p[c] as f64;
        }
        n += 1.0;
    }
    if n < 50.0_f64.max(0.01 * person) {
        return [1.0; 3];
    }
    let mean = sum.map(|v| (v / n) as f32);
    let grey = luma(&mean);
    let mut g = mean.map(|m| grey / m.max(1e-3));
    let norm = luma(&g);
    let lim = MAX_WB * s;
    for v in g.iter_mut() {
        *v = (*v / norm).clamp(1.0 - lim, 1.0 + lim);
    }
    g
}

/// Exposure change in EV. Two meters: the mean luminance of the face's skin (towards
/// FACE_TARGET) and the eye whites (towards SCLERA_TARGET). Only a change both agree on is
/// made, and only as much as the smaller of them asks for: a face that is dark because of its
/// complexion has normally bright eye whites and stays as it is; glare on glasses alone cannot
/// darken a face either.
fn exposure_ev(fg: &Image<f32>, alpha: &Plane, skin: &Roi, eyes: &[Vec<Point>], s: f32) -> f32 {
    let (w, h, ch) = (fg.width, fg.height, fg.channels);
    // Face meter.
    let (mut l, mut n) = (0.0f64, 0.0f64);
    for y in skin.y0..(skin.y0 + skin.plane.height).min(h) {
        for x in skin.x0..(skin.x0 + skin.plane.width).min(w) {
            let m = skin.at(x, y) * alpha.data[y * w + x];
            if m > 0.0 {
                l += (m * luma(&fg.data[(y * w + x) * ch..(y * w + x) * ch + 3])) as f64;
                n += m as f64;
            }
        }
    }
    if n < 16.0 {
        return 0.0;
    }
    // EV are ratios of linear light.
    let ev_face = (to_linear(FACE_TARGET) / to_linear((l / n) as f32).max(1e-4)).log2();
    // Eye-white meter: the bright end of the eye openings (above the iris and pupil, below the
    // one or two catchlight pixels).
    let Some(eye) = polygons_roi(w, h, eyes) else {
        return 0.0;
    };
    let (ew, eh) = (eye.plane.width, eye.plane.height);
    let inside = |x: usize, y: usize| eye.plane.data[y * ew + x] > 0.0 && alpha.data[(eye.y0 + y) * w + eye.x0 + x] > 0.5;
    let px = |x: usize, y: usize| &fg.data[((eye.y0 + y) * w + eye.x0 + x) * ch..((eye.y0 + y) * w + eye.x0 + x) * ch + 3];
    let mut lum = SecureBuf::from_vec(
        (0..eh).flat_map(|y| (0..ew).map(move |x| (x, y))).filter(|&(x, y)| inside(x, y)).map(|(x, y)| luma(px(x, y))).collect::<Vec<f32>>(),
    );
    if lum.len() < 12 {
        return 0.0;
    }
    lum.sort_by(f32::total_cmp);
    let (lo, hi) = (lum[lum.len() * 7 / 10], lum[(lum.len() * 95 / 100).min(lum.len() - 1)]);
    drop(lum);
    let (mut sum, mut chr, mut n) = (0.0f32, 0.0f32, 0.0f32);
    for y in 0..eh {
        for x in 0..ew {
            let l = if inside(x, y) { luma(px(x, y)) } else { continue };
            if (lo..=hi).contains(&l) {
                sum += l;
                chr += chroma(px(x, y));
                n += 1.0;
            }
        }
    }
    if n < 1.0 || chr / n > 0.4 {
        return 0.0;
    }
    let sclera = sum / n;
    let ev_sclera = (to_linear(SCLERA_TARGET) / to_linear(sclera).max(1e-4)).log2();
    let ev_sclera = ev_sclera.signum() * (ev_sclera.abs() - SCLERA_DEADBAND).max(0.0);
    let agreed = if ev_face > 0.0 && ev_sclera > 0.0 {
        ev_face.min(ev_sclera)
    } else if ev_face < 0.0 && ev_sclera < 0.0 {
        ev_face.max(ev_sclera)
    } else {
        0.0
    };
    let ev = agreed.clamp(-MAX_EV, MAX_EV) * s;
    if ev.abs() < MIN_EV { 0.0 } else { ev }
}

fn to_linear(v: f32) -> f32 {
    if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
}

fn to_srgb(v: f32) -> f32 {
    let v = v.clamp(0.0, 1.0);
    if v <= 0.003_130_8 { v * 12.92 } else { 1.055 * v.powf(1.0 / 2.4) - 0.055 }
}

/// White-balance gains and exposure in one pass, in linear light, blended by the matte so
/// nothing outside the person moves. The exposure curve x*g / (1 + x (g - 1)) is a pure gain in
/// the shadows and maps white to white, so brightening never clips and darkening keeps whites.
/// Per channel the whole chain is a smooth function of the input value: tabulated once
/// (4096 steps, linear interpolation, error < 1e-4) instead of two powf per value.
fn tone(fg: &mut Image<f32>, alpha: &Plane, gains: [f32; 3], ev: f32) {
    if ev == 0.0 && gains == [1.0; 3] {
        return;
    }
    const STEPS: usize = 4096;
    let g = ev.exp2();
    let mut lut = SecureBuf::<f32>::zeroed(3 * (STEPS + 1));
    for c in 0..3 {
        for i in 0..=STEPS {
            let x = (to_linear(i as f32 / STEPS as f32) * gains[c]).min(1.0);
            lut[c * (STEPS + 1) + i] = to_srgb(x * g / (1.0 + x * (g - 1.0)));
        }
    }
    let ch = fg.channels;
    for (p, &a) in fg.data.chunks_exact_mut(ch).zip(alpha.data.iter()) {
        let a = a.clamp(0.0, 1.0);
        if a <= 0.0 {
            continue;
        }
        for c in 0..3 {
            let t = p[c].clamp(0.0, 1.0) * STEPS as f32;
            let i = (t as usize).min(STEPS - 1);
            let f = t - i as f32;
            let table = &lut[c * (STEPS + 1)..];
            let y = table[i] + f * (table[i + 1] - table[i]);
            p[c] += a * (y - p[c]);
        }
    }
}

/// Edge-preserving smoothing (self-guided filter per channel, on the face's box only) blended in
/// by the skin mask: blotches and fine noise soften, edges (lashes, lip line, nostrils) and a
/// good part of the texture stay.
fn smooth_skin(fg: &mut Image<f32>, alpha: &Plane, skin: &Roi, iod: f32, s: f32) {
    let (w, ch) = (fg.width, fg.channels);
    let (rw, rh) = (skin.plane.width, skin.plane.height);
    let r = ((iod * 0.08).round() as usize).max(1);
    let mix = SMOOTH_MIX * s;
    let mut plane = Plane::new(rw, rh, 1);
    for c in 0..3 {
        for y in 0..rh {
            for x in 0..rw {
                plane.data[y * rw + x] = fg.data[((skin.y0 + y) * w + skin.x0 + x) * ch + c];
            }
        }
        // eps ~ (0.04)^2: contrasts above ~10 levels of 255 count as edges and are kept.
        let sm = guided_filter(&plane, &plane, r, 0.0015, 1);
        for y in 0..rh {
            for x in 0..rw {
                let k = skin.plane.data[y * rw + x] * alpha.data[(skin.y0 + y) * w + skin.x0 + x].clamp(0.0, 1.0) * mix;
                if k > 0.0 {
                    let o = &mut fg.data[((skin.y0 + y) * w + skin.x0 + x) * ch + c];
                    *o += k * (sm.data[y * rw + x] - *o);
                }
            }
        }
    }
}

fn fit(p: &Plane, w: usize, h: usize) -> Cow<'_, Plane> {
    if p.width == w && p.height == h && p.channels == 1 {
        Cow::Borrowed(p)
    } else if p.width == 0 || p.height == 0 || p.channels != 1 {
        // No usable matte: treat the whole frame as the person rather than refuse to work.
        let mut one = Plane::new(w, h, 1);
        one.data.fill(1.0);
        Cow::Owned(one)
    } else {
        Cow::Owned(resize(p, w, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Vec<Point> {
        vec![Point::new(x0, y0), Point::new(x1, y0), Point::new(x1, y1), Point::new(x0, y1)]
    }

    fn ones(w: usize, h: usize) -> Plane {
        let mut p = Plane::new(w, h, 1);
        p.data.fill(1.0);
        p
    }

    /// A synthetic head: `skin` colour with fine noise inside an oval-ish rectangle, eye
    /// openings with white sclera and a dark iris, on a neutral grey shirt, all over `bg`.
    struct Scene {
        img: Image<f32>,
        alpha: Plane,
        oval: Vec<Point>,
        features: Vec<Vec<Point>>,
        eyes: Vec<Vec<Point>>,
        iod: f32,
    }

    fn scene(skin: [f32; 3], sclera: f32, shirt: [f32; 3]) -> Scene {
        let (w, h) = (160, 200);
        let mut img = Image::<f32>::new(w, h, 3);
        let mut alpha = Plane::new(w, h, 1);
        let mut seed = 12345u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.06
        };
        let eyes = vec![rect(50.0, 70.0, 72.0, 80.0), rect(88.0, 70.0, 110.0, 80.0)];
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
                let in_face = (30.0..130.0).contains(&xf) && (30.0..150.0).contains(&yf);
                let in_shirt = (10.0..150.0).contains(&xf) && yf >= 150.0;
                let in_eye = eyes.iter().any(|e| xf >= e[0].x && xf < e[1].x && yf >= e[0].y && yf < e[2].y);
                let p = img.px_mut(x, y);
                if in_eye {
                    // Sclera at the sides, iris in the middle.
                    let cx = if xf < 80.0 { 61.0 } else { 99.0 };
                    p.fill(if (xf - cx).abs() < 4.0 { 0.15 } else { sclera });
                } else if in_face {
                    let n = noise();
                    for c in 0..3 {
                        p[c] = skin[c] + n;
                    }
                } else if in_shirt {
                    p.copy_from_slice(&shirt);
                } else {
                    p.copy_from_slice(&[0.2, 0.6, 0.3]);
                }
                alpha.data[y * w + x] = if in_face || in_shirt || in_eye { 1.0 } else { 0.0 };
            }
        }
        let oval = rect(30.0, 30.0, 130.0, 150.0);
        let mut features = eyes.clone();
        features.push(rect(60.0, 120.0, 100.0, 130.0)); // lips
        Scene { img, alpha, oval, features, eyes, iod: 38.0 }
    }

    fn run(sc: &Scene, s: f32) -> Image<f32> {
        let mut out = sc.img.clone();
        apply_polygons(&mut out, &sc.alpha, &sc.oval, &sc.features, &sc.eyes, sc.iod, s);
        out
    }

    /// Mean R, G, B and luma over a patch of cheek/forehead skin.
    fn face_mean(img: &Image<f32>) -> [f32; 4] {
        let mut m = [0.0f32; 4];
        for y in 95..115 {
            for x in 40..120 {
                let p = img.px(x, y);
                for c in 0..3 {
                    m[c] += p[c] / 1600.0;
                }
                m[3] += luma(p) / 1600.0;
            }
        }
        m
    }

    fn hf_energy(img: &Image<f32>, x0: usize, x1: usize, y0: usize, y1: usize) -> f32 {
        let mut e = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                for c in 0..3 {
                    e += (img.px(x, y)[c] - img.px(x + 1, y)[c]).powi(2) + (img.px(x, y)[c] - img.px(x, y + 1)[c]).powi(2);
                }
            }
        }
        e
    }

    #[test]
    fn smoothing_stays_on_skin_and_keeps_texture() {
        // Well exposed and neutral: only the smoothing acts.
        let sc = scene([0.62, 0.5, 0.44], SCLERA_TARGET, [0.5, 0.5, 0.5]);
        let out = run(&sc, 1.0);
        let (before, after) = (hf_energy(&sc.img, 40, 120, 90, 115), hf_energy(&out, 40, 120, 90, 115));
        assert!(after < 0.6 * before, "skin texture energy {before} -> {after}");
        assert!(after > 0.05 * before, "skin looks plastic: {before} -> {after}");
        // Eyes, lips and everything outside the person: bit-identical.
        for (x, y) in [(52, 72), (61, 75), (100, 78), (70, 125), (5, 5), (155, 100), (40, 190)] {
            assert_eq!(out.px(x, y), sc.img.px(x, y), "changed at ({x},{y})");
        }
    }

    #[test]
    fn background_stays_and_tones_move_within_limits() {
        // Underexposed face (dark skin AND dark eye whites) with a blue cast on a grey shirt.
        let sc = scene([0.3, 0.26, 0.27], 0.45, [0.4, 0.42, 0.5]);
        let out = run(&sc, 1.0);
        for (x, y) in [(5, 5), (155, 100), (2, 190)] {
            assert_eq!(out.px(x, y), sc.img.px(x, y), "background changed at ({x},{y})");
        }
        // Brightened by a bounded amount.
        let (before, after) = (face_mean(&sc.img), face_mean(&out));
        assert!(after[3] > before[3] * 1.05, "{before:?} -> {after:?}");
        let max = to_srgb(to_linear(before[3]) * 2f32.sqrt() * (1.0 + MAX_WB)) * 1.02;
        assert!(after[3] <= max, "more than +0.5 EV: {before:?} -> {after:?}");
        // The blue cast on the shirt is reduced, by a few percent at most.
        let (a, b) = (sc.img.px(80, 170), out.px(80, 170));
        assert!(b[2] / b[0] < a[2] / a[0], "cast not reduced: {a:?} -> {b:?}");
        assert!(b[2] / b[0] > a[2] / a[0] * 0.85, "cast overcorrected: {a:?} -> {b:?}");
    }

    #[test]
    fn a_dark_complexion_in_a_good_photo_is_not_brightened() {
        // Dark skin but ordinary eye whites: the photo is fine, leave the face as it is, whatever
        // the eye whites read within the meter's tolerance.
        for sclera in [0.58, SCLERA_TARGET, 0.75] {
            let sc = scene([0.25, 0.17, 0.13], sclera, [0.5, 0.5, 0.5]);
            let out = run(&sc, 1.0);
            let (a, b) = (face_mean(&sc.img), face_mean(&out));
            assert!((a[3] - b[3]).abs() < 0.003, "sclera {sclera}: {a:?} -> {b:?}");
            // And no colour shift on the skin.
            assert!((b[0] / b[2] - a[0] / a[2]).abs() / (a[0] / a[2]) < 0.01, "{a:?} -> {b:?}");
        }
    }

    #[test]
    fn overexposed_face_is_darkened_within_limits() {
        let sc = scene([0.9, 0.8, 0.75], 0.97, [0.5, 0.5, 0.5]);
        let out = run(&sc, 0.5);
        let (a, b) = (face_mean(&sc.img)[3], face_mean(&out)[3]);
        assert!(b < a, "{a} -> {b}");
        // At strength 0.5 at most -0.25 EV (in linear light).
        assert!(to_linear(b) >= to_linear(a) * 2f32.powf(-0.25) * 0.98, "{a} -> {b}");
    }

    #[test]
    fn zero_strength_and_degenerate_input_change_nothing() {
        let sc = scene([0.3, 0.26, 0.27], 0.45, [0.4, 0.42, 0.5]);
        assert_eq!(run(&sc, 0.0).data[..], sc.img.data[..]);
        let mut img = sc.img.clone();
        let mesh = FaceMesh { points: vec![[80.0, 100.0, 0.0]; 468], presence: 1.0 };
        apply(&mut img, &sc.alpha, &mesh, 0.0);
        assert_eq!(img.data[..], sc.img.data[..]);
        // All points in one place: no face to work on.
        apply(&mut img, &sc.alpha, &mesh, 1.0);
        assert_eq!(img.data[..], sc.img.data[..]);
        // Too few points, NaN points, empty polygons, tiny frames.
        apply(&mut img, &sc.alpha, &FaceMesh { points: vec![[1.0, 1.0, 0.0]; 10], presence: 1.0 }, 1.0);
        apply(&mut img, &sc.alpha, &FaceMesh { points: vec![[f32::NAN, 1.0, 0.0]; 468], presence: 1.0 }, 1.0);
        apply_polygons(&mut img, &sc.alpha, &[], &[], &[], 38.0, 1.0);
        assert_eq!(img.data[..], sc.img.data[..]);
        for (w, h) in [(0, 0), (1, 1), (3, 2)] {
            let mut t = Image::<f32>::new(w, h, 3);
            apply_polygons(&mut t, &ones(w, h), &rect(0.0, 0.0, 2.0, 2.0), &[vec![]], &[], 10.0, 1.0);
        }
    }

    #[test]
    fn tone_table_matches_the_exact_curve() {
        let mut img = Image::<f32>::new(256, 1, 3);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i % 768) as f32 / 767.0;
        }
        let orig = img.clone();
        let (gains, ev) = ([0.95, 1.0, 1.04], 0.4f32);
        tone(&mut img, &ones(256, 1), gains, ev);
        let g = ev.exp2();
        for (i, (&o, &v)) in orig.data.iter().zip(img.data.iter()).enumerate() {
            let x = (to_linear(o) * gains[i % 3]).min(1.0);
            let want = to_srgb(x * g / (1.0 + x * (g - 1.0)));
            assert!((v - want).abs() < 1e-4, "{o}: {v} vs {want}");
        }
    }

    #[test]
    fn skin_mask_excludes_features_exactly() {
        let oval = rect(10.0, 10.0, 90.0, 110.0);
        let eye = rect(30.0, 40.0, 45.0, 48.0);
        let m = skin_mask(100, 120, &oval, &[eye, vec![]], 30.0).unwrap();
        for y in 40..48 {
            for x in 30..45 {
                assert_eq!(m.at(x, y), 0.0);
            }
        }
        assert!(m.at(60, 90) > 0.99);
        assert_eq!(m.at(2, 2), 0.0);
        assert_eq!(m.at(99, 119), 0.0);
        // Feathered edge: values strictly between 0 and 1 near the oval's border.
        assert!((0..100).any(|x| m.at(x, 60) > 0.05 && m.at(x, 60) < 0.95));
        assert!(skin_mask(100, 120, &[], &[], 30.0).is_none());
        assert!(skin_mask(100, 120, &rect(200.0, 200.0, 300.0, 300.0), &[], 30.0).is_none());
    }

    /// Detect + face mesh + matte on the fixtures, retouch at 0.5 and 1.0, write before/after.
    #[test]
    #[ignore]
    fn debug_dump_retouch() {
        use crate::runtime::test_session;
        let mut det = test_session("detect", crate::models::DETECTOR.bytes);
        let mut lm = test_session("landmarks", crate::models::FACE_MESH.bytes);
        let mut seg = test_session("matte", crate::models::SEGMENTER.bytes);
        for name in ["astronaut.png", "grace_hopper.jpg"] {
            let frame = crate::matte::tests::load_fixture(name);
            let rgb8 = frame.to_u8();
            let faces = crate::detect::detect(&mut det, &rgb8).unwrap();
            let mesh = crate::landmarks::run(&mut lm, &rgb8, &faces[0]).unwrap();
            let coarse = crate::matte::person_mask(&mut seg, &frame).unwrap();
            let (a, fg) = crate::matte::refine(&frame, &coarse, &ones(frame.width, frame.height));
            for s in [0.5f32, 1.0] {
                let mut out = fg.clone();
                let t = std::time::Instant::now();
                apply(&mut out, &a, &mesh, s);
                eprintln!("{name} retouch {s}: {:?}", t.elapsed());
                let u = out.to_u8();
                image::save_buffer(format!("/tmp/retouch_{name}_{s}.png"), &u.data, u.width as u32, u.height as u32, image::ExtendedColorType::Rgb8).unwrap();
            }
            let u = fg.to_u8();
            image::save_buffer(format!("/tmp/retouch_{name}_0.png"), &u.data, u.width as u32, u.height as u32, image::ExtendedColorType::Rgb8).unwrap();
            // Before | strength 0.5 | strength 1, face box zoomed 2x.
            let oval = mesh.face_oval();
            let x0 = oval.iter().map(|p| p.x).fold(f32::INFINITY, f32::min).max(0.0) as usize;
            let y0 = oval.iter().map(|p| p.y).fold(f32::INFINITY, f32::min).max(0.0) as usize;
            let x1 = (oval.iter().map(|p| p.x).fold(0.0, f32::max) as usize).min(frame.width);
            let y1 = (oval.iter().map(|p| p.y).fold(0.0, f32::max) as usize).min(frame.height);
            let (cw, chh) = (x1 - x0, y1 - y0);
            // Second row: the photo 1 EV underexposed, then retouched the same way.
            let mut dark = fg.clone();
            for v in dark.data.iter_mut() {
                *v = to_srgb(to_linear(*v) * 0.5);
            }
            let mut sheet = Image::<f32>::new(cw * 2 * 3, chh * 4, 3);
            for (k, (s, src, row)) in [(0.0f32, &fg, 0), (0.5, &fg, 0), (1.0, &fg, 0), (0.0, &dark, 1), (0.5, &dark, 1), (1.0, &dark, 1)].into_iter().enumerate() {
                let k = k % 3;
                let mut out = src.clone();
                apply(&mut out, &a, &mesh, s);
                for y in 0..chh * 2 {
                    for x in 0..cw * 2 {
                        let p = out.px(x0 + x / 2, y0 + y / 2).to_vec();
                        sheet.px_mut(k * cw * 2 + x, row * chh * 2 + y).copy_from_slice(&p);
                    }
                }
            }
            let u = sheet.to_u8();
            image::save_buffer(format!("/tmp/retouch_{name}_sheet.png"), &u.data, u.width as u32, u.height as u32, image::ExtendedColorType::Rgb8).unwrap();
        }
    }
}
