//! Composition: level the eyes and crop to the preset's geometry, in one resampling pass.
//! Where the frame reaches past the photo, the pixels are marked as not covered (the matte and
//! background fill them) instead of failing.

use crate::geometry::{Affine, Point};
use crate::raster::{resize_u8, Image, Plane, Rgb8};

pub struct Composition {
    /// RGB in [0, 1] at the output size.
    pub frame: Image<f32>,
    /// 1 where the frame shows the photo, 0 where it had to be extended; soft at the border.
    pub coverage: Plane,
    /// Fraction of the frame that lies outside the photo.
    pub extended: f32,
}

/// Renders the output frame: output pixel p shows source point `t⁻¹(p)`.
/// Strong reductions are pre-filtered with a SIMD Catmull-Rom resize so nothing aliases.
pub fn compose(src: &Rgb8, t: &Affine, width: usize, height: usize) -> Composition {
    let (img_holder, t) = prereduce(src, t, width, height);
    let img = img_holder.as_ref().unwrap_or(src);
    let inv = t.inverse();
    let mut frame = Image::<f32>::new(width, height, 3);
    let mut coverage = Plane::new(width, height, 1);
    let (w, h) = (img.width as f32, img.height as f32);
    let outside: f64 = crate::parallel::bands2(&mut frame.data, width * 3, &mut coverage.data, width, |y0, fband, cband| {
        let mut outside = 0.0f64;
        for (j, (frow, crow)) in fband.chunks_exact_mut(width * 3).zip(cband.chunks_exact_mut(width)).enumerate() {
            // Walk the row incrementally: one step in x moves the source point by (a, c).
            let mut q = inv.apply(Point::new(0.5, (y0 + j) as f32 + 0.5));
            // Per row in f32 (at most a few thousand ones), across rows in f64.
            let mut row_out = 0.0f32;
            for (out, cov) in frow.chunks_exact_mut(3).zip(crow.iter_mut()) {
                let inside = (q.x.min(w - q.x).min(q.y).min(h - q.y) + 0.5).clamp(0.0, 1.0);
                *cov = inside;
                row_out += 1.0 - inside;
                sample_rgb(img, q.x, q.y, out);
                q.x += inv.a;
                q.y += inv.c;
            }
            outside += row_out as f64;
        }
        outside
    })
    .into_iter()
    .sum();
    Composition { frame, coverage, extended: (outside / (width * height).max(1) as f64) as f32 }
}

