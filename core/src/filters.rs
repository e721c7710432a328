//! Image filters shared by matte, background and retouch: O(n) box blur (running sums), a
//! three-box Gaussian, area/bilinear resampling, the (fast, colour) guided filter, polygon
//! rasterisation and binary morphology. Every intermediate buffer is an [`Image`] or a
//! [`SecureBuf`], because all of them hold data derived from the photo.

use crate::geometry::Point;
use crate::privacy::secure_buffer::SecureBuf;
use crate::raster::{Image, Plane};

/// Mean over the (2rx+1) x (2ry+1) window, clipped at the border and normalised by the number of
/// pixels actually inside it (so borders keep their level). Works on any channel count.
pub fn box_blur(img: &Image<f32>, rx: usize, ry: usize) -> Image<f32> {
    let (w, h, ch) = (img.width, img.height, img.channels);
    let mut out = Image::<f32>::new(w, h, ch);
    if w == 0 || h == 0 || ch == 0 {
        return out;
    }
    let mut tmp = Image::<f32>::new(w, h, ch);
    box_h(&img.data, &mut tmp.data, w, h, ch, rx);
    box_v(&tmp.data, &mut out.data, w, h, ch, ry);
    out
}

// Running sums in f64: add the entering pixel, subtract the leaving one, no drift.
fn box_h(src: &[f32], dst: &mut [f32], w: usize, h: usize, ch: usize, r: usize) {
    let mut acc = SecureBuf::<f64>::zeroed(ch);
    let stride = w * ch;
    for y in 0..h {
        let row = &src[y * stride..(y + 1) * stride];
        let out = &mut dst[y * stride..(y + 1) * stride];
        acc.fill(0.0);
        for x in 0..=r.min(w - 1) {
            for c in 0..ch {
                acc[c] += row[x * ch + c] as f64;
            }
        }
        for x in 0..w {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(w - 1);
            let inv = 1.0 / (hi - lo + 1) as f64;
            for c in 0..ch {
                out[x * ch + c] = (acc[c] * inv) as f32;
            }
            if x + r + 1 < w {
                let i = (x + r + 1) * ch;
                for c in 0..ch {
                    acc[c] += row[i + c] as f64;
                }
            }
            if x >= r {
                let i = (x - r) * ch;
                for c in 0..ch {
                    acc[c] -= row[i + c] as f64;
                }
            }
        }
    }
}

// Column sums kept for a whole row at once so the pass walks memory in order.
fn box_v(src: &[f32], dst: &mut [f32], w: usize, h: usize, ch: usize, r: usize) {
    let stride = w * ch;
    let mut acc = SecureBuf::<f64>::zeroed(stride);
    for y in 0..=r.min(h - 1) {
        for (a, &v) in acc.iter_mut().zip(&src[y * stride..(y + 1) * stride]) {
            *a += v as f64;
        }
    }
    for y in 0..h {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(h - 1);
        let inv = 1.0 / (hi - lo + 1) as f64;
        for (o, &a) in dst[y * stride..(y + 1) * stride].iter_mut().zip(acc.iter()) {
            *o = (a * inv) as f32;
        }
        if y + r + 1 < h {
            let s = (y + r + 1) * stride;
            for (a, &v) in acc.iter_mut().zip(&src[s..s + stride]) {
                *a += v as f64;
            }
        }
        if y >= r {
            let s = (y - r) * stride;
            for (a, &v) in acc.iter_mut().zip(&src[s..s + stride]) {
                *a -= v as f64;
            }
        }
    }
}

/// Box radius whose three passes approximate a Gaussian of `sigma` (variance of a box of width
/// n is (n^2 - 1) / 12, three of them add up).
pub fn box_radius_for_sigma(sigma: f32) -> usize {
    if sigma.is_nan() || sigma <= 0.0 {
        return 0;
    }
    let n = (4.0 * sigma * sigma + 1.0).sqrt();
    ((n - 1.0) * 0.5).round().max(0.0) as usize
}

/// Near-Gaussian blur: three box passes, still O(n) whatever sigma is.
pub fn gaussian_blur(img: &Image<f32>, sigma: f32) -> Image<f32> {
    let r = box_radius_for_sigma(sigma);
    if r == 0 {
        return img.clone();
    }
    let a = box_blur(img, r, r);
    let b = box_blur(&a, r, r);
    box_blur(&b, r, r)
}

