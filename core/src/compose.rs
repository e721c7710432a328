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
            // Output pixel x shows source point q0 + x (a, c).
            let q0 = inv.apply(Point::new(0.5, (y0 + j) as f32 + 0.5));
            // Most of a row samples well inside the photo: that span takes the fast path (no
            // clamping, coverage 1). It is found conservatively, one pixel short at each end.
            let (xa, xb) = interior(q0, inv.a, inv.c, img.width, img.height, width);
            // Per row in f32 (at most a few thousand ones), across rows in f64.
            let mut row_out = 0.0f32;
            for x in (0..xa).chain(xb..width) {
                let q = Point::new(q0.x + x as f32 * inv.a, q0.y + x as f32 * inv.c);
                let inside = (q.x.min(w - q.x).min(q.y).min(h - q.y) + 0.5).clamp(0.0, 1.0);
                crow[x] = inside;
                row_out += 1.0 - inside;
                sample_rgb(img, q.x, q.y, &mut frow[x * 3..x * 3 + 3]);
            }
            crow[xa..xb].fill(1.0);
            sample_interior(img, q0, inv.a, inv.c, xa, &mut frow[xa * 3..xb * 3]);
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

/// The output columns [xa, xb) of a row whose source points q0 + x (a, c) keep both bilinear
/// taps inside the photo in both axes (so no clamping is needed there and coverage is 1).
fn interior(q0: Point, a: f32, c: f32, sw: usize, sh: usize, width: usize) -> (usize, usize) {
    if sw < 2 || sh < 2 {
        return (0, 0);
    }
    // x where lo <= f0 + x s <= hi, shrunk by a pixel at each end against rounding.
    let range = |f0: f32, s: f32, lo: f32, hi: f32| -> (f32, f32) {
        if s.abs() < 1e-9 {
            return if f0 >= lo + 1e-3 && f0 <= hi - 1e-3 { (0.0, width as f32) } else { (0.0, 0.0) };
        }
        let (u, v) = ((lo - f0) / s, (hi - f0) / s);
        (u.min(v).ceil() + 1.0, u.max(v).floor() - 1.0)
    };
    let (xa, xb) = range(q0.x, a, 0.5, sw as f32 - 0.5);
    let (ya, yb) = range(q0.y, c, 0.5, sh as f32 - 0.5);
    let lo = xa.max(ya).max(0.0);
    let hi = xb.min(yb).min(width as f32);
    if hi.is_nan() || lo.is_nan() || hi <= lo {
        return (0, 0);
    }
    (lo as usize, (hi as usize).max(lo as usize))
}