/// When the map shrinks the photo by more than ~1.6x, resizes just the needed region first and
/// returns the image plus the remaining (near unit-scale) transform.
fn prereduce(src: &Rgb8, t: &Affine, width: usize, height: usize) -> (Option<Rgb8>, Affine) {
    let s = t.scale();
    if s >= 0.6 || src.width == 0 || src.height == 0 {
        return (None, *t);
    }
    let inv = t.inverse();
    let corners = [(0.0, 0.0), (width as f32, 0.0), (0.0, height as f32), (width as f32, height as f32)]
        .map(|(x, y)| inv.apply(Point::new(x, y)));
    // One source pixel of margin for the bilinear footprint.
    let x0 = corners.iter().map(|p| p.x).fold(f32::MAX, f32::min).floor().max(0.0) - 0.0;
    let y0 = corners.iter().map(|p| p.y).fold(f32::MAX, f32::min).floor().max(0.0);
    let x1 = corners.iter().map(|p| p.x).fold(f32::MIN, f32::max).ceil().min(src.width as f32);
    let y1 = corners.iter().map(|p| p.y).fold(f32::MIN, f32::max).ceil().min(src.height as f32);
    if x1 - x0 < 2.0 || y1 - y0 < 2.0 {
        return (None, *t);
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    let dw = ((cw * s).round() as usize).max(1);
    let dh = ((ch * s).round() as usize).max(1);
    let small = resize_u8(src, Some((x0 as f64, y0 as f64, cw as f64, ch as f64)), dw, dh);
    // small -> src: p / (sx, sy) + (x0, y0)
    let back = Affine { a: cw / dw as f32, b: 0.0, c: 0.0, d: ch / dh as f32, tx: x0, ty: y0 };
    (Some(small), t.then_after(&back))
}

/// Bilinear sample at (x, y) in pixel-edge coordinates, clamped to the border, into [0, 1] floats.
/// (max/min rather than clamp, and a u32 cast of a value known to be in range: this runs for
/// every output pixel, and the checks clamp and a usize cast carry cost a third of its time.)
#[inline]
fn sample_rgb(img: &Rgb8, x: f32, y: f32, out: &mut [f32]) {
    let (w, h) = (img.width, img.height);
    let fx = (x - 0.5).max(0.0).min((w - 1) as f32);
    let fy = (y - 0.5).max(0.0).min((h - 1) as f32);
    let x0 = fx as u32 as usize;
    let y0 = fy as u32 as usize;
    // At the last column/row the right/lower neighbour is the pixel itself.
    let dx = if x0 + 1 < w { 3 } else { 0 };
    let dy = if y0 + 1 < h { w * 3 } else { 0 };
    let ax = fx - x0 as f32;
    let ay = fy - y0 as f32;
    let i = (y0 * w + x0) * 3;
    let top = &img.data[i..i + dx + 3];
    let bot = &img.data[i + dy..i + dy + dx + 3];
    for c in 0..3 {
        let (t0, t1, b0, b1) = (top[c] as f32, top[dx + c] as f32, bot[c] as f32, bot[dx + c] as f32);
        let t = t0 + ax * (t1 - t0);
        let b = b0 + ax * (b1 - b0);
        out[c] = (t + ay * (b - t)) * (1.0 / 255.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::secure_buffer::SecureBuf;

    fn checker(w: usize, h: usize, cell: usize) -> Rgb8 {
        let mut v = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let c = if (x / cell + y / cell).is_multiple_of(2) { 200 } else { 40 };
                v[(y * w + x) * 3..][..3].copy_from_slice(&[c, (x % 256) as u8, (y % 256) as u8]);
            }
        }
        Image::from_buf(w, h, 3, SecureBuf::from_vec(v))
    }

    #[test]
    fn identity_copies_pixels() {
        let src = checker(40, 30, 8);
        let c = compose(&src, &Affine::identity(), 40, 30);
        assert!(c.extended < 1e-6);
        for (a, b) in c.frame.data.iter().zip(src.data.iter()) {
            assert!((a * 255.0 - *b as f32).abs() < 0.01);
        }
    }

    #[test]
    fn outside_is_marked_not_covered() {
        let src = checker(40, 30, 8);
        // Shift the photo right by 20 px: the left 20 columns are outside.
        let t = Affine { tx: 20.0, ..Affine::identity() };
        let c = compose(&src, &t, 40, 30);
        assert_eq!(c.coverage.data[5 * 40 + 2], 0.0);
        assert_eq!(c.coverage.data[5 * 40 + 30], 1.0);
        assert!((c.extended - 0.5).abs() < 0.02);
    }

    #[test]
    fn bands_give_the_same_frame() {
        let src = checker(600, 800, 7);
        let t = Affine::similarity(Point::new(300.0, 400.0), Point::new(265.0, 350.0), 0.1, 1.3);
        let one = crate::parallel::with_threads(1, || compose(&src, &t, 531, 709));
        let two = crate::parallel::with_threads(2, || compose(&src, &t, 531, 709));
        assert_eq!(&one.frame.data[..], &two.frame.data[..]);
        assert_eq!(&one.coverage.data[..], &two.coverage.data[..]);
        assert!((one.extended - two.extended).abs() < 1e-6);
    }

    #[test]
    fn strong_reduction_is_prefiltered() {
        // A 2-px checkerboard shrunk 8x is far above the output's Nyquist limit: it must come out
        // flat grey, while plain bilinear sampling would pick up 40s and 200s.
        let src = checker(512, 512, 2);
        let t = Affine::similarity(Point::new(256.0, 256.0), Point::new(32.0, 32.0), 0.0, 1.0 / 8.0);
        let c = compose(&src, &t, 64, 64);
        let r: Vec<f32> = (0..64 * 64).map(|i| c.frame.data[i * 3]).collect();
        let mean = r.iter().sum::<f32>() / r.len() as f32;
        let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / r.len() as f32;
        assert!((mean - 120.0 / 255.0).abs() < 0.05, "mean {mean}");
        assert!(var.sqrt() < 0.12, "aliasing left a std of {}", var.sqrt());
    }
}