/// Per-axis resampling taps: for each output index, the first source index and its weights.
struct Taps {
    start: Vec<usize>,
    weights: Vec<Vec<f32>>,
}

/// Taps mapping the source interval [a, a + len) (in pixels) onto `n` outputs: exact area
/// coverage when shrinking (no aliasing), bilinear when enlarging.
fn taps(src_n: usize, a: f32, len: f32, n: usize) -> Taps {
    let mut start = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    let s = len / n as f32;
    let last = src_n as f32;
    for o in 0..n {
        if s > 1.0 {
            let lo = (a + o as f32 * s).clamp(0.0, last);
            let hi = (a + (o + 1) as f32 * s).clamp(0.0, last);
            let i0 = (lo.floor() as usize).min(src_n - 1);
            let i1 = ((hi.ceil() as usize).max(i0 + 1)).min(src_n);
            let mut wv: Vec<f32> = (i0..i1).map(|i| (hi.min(i as f32 + 1.0) - lo.max(i as f32)).max(0.0)).collect();
            let sum: f32 = wv.iter().sum();
            if sum > 0.0 {
                wv.iter_mut().for_each(|v| *v /= sum);
            } else {
                wv = vec![1.0; 1];
            }
            start.push(i0);
            weights.push(wv);
        } else {
            let c = (a + (o as f32 + 0.5) * s - 0.5).clamp(0.0, last - 1.0);
            let i0 = c.floor() as usize;
            let f = c - i0 as f32;
            if i0 + 1 < src_n && f > 0.0 {
                start.push(i0);
                weights.push(vec![1.0 - f, f]);
            } else {
                start.push(i0.min(src_n - 1));
                weights.push(vec![1.0]);
            }
        }
    }
    Taps { start, weights }
}

/// Resizes to `w` x `h`: area average when shrinking, bilinear when enlarging (per axis).
pub fn resize(img: &Image<f32>, w: usize, h: usize) -> Image<f32> {
    resize_region(img, 0.0, 0.0, img.width as f32, img.height as f32, w, h)
}

/// Resamples the source rectangle (x0, y0, rw, rh) (pixel units, may be fractional) to `w` x `h`.
pub fn resize_region(img: &Image<f32>, x0: f32, y0: f32, rw: f32, rh: f32, w: usize, h: usize) -> Image<f32> {
    let ch = img.channels;
    let mut out = Image::<f32>::new(w, h, ch);
    if w == 0 || h == 0 || img.width == 0 || img.height == 0 || ch == 0 {
        return out;
    }
    if img.width == w && img.height == h && x0 == 0.0 && y0 == 0.0 && rw == w as f32 && rh == h as f32 {
        out.data.copy_from_slice(&img.data);
        return out;
    }
    let tx = taps(img.width, x0, rw.max(1e-3), w);
    let ty = taps(img.height, y0, rh.max(1e-3), h);
    // Horizontal first, into a (w x src_h) buffer, then vertical.
    let mut tmp = Image::<f32>::new(w, img.height, ch);
    for y in 0..img.height {
        let row = &img.data[y * img.width * ch..(y + 1) * img.width * ch];
        let orow = &mut tmp.data[y * w * ch..(y + 1) * w * ch];
        for x in 0..w {
            let s = tx.start[x];
            for c in 0..ch {
                let mut acc = 0.0f32;
                for (k, &wt) in tx.weights[x].iter().enumerate() {
                    acc += wt * row[(s + k) * ch + c];
                }
                orow[x * ch + c] = acc;
            }
        }
    }
    let stride = w * ch;
    for y in 0..h {
        let s = ty.start[y];
        let orow = &mut out.data[y * stride..(y + 1) * stride];
        for (k, &wt) in ty.weights[y].iter().enumerate() {
            let srow = &tmp.data[(s + k) * stride..(s + k + 1) * stride];
            for (o, &v) in orow.iter_mut().zip(srow) {
                *o += wt * v;
            }
        }
    }
    out
}

/// Rec. 601 luma of an RGB image (a grey image is returned as is).
pub fn luminance(img: &Image<f32>) -> Plane {
    let mut out = Plane::new(img.width, img.height, 1);
    if img.channels < 3 {
        for (o, px) in out.data.iter_mut().zip(img.data.chunks_exact(img.channels.max(1))) {
            *o = px[0];
        }
        return out;
    }
    for (o, px) in out.data.iter_mut().zip(img.data.chunks_exact(img.channels)) {
        *o = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
    }
    out
}

