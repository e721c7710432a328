//! Gentle retouch, only with `appearance` consent: white balance, face exposure, skin smoothing
//! restricted to skin. Nothing here pulls skin towards a "target" tone: the white balance is
//! estimated on the whole scene (grey world) and skin colour is left as the light shows it.

use crate::filters::{dilate, fill_polygon, gaussian_blur, guided_filter};
use crate::landmarks::FaceMesh;
use crate::raster::{Image, Plane};

/// Largest white-balance gain change per channel at strength 1.
const MAX_WB: f32 = 0.08;
/// Largest exposure change at strength 1, in EV.
const MAX_EV: f32 = 0.5;
/// Face luminance the exposure step moves towards.
const FACE_TARGET: f32 = 0.5;
/// Share of the smoothed skin at strength 1: pores and texture stay visible.
const SMOOTH_MIX: f32 = 0.6;

/// Retouches `fg` (RGB float, output frame) in place. `mesh` is in output-frame coordinates,
/// `alpha` the person matte; `strength` in (0, 1], 0.5 is the natural default.
pub fn apply(fg: &mut Image<f32>, alpha: &Plane, mesh: &FaceMesh, strength: f32) {
    let s = strength.clamp(0.0, 1.0);
    if s == 0.0 || fg.width == 0 || fg.height == 0 || mesh.points.len() < 468 {
        return;
    }
    let iod = mesh.left_eye_center().dist(mesh.right_eye_center());
    if !(iod > 2.0) {
        return;
    }
    let skin = skin_mask(fg.width, fg.height, &mesh.face_oval(), &mesh.eyes_brows_lips(), iod, alpha);
    white_balance(fg, s);
    expose_face(fg, &skin, s);
    smooth_skin(fg, &skin, iod, s);
}

/// Face oval minus (slightly dilated) eyes, brows and lips, feathered, times the matte.
pub(crate) fn skin_mask(w: usize, h: usize, oval: &[crate::geometry::Point], features: &[Vec<crate::geometry::Point>], iod: f32, alpha: &Plane) -> Plane {
    let mut face = Plane::new(w, h, 1);
    fill_polygon(&mut face, oval);
    let mut feat = Plane::new(w, h, 1);
    for p in features {
        fill_polygon(&mut feat, p);
    }
    let feat = dilate(&feat, (iod * 0.06).round() as usize);
    for (f, &e) in face.data.iter_mut().zip(feat.data.iter()) {
        *f *= 1.0 - e;
    }
    let mut m = gaussian_blur(&face, (iod * 0.04).max(0.5));
    // Feathering must not reach back into the eyes and lips: keep them exactly at 0.
    for ((v, &e), &a) in m.data.iter_mut().zip(feat.data.iter()).zip(alpha.data.iter()) {
        *v *= (1.0 - e) * a;
    }
    m
}

/// Grey-world white balance over the whole frame, gains limited to ±MAX_WB·s.
fn white_balance(fg: &mut Image<f32>, s: f32) {
    let mut sum = [0f64; 3];
    for p in fg.data.chunks_exact(3) {
        for c in 0..3 {
            sum[c] += p[c] as f64;
        }
    }
    let mean = sum.map(|v| (v / (fg.width * fg.height) as f64) as f32);
    let grey = (mean[0] + mean[1] + mean[2]) / 3.0;
    if grey < 1e-3 {
        return;
    }
    let gain = mean.map(|m| (grey / m.max(1e-3)).clamp(1.0 - MAX_WB * s, 1.0 + MAX_WB * s));
    for p in fg.data.chunks_exact_mut(3) {
        for c in 0..3 {
            p[c] = (p[c] * gain[c]).min(1.0);
        }
    }
}

/// Moves the skin's mean luminance towards FACE_TARGET by at most ±MAX_EV·s, over the whole person
/// (so face and neck stay consistent). Highlights roll off instead of clipping.
fn expose_face(fg: &mut Image<f32>, skin: &Plane, s: f32) {
    let (mut l, mut n) = (0f64, 0f64);
    for (p, &m) in fg.data.chunks_exact(3).zip(skin.data.iter()) {
        l += (m * (0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2])) as f64;
        n += m as f64;
    }
    if n < 16.0 {
        return;
    }
    let mean = (l / n) as f32;
    let ev = ((FACE_TARGET / mean.max(1e-3)).log2()).clamp(-MAX_EV, MAX_EV) * s;
    let g = ev.exp2();
    for v in fg.data.iter_mut() {
        let x = *v * g;
        // Soft shoulder above 0.8 so brightened highlights do not clip.
        *v = if x <= 0.8 { x } else { 0.8 + 0.2 * (1.0 - (-(x - 0.8) / 0.2).exp()) };
    }
}

