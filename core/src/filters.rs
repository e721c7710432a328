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
    box_blur_owned(img.clone(), rx, ry)
}

/// [`box_blur`] in place, reusing the input's buffer for the result.
pub fn box_blur_owned(mut img: Image<f32>, rx: usize, ry: usize) -> Image<f32> {
    let (w, h, ch) = (img.width, img.height, img.channels);
    let stride = w * ch;
    // Row y is read before any output row that could overwrite it is written (see box_stream).
    box_stream(
        w,
        h,
        ch,
        rx,
        ry,
        &mut img.data,
        |d, y, row| row.copy_from_slice(&d[y * stride..(y + 1) * stride]),
        |d, y, row| d[y * stride..(y + 1) * stride].copy_from_slice(row),
    );
    img
}

/// Streaming box filter: input rows come from `fill(state, y, row)` (w*ch values), are blurred
/// horizontally into a ring of 2ry+2 rows, and each finished output row goes to
/// `emit(state, y, row)`. Nothing of image size is allocated, which matters more than the
/// arithmetic here: fresh pages cost page faults and every buffer is wiped when dropped.
/// Input row y is always read before output row y is emitted, and never after, so filling from
/// and emitting to the same buffer is safe.
#[allow(clippy::too_many_arguments)]
pub fn box_stream<S: ?Sized>(
    w: usize,
    h: usize,
    ch: usize,
    rx: usize,
    ry: usize,
    state: &mut S,
    fill: impl FnMut(&mut S, usize, &mut [f32]),
    emit: impl FnMut(&mut S, usize, &[f32]),
) {
    if w == 0 || h == 0 || ch == 0 {
        return;
    }
    let mut scratch = SecureBuf::<f32>::zeroed(box_scratch_len(w, h, ch, ry));
    box_stream_rows(w, h, ch, rx, ry, 0..h, &mut scratch, state, fill, emit);
}

/// Scratch values [`box_stream_rows`] needs.
pub fn box_scratch_len(w: usize, h: usize, ch: usize, ry: usize) -> usize {
    (2 * ry.min(h.saturating_sub(1)) + 5) * w * ch
}

/// [`box_stream`] for the output rows `rows` only (it fills the rows their windows need), with
/// the caller's scratch of [`box_scratch_len`] values.
#[allow(clippy::too_many_arguments)]
#[multiversion::multiversion(targets("x86_64+avx2"))]
pub fn box_stream_rows<S: ?Sized>(
    w: usize,
    h: usize,
    ch: usize,
    rx: usize,
    ry: usize,
    rows: std::ops::Range<usize>,
    scratch: &mut [f32],
    state: &mut S,
    mut fill: impl FnMut(&mut S, usize, &mut [f32]),
    mut emit: impl FnMut(&mut S, usize, &[f32]),
) {
    if w == 0 || h == 0 || ch == 0 || rows.is_empty() {
        return;
    }
    let ry = ry.min(h - 1);
    let stride = w * ch;
    let slots = 2 * ry + 2;
    let (ring, rest) = scratch[..box_scratch_len(w, h, ch, ry)].split_at_mut(slots * stride);
    let (line, rest) = rest.split_at_mut(stride);
    let (acc, out) = rest.split_at_mut(stride);
    acc.fill(0.0);
    let first = rows.start.saturating_sub(ry);
    let mut next = first;
    for y in rows.start..rows.end.min(h) {
        let last = (y + ry).min(h - 1);
        while next <= last {
            fill(state, next, line);
            let slot = &mut ring[(next % slots) * stride..(next % slots + 1) * stride];
            box_h(line, slot, w, 1, ch, rx);
            for (a, &v) in acc.iter_mut().zip(slot.iter()) {
                *a += v;
            }
            next += 1;
        }
        if y > ry && y - ry > first {
            let old = y - ry - 1;
            for (a, &v) in acc.iter_mut().zip(&ring[(old % slots) * stride..(old % slots + 1) * stride]) {
                *a -= v;
            }
        }
        let inv = 1.0 / (last - y.saturating_sub(ry) + 1) as f32;
        for (o, &a) in out[..stride].iter_mut().zip(acc.iter()) {
            *o = a * inv;
        }
        emit(state, y, &out[..stride]);
    }
}

const BOX_BANDS: usize = 2;