/// Bilinear samples for output columns xa.. of a row inside [`interior`]: `out` holds their
/// RGB. The tap indices are still clamped, so a rounding slip can only shift a sample by a
/// pixel, never read outside the image.
fn sample_interior(img: &Rgb8, q0: Point, a: f32, c: f32, xa: usize, out: &mut [f32]) {
    let (w, h) = (img.width, img.height);
    let stride = w * 3;
    let n = out.len() / 3;
    let mut k = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("sse4.1") && img.data.len() < i32::MAX as usize / 2 {
            // SAFETY: the CPU has SSE4.1 (checked); every byte offset fits an i32 (checked).
            k = unsafe { sse41::interior(img, q0, a, c, xa, out) };
        }
        // Four lanes at once (R, G, B and a spare), SSE2: part of every x86-64 CPU. The spare
        // lane is overwritten by the next pixel, so the last pixel goes the scalar way below.
        // (Column numbers as f32 by counting: exact below 2^24, and usize -> f32 is not one
        // instruction.)
        let mut x = (xa + k) as f32;
        while k + 1 < n {
            let (fx, fy) = (q0.x + x * a - 0.5, q0.y + x * c - 0.5);
            let (x0, y0) = (sse2::floor_index(fx, w - 2), sse2::floor_index(fy, h - 2));
            let i = y0 * stride + x0 * 3;
            if i + stride + 8 > img.data.len() {
                break; // the 8-byte reads would pass the image's end: scalar from here
            }
            // SAFETY: both 8-byte reads end inside `img.data` (checked above) and the 16-byte
            // store ends inside `out`, since k + 1 < n leaves three more floats.
            unsafe {
                sse2::bilinear(&img.data[i..i + 8], &img.data[i + stride..i + stride + 8], fx - x0 as f32, fy - y0 as f32, &mut out[k * 3..k * 3 + 4])
            };
            k += 1;
            x += 1.0;
        }
    }
    for k in k..n {
        let x = (xa + k) as f32;
        let fx = q0.x + x * a - 0.5;
        let fy = q0.y + x * c - 0.5;
        let x0 = (fx as usize).min(w - 2);
        let y0 = (fy as usize).min(h - 2);
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let i = y0 * stride + x0 * 3;
        let t: &[u8; 6] = img.data[i..i + 6].try_into().unwrap_or(&[0; 6]);
        let b: &[u8; 6] = img.data[i + stride..i + stride + 6].try_into().unwrap_or(&[0; 6]);
        for ch in 0..3 {
            let (t0, t1, b0, b1) = (t[ch] as f32, t[3 + ch] as f32, b[ch] as f32, b[3 + ch] as f32);
            let top = t0 + ax * (t1 - t0);
            let bot = b0 + ax * (b1 - b0);
            out[k * 3 + ch] = (top + ay * (bot - top)) * (1.0 / 255.0);
        }
    }
}

/// [`sample_interior`] four pixels at a time: their coordinates, taps and weights in one set of
/// vector instructions, and each pixel's taps loaded and widened in one (`pmovzxbd`). The same
/// arithmetic in the same order as the SSE2 and scalar paths, so the same floats.
#[cfg(target_arch = "x86_64")]
mod sse41 {
    use super::{Point, Rgb8};
    use std::arch::x86_64::*;

    /// Writes the first pixels of `out` (a multiple of four, leaving at least one for the
    /// caller) and returns how many.
    ///
    /// # Safety
    /// The CPU has SSE4.1; `img.data.len()` fits an i32.
    #[target_feature(enable = "sse4.1")]
    pub unsafe fn interior(img: &Rgb8, q0: Point, a: f32, c: f32, xa: usize, out: &mut [f32]) -> usize {
        let (w, h) = (img.width, img.height);
        let (stride, n, len) = (w * 3, out.len() / 3, img.data.len());
        let data = img.data.as_ptr();
        let (qx, qy, va, vc, half) = (_mm_set1_ps(q0.x), _mm_set1_ps(q0.y), _mm_set1_ps(a), _mm_set1_ps(c), _mm_set1_ps(0.5));
        let (zero, max_x, max_y) = (_mm_setzero_si128(), _mm_set1_epi32(w as i32 - 2), _mm_set1_epi32(h as i32 - 2));
        let (vstride, three) = (_mm_set1_epi32(stride as i32), _mm_set1_epi32(3));
        let mut k = 0;
        // Pixel k + 3's 16-byte store must end inside `out`: 3 (k + 3) + 4 <= 3 n.
        while k + 5 <= n {
            let x = _mm_add_ps(_mm_set1_ps((xa + k) as f32), _mm_setr_ps(0.0, 1.0, 2.0, 3.0));
            let fx = _mm_sub_ps(_mm_add_ps(qx, _mm_mul_ps(x, va)), half);
            let fy = _mm_sub_ps(_mm_add_ps(qy, _mm_mul_ps(x, vc)), half);
            let x0 = _mm_min_epi32(_mm_max_epi32(_mm_cvttps_epi32(fx), zero), max_x);
            let y0 = _mm_min_epi32(_mm_max_epi32(_mm_cvttps_epi32(fy), zero), max_y);
            let (ax, ay) = (_mm_sub_ps(fx, _mm_cvtepi32_ps(x0)), _mm_sub_ps(fy, _mm_cvtepi32_ps(y0)));
            let mut at = [0i32; 4];
            _mm_storeu_si128(at.as_mut_ptr().cast(), _mm_add_epi32(_mm_mullo_epi32(y0, vstride), _mm_mullo_epi32(x0, three)));
            if at.iter().any(|&i| i as usize + stride + 8 > len) {
                break; // a tap row would pass the image's end: the caller's paths take over
            }
            let o = out.as_mut_ptr().add(k * 3);
            pixel(data, at[0] as usize, stride, _mm_shuffle_ps::<0x00>(ax, ax), _mm_shuffle_ps::<0x00>(ay, ay), o);
            pixel(data, at[1] as usize, stride, _mm_shuffle_ps::<0x55>(ax, ax), _mm_shuffle_ps::<0x55>(ay, ay), o.add(3));
            pixel(data, at[2] as usize, stride, _mm_shuffle_ps::<0xaa>(ax, ax), _mm_shuffle_ps::<0xaa>(ay, ay), o.add(6));
            pixel(data, at[3] as usize, stride, _mm_shuffle_ps::<0xff>(ax, ax), _mm_shuffle_ps::<0xff>(ay, ay), o.add(9));
            k += 4;
        }
        k
    }

