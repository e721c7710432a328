//! Interleaved pixel buffers used between stages. All pixel data lives in a [`SecureBuf`].

use crate::privacy::secure_buffer::SecureBuf;
use zeroize::Zeroize;

/// An interleaved image: `channels` values per pixel, rows packed without padding.
#[derive(Clone, Debug)]
pub struct Image<T: Zeroize + Copy + Default + 'static> {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: SecureBuf<T>,
}

/// 8-bit RGB (3 channels), the working format of the photo.
pub type Rgb8 = Image<u8>;
/// Single-channel float plane in [0, 1] (masks, alpha, luminance).
pub type Plane = Image<f32>;

impl<T: Zeroize + Copy + Default + 'static> Image<T> {
    pub fn new(width: usize, height: usize, channels: usize) -> Self {
        Image { width, height, channels, data: SecureBuf::zeroed(width * height * channels) }
    }

    pub fn from_buf(width: usize, height: usize, channels: usize, data: SecureBuf<T>) -> Self {
        assert_eq!(data.len(), width * height * channels, "image buffer size mismatch");
        Image { width, height, channels, data }
    }

    #[inline]
    pub fn idx(&self, x: usize, y: usize) -> usize {
        (y * self.width + x) * self.channels
    }

    #[inline]
    pub fn px(&self, x: usize, y: usize) -> &[T] {
        let i = self.idx(x, y);
        &self.data[i..i + self.channels]
    }

    #[inline]
    pub fn px_mut(&mut self, x: usize, y: usize) -> &mut [T] {
        let i = self.idx(x, y);
        let c = self.channels;
        &mut self.data[i..i + c]
    }
}

impl Image<f32> {
    /// Bilinear sample of channel `c` at (x, y) in pixel-centre coordinates, clamped at the border.
    pub fn sample(&self, x: f32, y: f32, c: usize) -> f32 {
        let t = self.taps(x, y);
        let g = |x: usize, y: usize| self.data[(y * self.width + x) * self.channels + c];
        let top = g(t.x0, t.y0) * (1.0 - t.ax) + g(t.x1, t.y0) * t.ax;
        let bot = g(t.x0, t.y1) * (1.0 - t.ax) + g(t.x1, t.y1) * t.ax;
        top * (1.0 - t.ay) + bot * t.ay
    }

    /// [`Self::sample`] of the first `N` channels at once (the taps and weights found once).
    #[inline]
    pub fn sample_px<const N: usize>(&self, x: f32, y: f32) -> [f32; N] {
        let t = self.taps(x, y);
        let px = |x: usize, y: usize| &self.data[(y * self.width + x) * self.channels..][..N];
        let (p00, p10, p01, p11) = (px(t.x0, t.y0), px(t.x1, t.y0), px(t.x0, t.y1), px(t.x1, t.y1));
        std::array::from_fn(|c| {
            let top = p00[c] * (1.0 - t.ax) + p10[c] * t.ax;
            let bot = p01[c] * (1.0 - t.ax) + p11[c] * t.ax;
            top * (1.0 - t.ay) + bot * t.ay
        })
    }

    /// The four bilinear taps of (x, y), clamped at the border, and their weights.
    #[inline]
    fn taps(&self, x: f32, y: f32) -> Taps {
        let fx = (x - 0.5).clamp(0.0, (self.width - 1) as f32);
        let fy = (y - 0.5).clamp(0.0, (self.height - 1) as f32);
        // Both are clamped to >= 0 (or NaN, which casts to 0 as its floor does): the cast is
        // the floor, without a call to libm's floorf on baseline x86-64.
        let (x0, y0) = (fx as usize, fy as usize);
        Taps { x0, y0, x1: (x0 + 1).min(self.width - 1), y1: (y0 + 1).min(self.height - 1), ax: fx - x0 as f32, ay: fy - y0 as f32 }
    }
}

/// See [`Image::taps`].
struct Taps {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    ax: f32,
    ay: f32,
}

impl Image<u8> {
    /// Converts to float in [0, 1], same layout.
    pub fn to_f32(&self) -> Image<f32> {
        let mut out = Image::<f32>::new(self.width, self.height, self.channels);
        for (o, &i) in out.data.iter_mut().zip(self.data.iter()) {
            *o = i as f32 * (1.0 / 255.0);
        }
        out
    }
}