/// [`box_stream`] in row bands on the worker's threads: `fill(y, row)` must depend on y only
/// (rows near a band's edge are filled by both bands), and `emit(out_row, y, filtered)` writes
/// output row y of `out` (`out_len` values a row, h rows).
#[allow(clippy::too_many_arguments)]
pub fn box_stream_par(
    w: usize,
    h: usize,
    ch: usize,
    rx: usize,
    ry: usize,
    out: &mut [f32],
    out_len: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
    emit: impl Fn(&mut [f32], usize, &[f32]) + Sync,
) {
    if w == 0 || h == 0 || ch == 0 || out_len == 0 {
        return;
    }
    // Two bands whatever the core count, so the result is the same on any machine.
    let per = box_scratch_len(w, h, ch, ry);
    let mut scratch = SecureBuf::<f32>::zeroed(BOX_BANDS * per);
    crate::parallel::fixed_bands(&mut out[..h * out_len], out_len, BOX_BANDS, &mut scratch, per, |y0, band, scratch| {
        let rows = y0..y0 + band.len() / out_len;
        box_stream_rows(w, h, ch, rx, ry, rows, scratch, band, |_, y, row| fill(y, row), |band, y, row| {
            emit(&mut band[(y - y0) * out_len..(y - y0 + 1) * out_len], y, row)
        });
    });
}

// Running sums: add the entering pixel, subtract the leaving one. f32 accumulators (twice the
// SIMD width of f64); over a 709-pixel run the drift stays near 1e-4 of the mean (tested),
// far below what any of the masks and colours here can show.
// The channels of a pixel are a slice, so the inner loops vectorise.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn box_h(src: &[f32], dst: &mut [f32], w: usize, h: usize, ch: usize, r: usize) {
    match ch {
        1 => box_h_n::<1>(src, dst, w, h, r),
        3 => box_h_n::<3>(src, dst, w, h, r),
        4 => box_h_n::<4>(src, dst, w, h, r),
        6 => box_h_n::<6>(src, dst, w, h, r),
        8 => box_h_n::<8>(src, dst, w, h, r),
        13 => box_h_n::<13>(src, dst, w, h, r),
        _ => {
            // Any other channel count: one channel at a time through a strided copy.
            let mut line = SecureBuf::<f32>::zeroed(w);
            let mut out = SecureBuf::<f32>::zeroed(w);
            for y in 0..h {
                for c in 0..ch {
                    for x in 0..w {
                        line[x] = src[(y * w + x) * ch + c];
                    }
                    box_h_n::<1>(&line, &mut out, w, 1, r);
                    for x in 0..w {
                        dst[(y * w + x) * ch + c] = out[x];
                    }
                }
            }
        }
    }
}