/// Guided filter (He, Sun & Tang), fast variant: the linear coefficients are solved on a copy
/// `sub` times smaller and applied to the full-resolution guide, so edges stay sharp. `guide`
/// has 1 channel (grey) or 3 (colour: a 3x3 solve per pixel, better at telling hair from
/// background of similar brightness). `r` is the window radius at full resolution.
pub fn guided_filter(guide: &Image<f32>, p: &Plane, r: usize, eps: f32, sub: usize) -> Plane {
    let (w, h) = (guide.width, guide.height);
    let mut q = Plane::new(w, h, 1);
    if w == 0 || h == 0 || p.width != w || p.height != h {
        return q;
    }
    let sub = sub.max(1);
    let (lw, lh) = (w.div_ceil(sub), h.div_ceil(sub));
    let rl = ((r as f32 / sub as f32).round() as usize).max(1);
    let gl_owned;
    let pl_owned;
    let (gl, pl) = if sub > 1 {
        gl_owned = resize(guide, lw, lh);
        pl_owned = resize(p, lw, lh);
        (&gl_owned, &pl_owned)
    } else {
        (guide, p)
    };
    let colour = guide.channels >= 3;
    let gc = guide.channels.max(1);
    let n = lw * lh;
    let ab = if colour {
        // I (3), p, I*p (3), upper triangle of I*I^T (6).
        let mut st = Image::<f32>::new(lw, lh, 13);
        for i in 0..n {
            let g = &gl.data[i * gc..i * gc + 3];
            let pv = pl.data[i];
            let s = &mut st.data[i * 13..i * 13 + 13];
            s[0] = g[0];
            s[1] = g[1];
            s[2] = g[2];
            s[3] = pv;
            s[4] = g[0] * pv;
            s[5] = g[1] * pv;
            s[6] = g[2] * pv;
            s[7] = g[0] * g[0];
            s[8] = g[0] * g[1];
            s[9] = g[0] * g[2];
            s[10] = g[1] * g[1];
            s[11] = g[1] * g[2];
            s[12] = g[2] * g[2];
        }
        let m = box_blur(&st, rl, rl);
        drop(st);
        let mut ab = Image::<f32>::new(lw, lh, 4);
        for i in 0..n {
            let s = &m.data[i * 13..i * 13 + 13];
            let (mr, mg, mb, mp) = (s[0], s[1], s[2], s[3]);
            let cov = [s[4] - mr * mp, s[5] - mg * mp, s[6] - mb * mp];
            // Covariance of the guide plus eps on the diagonal: symmetric positive definite.
            let a11 = s[7] - mr * mr + eps;
            let a12 = s[8] - mr * mg;
            let a13 = s[9] - mr * mb;
            let a22 = s[10] - mg * mg + eps;
            let a23 = s[11] - mg * mb;
            let a33 = s[12] - mb * mb + eps;
            let c11 = a22 * a33 - a23 * a23;
            let c12 = a13 * a23 - a12 * a33;
            let c13 = a12 * a23 - a13 * a22;
            let c22 = a11 * a33 - a13 * a13;
            let c23 = a12 * a13 - a11 * a23;
            let c33 = a11 * a22 - a12 * a12;
            let det = a11 * c11 + a12 * c12 + a13 * c13;
            let o = &mut ab.data[i * 4..i * 4 + 4];
            if det.abs() > 1e-20 && det.is_finite() {
                let inv = 1.0 / det;
                o[0] = (c11 * cov[0] + c12 * cov[1] + c13 * cov[2]) * inv;
                o[1] = (c12 * cov[0] + c22 * cov[1] + c23 * cov[2]) * inv;
                o[2] = (c13 * cov[0] + c23 * cov[1] + c33 * cov[2]) * inv;
            }
            o[3] = mp - o[0] * mr - o[1] * mg - o[2] * mb;
        }
        ab
    } else {
        let mut st = Image::<f32>::new(lw, lh, 4);
        for i in 0..n {
            let g = gl.data[i * gc];
            let pv = pl.data[i];
            st.data[i * 4..i * 4 + 4].copy_from_slice(&[g, pv, g * pv, g * g]);
        }
        let m = box_blur(&st, rl, rl);
        drop(st);
        let mut ab = Image::<f32>::new(lw, lh, 4);
        for i in 0..n {
            let s = &m.data[i * 4..i * 4 + 4];
            let a = (s[2] - s[0] * s[1]) / (s[3] - s[0] * s[0] + eps);
            ab.data[i * 4] = a;
            ab.data[i * 4 + 3] = s[1] - a * s[0];
        }
        ab
    };
    let mab = box_blur(&ab, rl, rl);
    drop(ab);
    let full = if sub > 1 { resize(&mab, w, h) } else { mab };
    for i in 0..w * h {
        let c = &full.data[i * 4..i * 4 + 4];
        let g = &guide.data[i * gc..i * gc + gc];
        q.data[i] = if colour { c[0] * g[0] + c[1] * g[1] + c[2] * g[2] + c[3] } else { c[0] * g[0] + c[3] };
    }
    q
}