impl Image<f32> {
    /// Converts [0, 1] floats to 8-bit with rounding and clamping.
    pub fn to_u8(&self) -> Image<u8> {
        let mut out = Image::<u8>::new(self.width, self.height, self.channels);
        let row = self.width * self.channels;
        crate::parallel::bands(&mut out.data, row, |y0, band| {
            for (o, &i) in band.iter_mut().zip(&self.data[y0 * row..]) {
                *o = unit_to_u8(i);
            }
        });
        out
    }
}

/// A [0, 1] float as 8-bit, rounded and clamped.
#[inline]
pub fn unit_to_u8(v: f32) -> u8 {
    (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

/// SIMD resize (fast_image_resize, Catmull-Rom) of an 8-bit image with 1, 3 or 4 channels,
/// optionally from a sub-rectangle `(left, top, width, height)` of the source.
pub fn resize_u8(src: &Image<u8>, crop: Option<(f64, f64, f64, f64)>, dw: usize, dh: usize) -> Image<u8> {
    resize_u8_with(src, crop, dw, dh, fast_image_resize::FilterType::CatmullRom)
}

/// [`resize_u8`] with a box filter: the mean over each output pixel's footprint. For copies only
/// a detector reads, where a reduction's sharpness is not worth Catmull-Rom's wider taps (3.5x
/// the work at 1 MP to 160 px).
pub fn reduce_u8_box(src: &Image<u8>, dw: usize, dh: usize) -> Image<u8> {
    resize_u8_with(src, None, dw, dh, fast_image_resize::FilterType::Box)
}

fn resize_u8_with(src: &Image<u8>, crop: Option<(f64, f64, f64, f64)>, dw: usize, dh: usize, filter: fast_image_resize::FilterType) -> Image<u8> {
    use fast_image_resize as fr;
    let pt = match src.channels {
        1 => fr::PixelType::U8,
        3 => fr::PixelType::U8x3,
        4 => fr::PixelType::U8x4,
        c => panic!("resize_u8: unsupported channel count {c}"),
    };
    let (dw, dh) = (dw.max(1), dh.max(1));
    let mut out = Image::<u8>::new(dw, dh, src.channels);
    if src.width == 0 || src.height == 0 {
        return out;
    }
    let (l, t, w, h) = crop.unwrap_or((0.0, 0.0, src.width as f64, src.height as f64));
    let (w, h) = (w.max(1e-3), h.max(1e-3));
    // Two passes of one direction each, through a temporary we own: done in one call, the resizer
    // keeps the intermediate rows in its own buffer and frees it unwiped.
    let alg = fr::ResizeAlg::Convolution(filter);
    // `to` holds `to_w` x `to_h` pixels: a whole image, or some of its rows.
    let pass = |from: &Image<u8>, to: &mut [u8], to_w: usize, to_h: usize, crop: (f64, f64, f64, f64)| {
        let s = fr::images::ImageRef::new(from.width as u32, from.height as u32, &from.data, pt).expect("source size checked");
        let mut d = fr::images::Image::from_slice_u8(to_w as u32, to_h as u32, to, pt).expect("dest size");
        // use_alpha(false): premultiplying would copy the source into another internal buffer.
        let opts = fr::ResizeOptions::new().resize_alg(alg).use_alpha(false).crop(crop.0, crop.1, crop.2, crop.3);
        fr::Resizer::new().resize(&s, &mut d, &opts).expect("pixel types match");
    };
    // Vertical first, over the source columns the horizontal pass will read (as the resizer does
    // for 8-bit images), widened by the filter's reach.
    let reach = 2.0 * (w / dw as f64).max(1.0) + 1.0;
    let x0 = (l - reach).floor().max(0.0);
    let x1 = (l + w + reach).ceil().min(src.width as f64);
    let tw = (x1 - x0).max(1.0) as usize;
    let c = src.channels;
    let mut tmp = Image::<u8>::new(tw, dh, c);
    if crate::parallel::threads() < 2 || tw * dh < 64 * 1024 {
        pass(src, &mut tmp.data, tw, dh, (x0, t, tw as f64, h));
        pass(&tmp, &mut out.data, dw, dh, (l - x0, 0.0, w, dh as f64));
        return out;
    }
    // On two threads: the vertical pass in a left and a right half of the columns, the horizontal
    // one in a top and a bottom half of the rows. Each output value has the same taps and
    // weights as in one piece (neither half rescales the direction it is cut along), so the
    // bytes are the same.
    let lw = tw / 2;
    let (mut left, mut right) = (Image::<u8>::new(lw, dh, c), Image::<u8>::new(tw - lw, dh, c));
    crate::parallel::join(
        || pass(src, &mut left.data, lw, dh, (x0, t, lw as f64, h)),
        || pass(src, &mut right.data, tw - lw, dh, (x0 + lw as f64, t, (tw - lw) as f64, h)),
    );
    for ((row, a), b) in tmp.data.chunks_exact_mut(tw * c).zip(left.data.chunks_exact(lw * c)).zip(right.data.chunks_exact((tw - lw) * c)) {
        row[..lw * c].copy_from_slice(a);
        row[lw * c..].copy_from_slice(b);
    }
    drop((left, right));
    let m = dh / 2;
    let (top, bottom) = out.data.split_at_mut(m * dw * c);
    crate::parallel::join(
        || pass(&tmp, top, dw, m, (l - x0, 0.0, w, m as f64)),
        || pass(&tmp, bottom, dw, dh - m, (l - x0, m as f64, w, (dh - m) as f64)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole-factor box reduction gives each block's mean (to within fast_image_resize's
    /// fixed-point rounding), on one thread and on two.
    #[test]
    fn reduce_u8_box_gives_block_means() {
        let (w, h, f) = (64usize, 48usize, 4usize);
        let mut img = Image::<u8>::new(w, h, 3);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = ((i * 7919) % 256) as u8;
        }
        for threads in [1, 2] {
            let out = crate::parallel::with_threads(threads, || reduce_u8_box(&img, w / f, h / f));
            assert_eq!((out.width, out.height, out.channels), (w / f, h / f, 3));
            for oy in 0..h / f {
                for ox in 0..w / f {
                    for c in 0..3 {
                        let sum: u32 = (0..f * f).map(|i| img.data[((oy * f + i / f) * w + ox * f + i % f) * 3 + c] as u32).sum();
                        let mean = sum as f32 / (f * f) as f32;
                        let got = out.data[(oy * (w / f) + ox) * 3 + c] as f32;
                        assert!((got - mean).abs() <= 1.0, "block ({ox}, {oy}) channel {c}: {got} against {mean}");
                    }
                }
            }
        }
    }

    /// All channels at once give each channel's own bilinear sample, inside and past the border.
    #[test]
    fn sample_px_gives_the_per_channel_samples() {
        let mut img = Image::<f32>::new(7, 5, 3);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = ((i * 37) % 101) as f32 / 101.0;
        }
        for &(x, y) in &[(0.0, 0.0), (3.3, 2.7), (6.9, 4.99), (-2.0, 1.5), (9.5, 7.25), (0.5, 0.5)] {
            let all = img.sample_px::<3>(x, y);
            for (c, v) in all.iter().enumerate() {
                assert_eq!(v.to_bits(), img.sample(x, y, c).to_bits(), "({x}, {y}) channel {c}");
            }
        }
    }

    /// The two-thread resize gives the same bytes as the one-thread one, for whole images and
    /// crops, reductions and enlargements.
    #[test]
    fn resize_u8_on_two_threads_matches_one() {
        let mut src = Image::<u8>::new(866, 1155, 3);
        for (i, p) in src.data.iter_mut().enumerate() {
            *p = ((i * 7919 + i / 2600 * 31) % 251) as u8;
        }
        let whole = None::<(f64, f64, f64, f64)>;
        let cases = [
            (whole, 120, 160),
            (whole, 433, 577),
            (Some((101.3, 220.7, 500.2, 480.9)), 192, 192),
            (Some((0.0, 0.0, 866.0, 700.0)), 531, 429),
            (Some((300.5, 400.25, 120.0, 90.0)), 400, 300),
        ];
        for (crop, w, h) in cases {
            let one = crate::parallel::with_threads(1, || resize_u8(&src, crop, w, h));
            let two = crate::parallel::with_threads(2, || resize_u8(&src, crop, w, h));
            assert!(one.data[..] == two.data[..], "{crop:?} -> {w}x{h}");
        }
    }
}