// The channel count is a constant so the accumulator lives in registers; the row is split into
// head / middle / tail so the middle loop (most pixels) has no branches.
#[inline(always)]
fn box_h_n<const N: usize>(src: &[f32], dst: &mut [f32], w: usize, h: usize, r: usize) {
    let r = r.min(w - 1);
    let stride = w * N;
    for (row, out) in src.chunks_exact(stride).zip(dst.chunks_exact_mut(stride)).take(h) {
        let px = |x: usize| -> &[f32; N] { row[x * N..x * N + N].try_into().unwrap_or(&[0.0; N]) };
        let mut acc = [0.0f32; N];
        for x in 0..=r {
            let p = px(x);
            for c in 0..N {
                acc[c] += p[c];
            }
        }
        let mid_lo = r;
        let mid_hi = w.saturating_sub(r + 1).max(mid_lo);
        // A window cut by the border: its own count, adds and subtracts as they apply.
        let edge = |x: usize, acc: &mut [f32; N], out: &mut [f32]| {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(w - 1);
            let inv = 1.0 / (hi - lo + 1) as f32;
            let o = &mut out[x * N..x * N + N];
            for c in 0..N {
                o[c] = acc[c] * inv;
            }
            if x + r + 1 < w {
                let e = px(x + r + 1);
                for c in 0..N {
                    acc[c] += e[c];
                }
            }
            if x >= r {
                let l = px(x - r);
                for c in 0..N {
                    acc[c] -= l[c];
                }
            }
        };
        for x in 0..mid_lo {
            edge(x, &mut acc, out);
        }
        if mid_hi > mid_lo {
            // Full windows: constant count, one add and one subtract per value.
            let inv = 1.0 / (2 * r + 1) as f32;
            for xm in mid_lo..mid_hi {
                let (e, l) = (px(xm + r + 1), px(xm - r));
                let o = &mut out[xm * N..xm * N + N];
                for c in 0..N {
                    o[c] = acc[c] * inv;
                    acc[c] += e[c] - l[c];
                }
            }
        }
        // (With no full window, mid_hi = mid_lo and the edge steps go on from there.)
        for x in mid_hi..w {
            edge(x, &mut acc, out);
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
    let b = box_blur_owned(a, r, r);
    box_blur_owned(b, r, r)
}

/// Per-axis resampling taps: output index o reads source indices start[o].. with the weights
/// wts[off[o]..off[o + 1]] (flat, so building and reading them allocates nothing per output).
struct Taps {
    start: Vec<usize>,
    off: Vec<usize>,
    wts: Vec<f32>,
}

impl Taps {
    #[inline]
    fn of(&self, o: usize) -> (usize, &[f32]) {
        (self.start[o], &self.wts[self.off[o]..self.off[o + 1]])
    }
}

/// Taps mapping the source interval [a, a + len) (in pixels) onto `n` outputs: exact area
/// coverage when shrinking (no aliasing), bilinear when enlarging.
fn taps(src_n: usize, a: f32, len: f32, n: usize) -> Taps {
    let mut t = Taps { start: Vec::with_capacity(n), off: Vec::with_capacity(n + 1), wts: Vec::with_capacity(n * 2) };
    t.off.push(0);
    let s = len / n as f32;
    let last = src_n as f32;
    for o in 0..n {
        if s > 1.0 {
            let lo = (a + o as f32 * s).clamp(0.0, last);
            let hi = (a + (o + 1) as f32 * s).clamp(0.0, last);
            let i0 = (lo.floor() as usize).min(src_n - 1);
            let i1 = ((hi.ceil() as usize).max(i0 + 1)).min(src_n);
            let first = t.wts.len();
            t.wts.extend((i0..i1).map(|i| (hi.min(i as f32 + 1.0) - lo.max(i as f32)).max(0.0)));
            let sum: f32 = t.wts[first..].iter().sum();
            if sum > 0.0 {
                t.wts[first..].iter_mut().for_each(|v| *v /= sum);
            } else {
                t.wts.truncate(first);
                t.wts.push(1.0);
            }
            t.start.push(i0);
        } else {
            let c = (a + (o as f32 + 0.5) * s - 0.5).clamp(0.0, last - 1.0);
            let i0 = c.floor() as usize;
            let f = c - i0 as f32;
            if i0 + 1 < src_n && f > 0.0 {
                t.start.push(i0);
                t.wts.extend([1.0 - f, f]);
            } else {
                t.start.push(i0.min(src_n - 1));
                t.wts.push(1.0);
            }
        }
        t.off.push(t.wts.len());
    }
    t
}

/// Resizes to `w` x `h`: area average when shrinking, bilinear when enlarging (per axis).
pub fn resize(img: &Image<f32>, w: usize, h: usize) -> Image<f32> {
    resize_region(img, 0.0, 0.0, img.width as f32, img.height as f32, w, h)
}

/// Resamples the source rectangle (x0, y0, rw, rh) (pixel units, may be fractional) to `w` x `h`.
pub fn resize_region(img: &Image<f32>, x0: f32, y0: f32, rw: f32, rh: f32, w: usize, h: usize) -> Image<f32> {
    if img.width == w && img.height == h && x0 == 0.0 && y0 == 0.0 && rw == w as f32 && rh == h as f32 {
        return img.clone();
    }
    resample(img, x0, y0, rw, rh, w, h, 1.0)
}

/// [`resize_region`] from 8-bit samples straight to float [0, 1] (no full-size float copy).
pub fn resize_region_u8(img: &Image<u8>, x0: f32, y0: f32, rw: f32, rh: f32, w: usize, h: usize) -> Image<f32> {
    resample(img, x0, y0, rw, rh, w, h, 1.0 / 255.0)
}

#[allow(clippy::too_many_arguments)]
fn resample<T: zeroize::Zeroize + Copy + Default + Into<f32> + Sync + 'static>(
    img: &Image<T>,
    x0: f32,
    y0: f32,
    rw: f32,
    rh: f32,
    w: usize,
    h: usize,
    scale: f32,
) -> Image<f32> {
    let ch = img.channels;
    let mut out = Image::<f32>::new(w, h, ch);
    if w == 0 || h == 0 || img.width == 0 || img.height == 0 || ch == 0 {
        return out;
    }
    let tx = taps(img.width, x0, rw.max(1e-3), w);
    let ty = taps(img.height, y0, rh.max(1e-3), h);
    // Only the source rows and columns some output uses: a crop does not pay for the whole image.
    let used = |t: &Taps, n: usize, src_n: usize| {
        let lo = t.start.iter().copied().min().unwrap_or(0);
        let hi = (0..n).map(|o| t.start[o] + t.off[o + 1] - t.off[o]).max().unwrap_or(0).min(src_n);
        (lo, hi.max(lo))
    };
    let (ry0, ry1) = used(&ty, h, img.height);
    let (cx0, cx1) = used(&tx, w, img.width);
    let stride = w * ch;
    let src_row = |y: usize| &img.data[(y * img.width + cx0) * ch..(y * img.width + cx1) * ch];
    if h < ry1 - ry0 {
        // Shrinking vertically: vertical first, into an (h x used columns) buffer, so the
        // horizontal pass (the costlier one per value) runs on h rows instead of all used rows.
        let tstride = (cx1 - cx0) * ch;
        let mut tmp = Image::<f32>::new(cx1 - cx0, h, ch);
        crate::parallel::bands(&mut tmp.data, tstride, |b0, band| {
            for (j, trow) in band.chunks_exact_mut(tstride).enumerate() {
                let (s, wts) = ty.of(b0 + j);
                for (k, &wt) in wts.iter().enumerate() {
                    for (o, &v) in trow.iter_mut().zip(src_row(s + k)) {
                        *o += wt * v.into();
                    }
                }
            }
        });
        crate::parallel::bands(&mut out.data, stride, |b0, band| {
            for (j, orow) in band.chunks_exact_mut(stride).enumerate() {
                let y = b0 + j;
                resample_row(&tmp.data[y * tstride..(y + 1) * tstride], &tx, cx0, ch, orow, scale);
            }
        });
        return out;
    }
    // Otherwise horizontal first, into a (w x used rows) buffer, then vertical.
    let mut tmp = Image::<f32>::new(w, ry1 - ry0, ch);
    crate::parallel::bands(&mut tmp.data, stride, |b0, band| {
        for (j, orow) in band.chunks_exact_mut(stride).enumerate() {
            resample_row(src_row(ry0 + b0 + j), &tx, cx0, ch, orow, 1.0);
        }
    });
    crate::parallel::bands(&mut out.data, stride, |y0, band| {
        for (j, orow) in band.chunks_exact_mut(stride).enumerate() {
            let (s, wts) = ty.of(y0 + j);
            for (k, &wt) in wts.iter().enumerate() {
                let srow = &tmp.data[(s - ry0 + k) * stride..(s - ry0 + k + 1) * stride];
                for (o, &v) in orow.iter_mut().zip(srow) {
                    *o += wt * scale * v;
                }
            }
        }
    });
    out
}

/// One row of the horizontal pass: `row` holds source columns from `col0` on.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn resample_row<T: Copy + Into<f32>>(row: &[T], tx: &Taps, col0: usize, ch: usize, orow: &mut [f32], scale: f32) {
    // The channel count as a constant keeps a pixel's sums in registers.
    match ch {
        1 => resample_row_n::<T, 1>(row, tx, col0, orow, scale),
        3 => resample_row_n::<T, 3>(row, tx, col0, orow, scale),
        4 => resample_row_n::<T, 4>(row, tx, col0, orow, scale),
        _ => {
            for (x, o) in orow.chunks_exact_mut(ch).enumerate() {
                let (s, wts) = tx.of(x);
                for (c, o) in o.iter_mut().enumerate() {
                    let acc: f32 = wts.iter().enumerate().map(|(k, &wt)| wt * row[(s - col0 + k) * ch + c].into()).sum();
                    *o = acc * scale;
                }
            }
        }
    }
}