/// Fills a closed polygon (even-odd rule) into `mask` with 1.0, sampling pixel centres.
/// Polygons with fewer than 3 points or non-finite coordinates are ignored.
pub fn fill_polygon(mask: &mut Plane, poly: &[Point]) {
    let (w, h) = (mask.width, mask.height);
    if poly.len() < 3 || w == 0 || h == 0 || poly.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
        return;
    }
    let ymin = poly.iter().map(|p| p.y).fold(f32::INFINITY, f32::min);
    let ymax = poly.iter().map(|p| p.y).fold(f32::NEG_INFINITY, f32::max);
    let y0 = (ymin - 0.5).ceil().clamp(0.0, h as f32) as usize;
    let y1 = ((ymax - 0.5).floor() + 1.0).clamp(0.0, h as f32) as usize;
    let mut xs: Vec<f32> = Vec::with_capacity(8);
    for y in y0..y1 {
        let cy = y as f32 + 0.5;
        xs.clear();
        for i in 0..poly.len() {
            let a = poly[i];
            let b = poly[(i + 1) % poly.len()];
            // Half-open in y so a vertex on the scanline is counted once.
            if (a.y <= cy && b.y > cy) || (b.y <= cy && a.y > cy) {
                xs.push(a.x + (cy - a.y) / (b.y - a.y) * (b.x - a.x));
            }
        }
        xs.sort_by(f32::total_cmp);
        for pair in xs.chunks_exact(2) {
            let xa = (pair[0] - 0.5).ceil().clamp(0.0, w as f32) as usize;
            let xb = ((pair[1] - 0.5).floor() + 1.0).clamp(0.0, w as f32) as usize;
            for v in &mut mask.data[y * w + xa.min(xb)..y * w + xb] {
                *v = 1.0;
            }
        }
    }
}

/// Binary dilation of `mask > 0.5` by a (2r+1)^2 square, O(n) through the box filter.
pub fn dilate(mask: &Plane, r: usize) -> Plane {
    morph(mask, r, |m| m > 1e-4)
}

/// Binary erosion of `mask > 0.5` by a (2r+1)^2 square.
pub fn erode(mask: &Plane, r: usize) -> Plane {
    morph(mask, r, |m| m > 1.0 - 1e-4)
}