    /// One bilinear RGB sample (plus a spare lane) from the four taps at byte `i` of `data`.
    #[inline]
    #[target_feature(enable = "sse4.1")]
    unsafe fn pixel(data: *const u8, i: usize, stride: usize, vx: __m128, vy: __m128, out: *mut f32) {
        let tap = |p: *const u8| _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned())));
        let (t0, t1, b0, b1) = (tap(data.add(i)), tap(data.add(i + 3)), tap(data.add(i + stride)), tap(data.add(i + stride + 3)));
        _mm_storeu_ps(out, super::sse2::lerp(t0, t1, b0, b1, vx, vy));
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// floor(v) as an index in [0, max] for v >= 0 (one truncating conversion; Rust's `as`
    /// adds saturation code that cost a tenth of the loop). Out-of-range input is clamped.
    #[inline(always)]
    pub fn floor_index(v: f32, max: usize) -> usize {
        // SAFETY: SSE2 is part of x86-64; cvttss2si is defined for every input.
        let i = unsafe { _mm_cvttss_si32(_mm_set_ss(v)) };
        (i.max(0) as usize).min(max)
    }

    /// One bilinear RGB sample from two 8-byte reads (this pixel and its right neighbour in
    /// the top and bottom row), the same arithmetic as the scalar path, into out[..4].
    ///
    /// # Safety
    /// `top` and `bot` hold at least 8 bytes, `out` at least 4 floats.
    #[inline(always)]
    pub unsafe fn bilinear(top: &[u8], bot: &[u8], ax: f32, ay: f32, out: &mut [f32]) {
        debug_assert!(top.len() >= 8 && bot.len() >= 8 && out.len() >= 4);
        let z = _mm_setzero_si128();
        // Bytes 0..3 are this pixel's RGB, 3..6 the neighbour's: widen both to 4 x f32.
        let lanes = |v: __m128i| _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(v, z), z));
        let t = _mm_loadl_epi64(top.as_ptr().cast());
        let b = _mm_loadl_epi64(bot.as_ptr().cast());
        let (t0, t1) = (lanes(t), lanes(_mm_srli_si128::<3>(t)));
        let (b0, b1) = (lanes(b), lanes(_mm_srli_si128::<3>(b)));
        _mm_storeu_ps(out.as_mut_ptr(), lerp(t0, t1, b0, b1, _mm_set1_ps(ax), _mm_set1_ps(ay)));
    }

    /// The bilinear blend of four taps (top-left, top-right, bottom-left, bottom-right) in
    /// [0, 255], horizontal first like the scalar path, scaled to [0, 1].
    #[inline(always)]
    pub fn lerp(t0: __m128, t1: __m128, b0: __m128, b1: __m128, vx: __m128, vy: __m128) -> __m128 {
        // SAFETY: SSE is part of x86-64.
        unsafe {
            let tv = _mm_add_ps(t0, _mm_mul_ps(vx, _mm_sub_ps(t1, t0)));
            let bv = _mm_add_ps(b0, _mm_mul_ps(vx, _mm_sub_ps(b1, b0)));
            _mm_mul_ps(_mm_add_ps(tv, _mm_mul_ps(vy, _mm_sub_ps(bv, tv))), _mm_set1_ps(1.0 / 255.0))
        }
    }
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
    fn the_interior_fast_path_samples_as_the_clamped_one() {
        // Rotated, scaled and shifted so that rows cross the photo's border on either side:
        // every pixel, inside the fast span or not, is the clamped bilinear sample of its point.
        let src = checker(300, 200, 5);
        for (angle, scale, shift) in [(0.0, 1.0, (0.0, 0.0)), (0.3, 1.7, (-40.0, 25.0)), (-0.2, 0.7, (60.0, -30.0)), (1.4, 3.1, (10.0, 10.0))] {
            let t = Affine::similarity(Point::new(150.0, 100.0), Point::new(80.0 + shift.0, 60.0 + shift.1), angle, scale);
            let c = compose(&src, &t, 160, 120);
            let inv = t.inverse();
            let mut want = [0.0f32; 3];
            for y in 0..120 {
                for x in 0..160 {
                    let q = inv.apply(Point::new(x as f32 + 0.5, y as f32 + 0.5));
                    sample_rgb(&src, q.x, q.y, &mut want);
                    let got = &c.frame.data[(y * 160 + x) * 3..][..3];
                    for ch in 0..3 {
                        assert!((got[ch] - want[ch]).abs() < 1e-3, "angle {angle} ({x},{y}): {got:?} vs {want:?}");
                    }
                    let inside = (q.x.min(300.0 - q.x).min(q.y).min(200.0 - q.y) + 0.5).clamp(0.0, 1.0);
                    assert!((c.coverage.data[y * 160 + x] - inside).abs() < 1e-3, "coverage at ({x},{y})");
                }
            }
        }
    }

    #[test]
    fn the_simd_interior_paths_give_the_scalar_floats() {
        // sample_interior's vector paths (SSE4.1 four pixels at a time, SSE2 one) must compute
        // exactly what its scalar tail does, so outputs do not depend on the CPU.
        let src = checker(300, 200, 5);
        for (angle, scale) in [(0.0, 1.0), (0.3, 1.7), (-0.2, 0.7), (0.05, 1.18)] {
            let t = Affine::similarity(Point::new(150.0, 100.0), Point::new(80.0, 60.0), angle, scale);
            let inv = t.inverse();
            for y in 0..120 {
                let q0 = inv.apply(Point::new(0.5, y as f32 + 0.5));
                let (xa, xb) = interior(q0, inv.a, inv.c, src.width, src.height, 160);
                let mut got = vec![0.0f32; (xb - xa) * 3];
                sample_interior(&src, q0, inv.a, inv.c, xa, &mut got);
                for (k, got) in got.chunks_exact(3).enumerate() {
                    let x = (xa + k) as f32;
                    let (fx, fy) = (q0.x + x * inv.a - 0.5, q0.y + x * inv.c - 0.5);
                    let (x0, y0) = (fx as usize, fy as usize);
                    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
                    let i = (y0 * 300 + x0) * 3;
                    for (ch, &got) in got.iter().enumerate() {
                        let px = |j: usize| src.data[j] as f32;
                        let top = px(i + ch) + ax * (px(i + 3 + ch) - px(i + ch));
                        let bot = px(i + 900 + ch) + ax * (px(i + 903 + ch) - px(i + 900 + ch));
                        assert_eq!(got, (top + ay * (bot - top)) * (1.0 / 255.0), "angle {angle} row {y} column {x}");
                    }
                }
            }
        }
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