#[inline(always)]
fn resample_row_n<T: Copy + Into<f32>, const N: usize>(row: &[T], tx: &Taps, col0: usize, orow: &mut [f32], scale: f32) {
    for (x, o) in orow.chunks_exact_mut(N).enumerate() {
        let (s, wts) = tx.of(x);
        let s = s - col0;
        let mut acc = [0.0f32; N];
        for (p, &wt) in row[s * N..(s + wts.len()) * N].chunks_exact(N).zip(wts) {
            for c in 0..N {
                acc[c] += wt * p[c].into();
            }
        }
        for c in 0..N {
            o[c] = acc[c] * scale;
        }
    }
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
    let rl = ((r as f32 / sub as f32).round() as usize).max(1);
    let ab = if sub > 1 {
        let gl = block_downsample(guide, sub);
        let pl = block_downsample(p, sub);
        guided_coefficients(&gl, &pl, rl, eps)
    } else {
        guided_coefficients(guide, p, rl, eps)
    };
    let gc = guide.channels.max(1);
    let sampler = BlockSampler::new(&ab, w, sub);
    for y in 0..h {
        let row = sampler.row(y);
        for x in 0..w {
            let i = y * w + x;
            q.data[i] = apply_coefficients(&sampler, &row, x, &guide.data[i * gc..i * gc + gc]);
        }
    }
    q
}