fn morph(mask: &Plane, r: usize, keep: impl Fn(f32) -> bool) -> Plane {
    let mut bin = Plane::new(mask.width, mask.height, 1);
    for (b, &m) in bin.data.iter_mut().zip(mask.data.iter()) {
        *b = if m > 0.5 { 1.0 } else { 0.0 };
    }
    if r == 0 {
        return bin;
    }
    let mut m = box_blur(&bin, r, r);
    for v in m.data.iter_mut() {
        *v = if keep(*v) { 1.0 } else { 0.0 };
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img_from(w: usize, h: usize, ch: usize, f: impl Fn(usize, usize, usize) -> f32) -> Image<f32> {
        let mut im = Image::<f32>::new(w, h, ch);
        for y in 0..h {
            for x in 0..w {
                for c in 0..ch {
                    im.data[(y * w + x) * ch + c] = f(x, y, c);
                }
            }
        }
        im
    }

    #[test]
    fn box_blur_matches_brute_force() {
        let im = img_from(13, 7, 2, |x, y, c| ((x * 7 + y * 13 + c * 5) % 11) as f32 / 10.0);
        let r = 3;
        let b = box_blur(&im, r, r);
        for y in 0..7usize {
            for x in 0..13usize {
                for c in 0..2 {
                    let (mut s, mut n) = (0.0, 0.0);
                    for yy in y.saturating_sub(r)..=(y + r).min(6) {
                        for xx in x.saturating_sub(r)..=(x + r).min(12) {
                            s += im.px(xx, yy)[c];
                            n += 1.0;
                        }
                    }
                    assert!((b.px(x, y)[c] - s / n).abs() < 1e-5);
                }
            }
        }
        // Degenerate sizes and huge radii do not panic.
        for (w, h) in [(1, 1), (0, 0), (1, 5), (5, 1)] {
            let im = img_from(w, h, 1, |_, _, _| 0.5);
            let b = box_blur(&im, 100, 100);
            assert!(b.data.iter().all(|&v| (v - 0.5).abs() < 1e-6));
            let _ = gaussian_blur(&im, 50.0);
            let _ = resize(&im, 3, 2);
            let _ = guided_filter(&im, &im, 4, 1e-3, 2);
        }
    }

    #[test]
    fn resize_preserves_constants_and_means() {
        let im = img_from(531, 709, 3, |x, y, c| ((x + 2 * y + c) % 2) as f32);
        let s = resize(&im, 256, 256);
        let mean_in: f32 = im.data.iter().sum::<f32>() / im.data.len() as f32;
        let mean_out: f32 = s.data.iter().sum::<f32>() / s.data.len() as f32;
        assert!((mean_in - mean_out).abs() < 0.01);
        // Area averaging kills the checkerboard instead of aliasing it.
        assert!(s.data.iter().all(|&v| (v - 0.5).abs() < 0.3));
        let c = img_from(7, 5, 1, |_, _, _| 0.25);
        let up = resize(&c, 30, 11);
        assert!(up.data.iter().all(|&v| (v - 0.25).abs() < 1e-6));
    }

    #[test]
    fn guided_filter_keeps_guide_edges() {
        // A step in the guide and a blurred step in p: the output follows the guide's edge.
        let g = img_from(64, 32, 3, |x, _, c| if x < 32 { 0.2 + 0.1 * c as f32 } else { 0.8 });
        let p = img_from(64, 32, 1, |x, _, _| ((x as f32 - 32.0) / 12.0 + 0.5).clamp(0.0, 1.0));
        for guide in [g.clone(), luminance(&g)] {
            let q = guided_filter(&guide, &p, 8, 1e-4, 2);
            // The soft ramp of p becomes a step at the guide's edge (x = 32).
            let row: Vec<f32> = (24..40).map(|x| q.px(x, 16)[0]).collect();
            assert!(q.px(31, 16)[0] < 0.5 * p.px(31, 16)[0], "{row:?}");
            assert!(q.px(32, 16)[0] - q.px(31, 16)[0] > 0.5, "{row:?}");
            assert!(q.px(28, 16)[0] < p.px(28, 16)[0] && q.px(36, 16)[0] > p.px(36, 16)[0], "{row:?}");
        }
    }

    #[test]
    fn polygon_fill_and_morphology() {
        let mut m = Plane::new(20, 20, 1);
        let sq = [Point::new(5.0, 5.0), Point::new(15.0, 5.0), Point::new(15.0, 15.0), Point::new(5.0, 15.0)];
        fill_polygon(&mut m, &sq);
        assert_eq!(m.data.iter().sum::<f32>(), 100.0);
        assert_eq!(m.px(5, 5)[0], 1.0);
        assert_eq!(m.px(4, 5)[0], 0.0);
        assert_eq!(m.px(15, 5)[0], 0.0);
        assert_eq!(dilate(&m, 1).data.iter().sum::<f32>(), 144.0);
        assert_eq!(erode(&m, 1).data.iter().sum::<f32>(), 64.0);
        // Degenerate polygons are ignored.
        fill_polygon(&mut m, &[]);
        fill_polygon(&mut m, &[Point::new(f32::NAN, 1.0), Point::new(3.0, 3.0), Point::new(1.0, 9.0)]);
        fill_polygon(&mut m, &[Point::new(-100.0, -100.0), Point::new(1e9, 0.0), Point::new(0.0, 1e9)]);
    }
}