/// Edge-preserving smoothing (self-guided filter per channel) blended in by the skin mask.
pub(crate) fn smooth_skin(fg: &mut Image<f32>, skin: &Plane, iod: f32, s: f32) {
    let (w, h) = (fg.width, fg.height);
    let r = ((iod * 0.08).round() as usize).max(1);
    let mix = SMOOTH_MIX * s;
    for c in 0..3 {
        let mut ch = Plane::new(w, h, 1);
        for (o, p) in ch.data.iter_mut().zip(fg.data.chunks_exact(3)) {
            *o = p[c];
        }
        let sm = guided_filter(&ch, &ch, r, 0.0015, 1);
        for i in 0..w * h {
            let k = skin.data[i] * mix;
            if k > 0.0 {
                fg.data[i * 3 + c] = fg.data[i * 3 + c] * (1.0 - k) + sm.data[i] * k;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Point;

    fn noisy(w: usize, h: usize) -> Image<f32> {
        let mut img = Image::<f32>::new(w, h, 3);
        let mut seed = 12345u32;
        for v in img.data.iter_mut() {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            *v = 0.5 + ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.2;
        }
        img
    }

    fn hf_energy(img: &Image<f32>, x0: usize, x1: usize, y0: usize, y1: usize) -> f32 {
        let mut e = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                e += (img.px(x, y)[1] - img.px(x + 1, y)[1]).powi(2);
            }
        }
        e
    }

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Vec<Point> {
        vec![Point::new(x0, y0), Point::new(x1, y0), Point::new(x1, y1), Point::new(x0, y1)]
    }

    #[test]
    fn smoothing_stays_on_skin() {
        let (w, h) = (120, 140);
        let orig = noisy(w, h);
        let mut alpha = Plane::new(w, h, 1);
        alpha.data.fill(1.0);
        let oval = rect(20.0, 20.0, 100.0, 120.0);
        let eye = rect(40.0, 50.0, 55.0, 58.0);
        let mask = skin_mask(w, h, &oval, &[eye], 40.0, &alpha);
        let mut img = orig.clone();
        smooth_skin(&mut img, &mask, 40.0, 1.0);
        // Skin texture is reduced but not erased.
        let (before, after) = (hf_energy(&orig, 60, 90, 70, 110), hf_energy(&img, 60, 90, 70, 110));
        assert!(after < before * 0.7 && after > before * 0.05, "{before} -> {after}");
        // Eyes and everything outside the face are untouched.
        for (x, y) in [(45, 54), (50, 53), (5, 5), (110, 130)] {
            assert_eq!(img.px(x, y), orig.px(x, y), "changed at ({x},{y})");
        }
    }

    #[test]
    fn zero_strength_changes_nothing() {
        let orig = noisy(50, 50);
        let mut img = orig.clone();
        let mesh = FaceMesh { points: vec![[25.0, 25.0, 0.0]; 468], presence: 1.0 };
        apply(&mut img, &Plane::new(50, 50, 1), &mesh, 0.0);
        assert_eq!(img.data[..], orig.data[..]);
    }

    #[test]
    fn dark_face_is_brightened_within_limits() {
        let mut img = Image::<f32>::new(40, 40, 3);
        img.data.fill(0.2);
        let mut skin = Plane::new(40, 40, 1);
        skin.data.fill(1.0);
        expose_face(&mut img, &skin, 1.0);
        // +0.5 EV at most: 0.2 * 2^0.5 = 0.283.
        assert!((img.data[0] - 0.2 * 2f32.sqrt()).abs() < 1e-4, "{}", img.data[0]);
    }

    #[test]
    fn white_balance_is_bounded() {
        let mut img = Image::<f32>::new(10, 10, 3);
        for p in img.data.chunks_exact_mut(3) {
            p.copy_from_slice(&[0.6, 0.5, 0.3]);
        }
        white_balance(&mut img, 0.5);
        let p = img.px(0, 0);
        assert!(p[2] > 0.3 && p[2] <= 0.3 * 1.04 + 1e-6, "{p:?}");
        assert!(p[0] < 0.6 && p[0] >= 0.6 * 0.96 - 1e-6, "{p:?}");
    }
}