/// The guided filter's window-averaged linear coefficients (a_r, a_g, a_b, b) of `p` against
/// `guide` (1 or 3 channels; for grey only a_r is used), 4 channels at the guide's size.
pub fn guided_coefficients(guide: &Image<f32>, p: &Plane, r: usize, eps: f32) -> Image<f32> {
    let (w, h) = (guide.width, guide.height);
    let gc = guide.channels.max(1);
    let mut ab = Image::<f32>::new(w, h, 4);
    if w * h == 0 || p.data.len() != w * h || guide.channels == 0 {
        return ab;
    }
    // The window statistics are streamed row by row (box_stream), so the 13-channel stack of
    // products is never materialised; only (a, b) are stored, then averaged once more.
    if gc >= 3 {
        box_stream_par(
            w,
            h,
            13,
            r,
            r,
            &mut ab.data,
            w * 4,
            |y, row| {
                let g = &guide.data[y * w * gc..(y + 1) * w * gc];
                let pr = &p.data[y * w..(y + 1) * w];
                for ((s, g), &pv) in row.chunks_exact_mut(13).zip(g.chunks_exact(gc)).zip(pr) {
                    let (r_, g_, b_) = (g[0], g[1], g[2]);
                    s.copy_from_slice(&[
                        r_,
                        g_,
                        b_,
                        pv,
                        r_ * pv,
                        g_ * pv,
                        b_ * pv,
                        r_ * r_,
                        r_ * g_,
                        r_ * b_,
                        g_ * g_,
                        g_ * b_,
                        b_ * b_,
                    ]);
                }
            },
            |orow, _, m| {
                for (o, s) in orow.chunks_exact_mut(4).zip(m.chunks_exact(13)) {
                    o.copy_from_slice(&solve_colour(s, eps));
                }
            },
        );
    } else {
        box_stream_par(
            w,
            h,
            4,
            r,
            r,
            &mut ab.data,
            w * 4,
            |y, row| {
                let g = &guide.data[y * w * gc..(y + 1) * w * gc];
                let pr = &p.data[y * w..(y + 1) * w];
                for ((s, g), &pv) in row.chunks_exact_mut(4).zip(g.chunks_exact(gc)).zip(pr) {
                    s.copy_from_slice(&[g[0], pv, g[0] * pv, g[0] * g[0]]);
                }
            },
            |orow, _, m| {
                for (o, s) in orow.chunks_exact_mut(4).zip(m.chunks_exact(4)) {
                    let a = (s[2] - s[0] * s[1]) / (s[3] - s[0] * s[0] + eps);
                    o.copy_from_slice(&[a, 0.0, 0.0, s[1] - a * s[0]]);
                }
            },
        );
    }
    box_blur_par(&ab, r, r)
}

/// [`box_blur`] in row bands on the worker's threads (out of place: bands read rows their
/// neighbours write).
pub fn box_blur_par(img: &Image<f32>, rx: usize, ry: usize) -> Image<f32> {
    let (w, h, ch) = (img.width, img.height, img.channels);
    let mut out = Image::<f32>::new(w, h, ch);
    let stride = w * ch;
    box_stream_par(w, h, ch, rx, ry, &mut out.data, stride, |y, row| row.copy_from_slice(&img.data[y * stride..(y + 1) * stride]), |o, _, row| {
        o.copy_from_slice(row)
    });
    out
}

/// Per-window solve of the colour guided filter: from the means of (I, p, I*p, I*I^T) to
/// (a_r, a_g, a_b, b).
#[inline]
fn solve_colour(s: &[f32], eps: f32) -> [f32; 4] {
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
    let mut o = [0.0f32; 4];
    if det.abs() > 1e-20 && det.is_finite() {
        let inv = 1.0 / det;
        o[0] = (c11 * cov[0] + c12 * cov[1] + c13 * cov[2]) * inv;
        o[1] = (c12 * cov[0] + c22 * cov[1] + c23 * cov[2]) * inv;
        o[2] = (c13 * cov[0] + c23 * cov[1] + c33 * cov[2]) * inv;
    }
    o[3] = mp - o[0] * mr - o[1] * mg - o[2] * mb;
    o
}

/// Evaluates guided-filter coefficients (computed on a grid `sub` times smaller, see
/// [`block_downsample`]) at full-resolution pixel `x` of the sampler's current row, whose guide
/// value is `g`.
#[inline]
pub fn apply_coefficients(ab: &BlockSampler, row: &BlockRow, x: usize, g: &[f32]) -> f32 {
    let c: [f32; 4] = ab.sample(row, x);
    if g.len() >= 3 {
        c[0] * g[0] + c[1] * g[1] + c[2] * g[2] + c[3]
    } else {
        c[0] * g[0] + c[3]
    }
}

/// Mean of each `k` x `k` block (the last row/column of blocks may be partial). The block grid
/// is what [`BlockSampler`] maps back to full resolution.
pub fn block_downsample(img: &Image<f32>, k: usize) -> Image<f32> {
    let k = k.max(1);
    let mut out = Image::<f32>::new(img.width.div_ceil(k), img.height.div_ceil(k), img.channels);
    block_downsample_into(img, k, &mut out);
    out
}

/// [`block_downsample`] into `out`, which must be the grid's size with the image's channels (a
/// helper thread can fill a buffer its caller made).
pub fn block_downsample_into(img: &Image<f32>, k: usize, out: &mut Image<f32>) {
    let (w, h, ch) = (img.width, img.height, img.channels);
    let k = k.max(1);
    let lw = w.div_ceil(k);
    assert_eq!((out.width, out.height, out.channels), (lw, h.div_ceil(k), ch), "block_downsample_into: output size");
    if w == 0 || h == 0 || ch == 0 {
        return;
    }
    crate::parallel::bands(&mut out.data, lw * ch, |b0, band| block_means_band(&img.data, w, h, ch, k, b0, band));
}

/// Rows b0.. of [`block_downsample`]'s output: each block row's k image rows summed first
/// (contiguous, so it vectorises), then each block's k columns of that sum.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn block_means_band(d: &[f32], w: usize, h: usize, ch: usize, k: usize, b0: usize, band: &mut [f32]) {
    let stride = w * ch;
    let lw = w.div_ceil(k);
    // (Band threads may not create SecureBufs; this one row is wiped on drop all the same.)
    let mut sum = zeroize::Zeroizing::new(vec![0.0f32; stride]);
    for (j, orow) in band.chunks_exact_mut(lw * ch).enumerate() {
        let (y0, y1) = ((b0 + j) * k, ((b0 + j + 1) * k).min(h));
        sum.copy_from_slice(&d[y0 * stride..(y0 + 1) * stride]);
        for irow in d[(y0 + 1) * stride..y1 * stride].chunks_exact(stride) {
            for (s, &v) in sum.iter_mut().zip(irow) {
                *s += v;
            }
        }
        for (bx, (o, block)) in orow.chunks_exact_mut(ch).zip(sum.chunks(k * ch)).enumerate() {
            let n = (((bx + 1) * k).min(w) - bx * k) * (y1 - y0);
            let inv = 1.0 / n as f32;
            // Sums in registers for the usual channel counts (summing into `o` made every add
            // wait for the store before it); same order, same bits.
            match ch {
                1 => o[0] = block.iter().fold(0.0f32, |a, &v| a + v) * inv,
                3 => {
                    let a = block.chunks_exact(3).fold([0.0f32; 3], |a, p| [a[0] + p[0], a[1] + p[1], a[2] + p[2]]);
                    o.copy_from_slice(&[a[0] * inv, a[1] * inv, a[2] * inv]);
                }
                _ => {
                    for px in block.chunks_exact(ch) {
                        for (a, &v) in o.iter_mut().zip(px) {
                            *a += v;
                        }
                    }
                    o.iter_mut().for_each(|v| *v *= inv);
                }
            }
        }
    }
}

/// Block means of a per-pixel vector `f(pixel index)` of N values, without ever materialising
/// it at full resolution.
pub fn block_reduce<const N: usize>(w: usize, h: usize, k: usize, mut f: impl FnMut(usize) -> [f32; N]) -> Image<f32> {
    let k = k.max(1);
    let (lw, lh) = (w.div_ceil(k), h.div_ceil(k));
    let mut out = Image::<f32>::new(lw, lh, N);
    if w == 0 || h == 0 || N == 0 {
        return out;
    }
    for (by, orow) in out.data.chunks_exact_mut(lw * N).enumerate() {
        block_row(w, h, k, by, &mut f, orow);
    }
    out
}

/// Row `by` of [`block_reduce`] into `out` (w.div_ceil(k) * N values).
pub fn block_row<const N: usize>(w: usize, h: usize, k: usize, by: usize, f: &mut impl FnMut(usize) -> [f32; N], out: &mut [f32]) {
    let k = k.max(1);
    out.fill(0.0);
    let (y0, y1) = (by * k, ((by + 1) * k).min(h));
    for y in y0..y1 {
        for (bx, o) in out.chunks_exact_mut(N).enumerate() {
            let (x0, x1) = (bx * k, ((bx + 1) * k).min(w));
            let mut acc = [0.0f32; N];
            for x in x0..x1 {
                let v = f(y * w + x);
                for c in 0..N {
                    acc[c] += v[c];
                }
            }
            for c in 0..N {
                o[c] += acc[c];
            }
        }
    }
    for (bx, o) in out.chunks_exact_mut(N).enumerate() {
        let n = (((bx + 1) * k).min(w).saturating_sub(bx * k)) * y1.saturating_sub(y0);
        let inv = if n > 0 { 1.0 / n as f32 } else { 0.0 };
        o.iter_mut().for_each(|v| *v *= inv);
    }
}

/// The mean of `f(pixel index)` over block (bx, by), summed in the same order as [`block_row`]
/// (so either gives the same bits).
#[inline]
pub fn block_mean<const N: usize>(w: usize, h: usize, k: usize, bx: usize, by: usize, f: &mut impl FnMut(usize) -> [f32; N]) -> [f32; N] {
    let k = k.max(1);
    let (x0, x1) = (bx * k, ((bx + 1) * k).min(w));
    let (y0, y1) = (by * k, ((by + 1) * k).min(h));
    let mut out = [0.0f32; N];
    for y in y0..y1 {
        let mut acc = [0.0f32; N];
        for x in x0..x1 {
            let v = f(y * w + x);
            for c in 0..N {
                acc[c] += v[c];
            }
        }
        for c in 0..N {
            out[c] += acc[c];
        }
    }
    let n = x1.saturating_sub(x0) * y1.saturating_sub(y0);
    let inv = if n > 0 { 1.0 / n as f32 } else { 0.0 };
    out.map(|v| v * inv)
}

/// One full-resolution row's vertical interpolation on a block grid.
#[derive(Clone, Copy, Debug)]
pub struct BlockRow {
    r0: usize,
    r1: usize,
    ay: f32,
}

/// Bilinear upsampling of a block-grid image (see [`block_downsample`]) to the centres of
/// full-resolution pixels, with the per-column taps computed once.
pub struct BlockSampler<'a> {
    img: &'a Image<f32>,
    k: f32,
    cols: Vec<(usize, usize, f32)>,
}

impl<'a> BlockSampler<'a> {
    pub fn new(img: &'a Image<f32>, full_w: usize, k: usize) -> Self {
        let k = k.max(1) as f32;
        let ch = img.channels;
        let last = img.width.saturating_sub(1);
        let cols = (0..full_w)
            .map(|x| {
                let fx = ((x as f32 + 0.5) / k - 0.5).clamp(0.0, last as f32);
                let x0 = (fx as usize).min(last);
                let x1 = (x0 + 1).min(last);
                (x0 * ch, x1 * ch, fx - x0 as f32)
            })
            .collect();
        BlockSampler { img, k, cols }
    }

    pub fn row(&self, y: usize) -> BlockRow {
        let last = self.img.height.saturating_sub(1);
        let fy = ((y as f32 + 0.5) / self.k - 0.5).clamp(0.0, last as f32);
        let y0 = (fy as usize).min(last);
        let y1 = (y0 + 1).min(last);
        let stride = self.img.width * self.img.channels;
        BlockRow { r0: y0 * stride, r1: y1 * stride, ay: fy - y0 as f32 }
    }

    /// The first N channels at column `x` of `row` (N must not exceed the image's channels;
    /// an empty image gives zeros).
    #[inline]
    pub fn sample<const N: usize>(&self, row: &BlockRow, x: usize) -> [f32; N] {
        let mut out = [0.0f32; N];
        let (Some(&(c0, c1, ax)), true) = (self.cols.get(x), N <= self.img.channels && !self.img.data.is_empty()) else {
            return out;
        };
        // The four taps as arrays: one bounds check each instead of one per channel.
        let tap = |i: usize| -> [f32; N] { self.img.data.get(i..i + N).and_then(|s| s.try_into().ok()).unwrap_or([0.0; N]) };
        let (p00, p10, p01, p11) = (tap(row.r0 + c0), tap(row.r0 + c1), tap(row.r1 + c0), tap(row.r1 + c1));
        for c in 0..N {
            let top = p00[c] + ax * (p10[c] - p00[c]);
            let bot = p01[c] + ax * (p11[c] - p01[c]);
            out[c] = top + row.ay * (bot - top);
        }
        out
    }
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
    fn box_blur_has_no_drift_on_long_runs() {
        let im = img_from(709, 709, 1, |x, y, _| ((x * 31 + y * 17) % 97) as f32 / 96.0);
        let b = box_blur(&im, 40, 40);
        for (x, y) in [(700usize, 700usize), (708, 354), (354, 708), (600, 100)] {
            let (mut s, mut n) = (0.0f64, 0.0f64);
            for yy in y.saturating_sub(40)..=(y + 40).min(708) {
                for xx in x.saturating_sub(40)..=(x + 40).min(708) {
                    s += im.px(xx, yy)[0] as f64;
                    n += 1.0;
                }
            }
            assert!((b.px(x, y)[0] as f64 - s / n).abs() < 1e-4, "{} vs {}", b.px(x, y)[0], s / n);
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
    fn banded_box_filter_equals_the_single_stream_on_any_core_count() {
        let im = img_from(97, 131, 3, |x, y, c| ((x * 7 + y * 13 + c * 5) % 31) as f32 / 30.0);
        for (rx, ry) in [(1, 1), (4, 9), (30, 70), (0, 200)] {
            let one = box_blur(&im, rx, ry);
            let p1 = crate::parallel::with_threads(1, || box_blur_par(&im, rx, ry));
            let p2 = crate::parallel::with_threads(2, || box_blur_par(&im, rx, ry));
            assert_eq!(&p1.data[..], &p2.data[..], "bands must not depend on the core count");
            let worst = one.data.iter().zip(p1.data.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "r ({rx},{ry}): banded differs by {worst}");
        }
    }

    #[test]
    fn resample_in_either_pass_order_is_the_separable_sum() {
        // Shrinking vertically runs the vertical pass first; both orders, crops (only the used
        // rows and columns are read) and 8-bit input must give sum_j wy_j sum_i wx_i src.
        let im = img_from(97, 83, 3, |x, y, c| ((x * 7 + y * 13 + c * 5) % 31) as f32 / 30.0);
        let im8 = Image::from_buf(97, 83, 3, SecureBuf::from_vec(im.data.iter().map(|&v| (v * 255.0).round() as u8).collect()));
        for (x0, y0, rw, rh, w, h) in [(0.0, 0.0, 97.0, 83.0, 40, 30), (0.0, 0.0, 97.0, 83.0, 150, 120), (10.5, 7.25, 50.0, 60.0, 20, 90), (3.0, 20.0, 30.0, 40.0, 70, 15)] {
            let (tx, ty) = (taps(97, x0, rw, w), taps(83, y0, rh, h));
            let got = resize_region(&im, x0, y0, rw, rh, w, h);
            let got8 = resize_region_u8(&im8, x0, y0, rw, rh, w, h);
            for y in 0..h {
                for x in 0..w {
                    for c in 0..3 {
                        let (sy, wy) = ty.of(y);
                        let (sx, wx) = tx.of(x);
                        let want: f32 = wy.iter().enumerate().map(|(j, &a)| a * wx.iter().enumerate().map(|(i, &b)| b * im.px(sx + i, sy + j)[c]).sum::<f32>()).sum();
                        assert!((got.px(x, y)[c] - want).abs() < 1e-4, "({x},{y}) {} vs {want}", got.px(x, y)[c]);
                        assert!((got8.px(x, y)[c] - want).abs() < 0.003, "8-bit ({x},{y})");
                    }
                }
            }
        }
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
