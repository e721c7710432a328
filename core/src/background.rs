//! New backgrounds and compositing.
//!
//! Backgrounds are rendered as float RGB at the frame size. Smooth ones (gradient, studio) carry
//! a tiny ordered dither so that the 8-bit encoding later does not turn them into visible bands.

use crate::error::{Error, Result};
use crate::filters::{block_downsample, gaussian_blur, resize, resize_region_u8, BlockSampler};
use crate::options::{Background, Rgb};
use crate::privacy::secure_buffer::SecureBuf;
use crate::raster::{unit_to_u8, Image, Plane};
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

/// Largest accepted background image side, and decoder memory cap: a custom background is
/// scaled down to a few hundred pixels anyway, so anything bigger is refused, not decoded.
pub const MAX_BACKGROUND_SIDE: u32 = 12_000;
pub const MAX_BACKGROUND_ALLOC: u64 = 256 * 1024 * 1024;

/// A rendered background and what it was rendered for (the background, width, height).
type Rendered = (Background, usize, usize, Rc<Image<f32>>);

thread_local! {
    /// The last solid, gradient or studio background this thread rendered. Those depend only on
    /// their colours and the frame size, never on the photo, so a worker renders one once per
    /// preset instead of once per photo (the studio light is ~2 ms of a 0.3 MP job).
    static RENDERED: RefCell<Option<Rendered>> = const { RefCell::new(None) };
}

/// Renders `bg` at the frame size. `frame` is the composed photo (for `BlurredOriginal`),
/// `alpha` the person matte. Returns RGB float (shared when it came from the thread's cache);
/// `Transparent` returns None.
pub fn render(bg: &Background, frame: &Image<f32>, alpha: &Plane) -> Result<Option<Rc<Image<f32>>>> {
    let (w, h) = (frame.width, frame.height);
    Ok(Some(match bg {
        Background::Solid(c) => rendered_once(bg, w, h, || solid(w, h, *c)),
        Background::Gradient(top, bottom) => rendered_once(bg, w, h, || gradient(w, h, *top, *bottom)),
        Background::Studio(c) => rendered_once(bg, w, h, || studio(w, h, *c)),
        Background::BlurredOriginal => Rc::new(blurred_original(frame, alpha)),
        Background::Image(bytes) => Rc::new(image_cover(bytes, w, h)?),
        Background::Transparent => return Ok(None),
    }))
}

/// `bg` at w x h from the thread's cache, made by `render` on a miss. Only for backgrounds that
/// do not depend on the photo.
fn rendered_once(bg: &Background, w: usize, h: usize, render: impl FnOnce() -> Image<f32>) -> Rc<Image<f32>> {
    RENDERED.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some((b, cw, ch, img)) = &*slot {
            if b == bg && (*cw, *ch) == (w, h) {
                return img.clone();
            }
        }
        let img = Rc::new(render());
        *slot = Some((bg.clone(), w, h, img.clone()));
        img
    })
}

/// `alpha * fg + (1 - alpha) * bg` as 8-bit RGB; with no background, RGBA with alpha as 4th
/// channel. Straight to 8 bits: a float result would be written and read back only to be
/// rounded (about a third of this stage's time).
pub fn composite(fg: &Image<f32>, alpha: &Plane, bg: Option<&Image<f32>>) -> Image<u8> {
    let (w, h) = (fg.width, fg.height);
    let alpha = fit(alpha, w, h);
    let fc = fg.channels;
    match bg {
        Some(bg) => {
            let bg = fit(bg, w, h);
            let bc = bg.channels;
            let mut out = Image::<u8>::new(w, h, 3);
            if fc == 0 || bc == 0 {
                return out;
            }
            crate::parallel::bands(&mut out.data, w * 3, |y0, band| {
                let (i0, n) = (y0 * w, band.len() / 3);
                let a = &alpha.data[i0..i0 + n];
                if fc == 3 && bc == 3 {
                    blend_rgb(band, &fg.data[i0 * 3..(i0 + n) * 3], &bg.data[i0 * 3..(i0 + n) * 3], a);
                    return;
                }
                for (j, (o, &a)) in band.chunks_exact_mut(3).zip(a).enumerate() {
                    let i = i0 + j;
                    let a = a.clamp(0.0, 1.0);
                    for (c, o) in o.iter_mut().enumerate() {
                        let f = fg.data[i * fc + c.min(fc - 1)];
                        let b = bg.data[i * bc + c.min(bc - 1)];
                        *o = unit_to_u8(a * f + (1.0 - a) * b);
                    }
                }
            });
            out
        }
        None => {
            // Straight (not premultiplied) alpha: fg holds foreground colours already freed of
            // the old background, which is what an RGBA consumer expects.
            let mut out = Image::<u8>::new(w, h, 4);
            if fc == 0 {
                return out;
            }
            for (i, o) in out.data.chunks_exact_mut(4).enumerate() {
                for (c, o) in o[..3].iter_mut().enumerate() {
                    *o = unit_to_u8(fg.data[i * fc + c.min(fc - 1)]);
                }
                o[3] = unit_to_u8(alpha.data[i]);
            }
            out
        }
    }
}

/// The pipeline's case of [`composite`] (RGB over RGB), in a form the compiler vectorises; also
/// built for AVX2 and chosen at run time where the CPU has it (same arithmetic, same bytes).
/// Most of a headshot is background (alpha 0) or person (alpha 1): runs of 8 such pixels read
/// only the side they show (`0 f + 1 b` is `b` and `1 f + 0 b` is `f` exactly, for finite f, b).
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn blend_rgb(out: &mut [u8], f: &[f32], b: &[f32], a: &[f32]) {
    const N: usize = 8;
    let to_u8 = |o: &mut [u8], v: &[f32]| o.iter_mut().zip(v).for_each(|(o, &v)| *o = unit_to_u8(v));
    let mixed = |o: &mut [u8], f: &[f32], b: &[f32], a: &[f32]| {
        for (((o, f), b), &a) in o.chunks_exact_mut(3).zip(f.chunks_exact(3)).zip(b.chunks_exact(3)).zip(a) {
            let a = a.clamp(0.0, 1.0);
            for ((o, &f), &b) in o.iter_mut().zip(f).zip(b) {
                *o = unit_to_u8(a * f + (1.0 - a) * b);
            }
        }
    };
    let full = a.len() / N * N;
    for (((o, f), b), a) in out.chunks_exact_mut(3 * N).zip(f.chunks_exact(3 * N)).zip(b.chunks_exact(3 * N)).zip(a.chunks_exact(N)) {
        // Bitwise OR/AND of the comparisons, not `all`: no early exit, so it vectorises.
        if a.iter().fold(true, |m, &a| m & (a <= 0.0)) {
            to_u8(o, b);
        } else if a.iter().fold(true, |m, &a| m & (a >= 1.0)) {
            to_u8(o, f);
        } else {
            mixed(o, f, b, a);
        }
    }
    mixed(&mut out[full * 3..], &f[full * 3..], &b[full * 3..], &a[full..]);
}

/// `p` at w x h (resampled only if a caller passed another size).
fn fit(p: &Image<f32>, w: usize, h: usize) -> Cow<'_, Image<f32>> {
    if p.width == w && p.height == h {
        Cow::Borrowed(p)
    } else if p.width == 0 || p.height == 0 {
        Cow::Owned(Image::new(w, h, p.channels.max(1)))
    } else {
        Cow::Owned(resize(p, w, h))
    }
}

fn rgb_f(c: Rgb) -> [f32; 3] {
    [c.0 as f32 / 255.0, c.1 as f32 / 255.0, c.2 as f32 / 255.0]
}

fn to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn to_srgb(v: f32) -> f32 {
    let v = v.max(0.0);
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// 8x8 Bayer threshold in [-0.5, 0.5) LSB of 8-bit: breaks up bands without visible noise.
fn dither(x: usize, y: usize) -> f32 {
    const B: [[u8; 8]; 8] = [
        [0, 32, 8, 40, 2, 34, 10, 42],
        [48, 16, 56, 24, 50, 18, 58, 26],
        [12, 44, 4, 36, 14, 46, 6, 38],
        [60, 28, 52, 20, 62, 30, 54, 22],
        [3, 35, 11, 43, 1, 33, 9, 41],
        [51, 19, 59, 27, 49, 17, 57, 25],
        [15, 47, 7, 39, 13, 45, 5, 37],
        [63, 31, 55, 23, 61, 29, 53, 21],
    ];
    ((B[y & 7][x & 7] as f32 + 0.5) / 64.0 - 0.5) / 255.0
}

fn solid(w: usize, h: usize, c: Rgb) -> Image<f32> {
    let c = rgb_f(c);
    let mut out = Image::<f32>::new(w, h, 3);
    for px in out.data.chunks_exact_mut(3) {
        px.copy_from_slice(&c);
    }
    out
}

/// Vertical gradient, interpolated in linear light (as light would mix), dithered.
fn gradient(w: usize, h: usize, top: Rgb, bottom: Rgb) -> Image<f32> {
    let (t, b) = (rgb_f(top).map(to_linear), rgb_f(bottom).map(to_linear));
    let mut out = Image::<f32>::new(w, h, 3);
    for y in 0..h {
        let f = if h > 1 { y as f32 / (h - 1) as f32 } else { 0.0 };
        let row = [0, 1, 2].map(|c| to_srgb(t[c] + (b[c] - t[c]) * f));
        for (x, px) in out.data[y * w * 3..(y + 1) * w * 3].chunks_exact_mut(3).enumerate() {
            let d = dither(x, y);
            for (o, &v) in px.iter_mut().zip(&row) {
                *o = (v + d).clamp(0.0, 1.0);
            }
        }
    }
    out
}

/// Studio light: a soft pool of light behind the head at (0.5 w, 0.35 h), falling off to darker
/// edges. Gains are applied in linear light; the centre ends up ~10 % brighter than the colour
/// in sRGB terms, the far corners ~15 % darker.
fn studio(w: usize, h: usize, c: Rgb) -> Image<f32> {
    const G0: f32 = 0.8 - 0.15;
    const G1: f32 = 0.8 + 0.45;
    const STEPS: usize = 1024;
    let lin = rgb_f(c).map(to_linear);
    // The colour as a function of the gain, tabulated: no powf per pixel.
    let lut: Vec<[f32; 3]> = (0..=STEPS).map(|i| lin.map(|l| to_srgb(l * (G0 + (G1 - G0) * i as f32 / STEPS as f32)))).collect();
    let (cx, cy) = (0.5 * w as f32, 0.35 * h as f32);
    let r = 0.5 * ((w * w + h * h) as f32).sqrt().max(1.0);
    let mut out = Image::<f32>::new(w, h, 3);
    if w == 0 || h == 0 {
        return out;
    }
    crate::parallel::bands(&mut out.data, w * 3, |y0, band| {
        for (j, orow) in band.chunks_exact_mut(w * 3).enumerate() {
            let y = y0 + j;
            let dy = (y as f32 + 0.5 - cy) / r;
            for (x, px) in orow.chunks_exact_mut(3).enumerate() {
                let dx = (x as f32 + 0.5 - cx) / r;
                let d2 = dx * dx + dy * dy;
                let light = (-d2 / (0.55 * 0.55)).exp();
                let t = ((d2.sqrt() - 0.5) / 0.8).clamp(0.0, 1.0);
                let vignette = t * t * (3.0 - 2.0 * t);
                let gain = 0.8 + 0.45 * light - 0.15 * vignette;
                let u = ((gain - G0) / (G1 - G0)).clamp(0.0, 1.0) * STEPS as f32;
                let i = (u as usize).min(STEPS - 1);
                let f = u - i as f32;
                let dth = dither(x, y);
                let (l0, l1) = (lut[i], lut[i + 1]);
                for (ch, o) in px.iter_mut().enumerate() {
                    *o = (l0[ch] + f * (l1[ch] - l0[ch]) + dth).clamp(0.0, 1.0);
                }
            }
        }
    });
    out
}

/// The photo's own surroundings, strongly blurred. A plain blur would smear the person into a
/// ghostly halo around them; instead the blur is weighted by (1 - alpha) (normalised
/// convolution), so the person's area is filled from the nearby background.
fn blurred_original(frame: &Image<f32>, alpha: &Plane) -> Image<f32> {
    let (w, h) = (frame.width, frame.height);
    let n = w * h;
    let mut out = Image::<f32>::new(w, h, 3);
    if n == 0 || frame.channels == 0 {
        return out;
    }
    let alpha = fit(alpha, w, h);
    let fc = frame.channels;
    let mut st = Image::<f32>::new(w, h, 4);
    // The global background mean fills places no background reaches (a frame that is all person).
    let (mut gsum, mut gw) = ([0.0f64; 3], 0.0f64);
    for i in 0..n {
        let wt = 1.0 - alpha.data[i].clamp(0.0, 1.0);
        for (c, g) in gsum.iter_mut().enumerate() {
            let v = frame.data[i * fc + c.min(fc - 1)];
            st.data[i * 4 + c] = wt * v;
            *g += (wt * v) as f64;
        }
        st.data[i * 4 + 3] = wt;
        gw += wt as f64;
    }
    let global = if gw > 1e-6 {
        gsum.map(|v| (v / gw) as f32)
    } else {
        let mut m = [0.0f64; 3];
        for px in frame.data.chunks_exact(fc) {
            for c in 0..3 {
                m[c] += px[c.min(fc - 1)] as f64;
            }
        }
        m.map(|v| (v / n as f64) as f32)
    };
    // A blur this wide is smooth: compute it on a grid k times smaller and interpolate.
    let sigma = 0.035 * w.min(h) as f32;
    let k = ((sigma / 4.0).floor() as usize).max(1);
    let low = block_downsample(&st, k);
    drop(st);
    let b = gaussian_blur(&low, sigma / k as f32);
    drop(low);
    let up = BlockSampler::new(&b, w, k);
    const EPS: f32 = 1e-3;
    for y in 0..h {
        let row = up.row(y);
        for x in 0..w {
            let s: [f32; 4] = up.sample(&row, x);
            let o = &mut out.data[(y * w + x) * 3..(y * w + x) * 3 + 3];
            for c in 0..3 {
                o[c] = ((s[c] + EPS * global[c]) / (s[3] + EPS)).clamp(0.0, 1.0);
            }
        }
    }
    out
}

/// Decodes a caller-supplied background, scales it to cover the frame and crops the centre.
fn image_cover(bytes: &[u8], w: usize, h: usize) -> Result<Image<f32>> {
    let bad = |e: &dyn std::fmt::Display| Error::InvalidOptions(format!("background image: {e}"));
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| bad(&e))?;
    if reader.format().is_none() {
        return Err(bad(&"not a recognised image format (JPEG, PNG, WebP or GIF)"));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_BACKGROUND_SIDE);
    limits.max_image_height = Some(MAX_BACKGROUND_SIDE);
    limits.max_alloc = Some(MAX_BACKGROUND_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| bad(&e))?.into_rgb8();
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    if sw == 0 || sh == 0 {
        return Err(bad(&"the image is empty"));
    }
    let src = Image::from_buf(sw, sh, 3, SecureBuf::from_vec(img.into_raw()));
    if w == 0 || h == 0 {
        return Ok(Image::new(w, h, 3));
    }
    // Cover: the larger of the two scale factors, then the centred crop of the frame's aspect.
    let scale = (w as f32 / sw as f32).max(h as f32 / sh as f32);
    let (cw, chh) = ((w as f32 / scale).min(sw as f32), (h as f32 / scale).min(sh as f32));
    let (x0, y0) = ((sw as f32 - cw) * 0.5, (sh as f32 - chh) * 0.5);
    Ok(resize_region_u8(&src, x0, y0, cw, chh, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A frame with a person disk (alpha 1) of `inside` colour on `outside`.
    fn scene(w: usize, h: usize, inside: [f32; 3], outside: [f32; 3]) -> (Image<f32>, Plane) {
        let mut f = Image::<f32>::new(w, h, 3);
        let mut a = Plane::new(w, h, 1);
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f32 - w as f32 / 2.0).powi(2) + (y as f32 - h as f32 / 2.0).powi(2)).sqrt();
                let inside_disk = d < w.min(h) as f32 / 4.0;
                a.data[y * w + x] = if inside_disk { 1.0 } else { 0.0 };
                f.px_mut(x, y).copy_from_slice(if inside_disk { &inside } else { &outside });
            }
        }
        (f, a)
    }

    #[test]
    fn blend_runs_of_clear_or_opaque_pixels_equal_the_formula() {
        // Runs of 0 and 1 (some of them 8 long and aligned), soft values, values outside [0, 1],
        // NaN, and a length that is not a multiple of 8.
        let n = 203;
        let a: Vec<f32> = (0..n)
            .map(|i| match (i / 8) % 5 {
                0 => 0.0,
                1 => 1.0,
                2 => [-0.5, 1.5, 0.0, 1.0][i % 4],
                3 => (i % 7) as f32 / 6.0,
                _ => if i == 37 { f32::NAN } else { 0.0 },
            })
            .collect();
        let f: Vec<f32> = (0..n * 3).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
        let b: Vec<f32> = (0..n * 3).map(|i| ((i * 53) % 97) as f32 / 96.0).collect();
        let mut out = vec![0u8; n * 3];
        blend_rgb(&mut out, &f, &b, &a);
        for i in 0..n {
            let ai = a[i].clamp(0.0, 1.0);
            for c in 0..3 {
                assert_eq!(out[i * 3 + c], unit_to_u8(ai * f[i * 3 + c] + (1.0 - ai) * b[i * 3 + c]), "pixel {i}");
            }
        }
    }

    #[test]
    fn solid_is_exact_away_from_the_person() {
        let (f, a) = scene(64, 80, [0.9, 0.1, 0.1], [0.2, 0.7, 0.2]);
        let bg = render(&Background::Solid(Rgb(0x8e, 0x92, 0x97)), &f, &a).unwrap().unwrap();
        let out = composite(&f, &a, Some(&bg));
        assert_eq!(out.channels, 3);
        assert_eq!(out.px(1, 1), &[0x8e, 0x92, 0x97]);
        assert_eq!(out.px(63, 79), &[0x8e, 0x92, 0x97]);
        // The person is untouched (0.9, 0.1, 0.1 rounded to 8 bits).
        assert_eq!(out.px(32, 40), &[230, 26, 26]);
    }

    #[test]
    fn gradient_runs_top_to_bottom_monotonically() {
        let (f, a) = scene(50, 709, [0.5; 3], [0.5; 3]);
        let top = Rgb(250, 250, 250);
        let bottom = Rgb(60, 70, 90);
        let bg = render(&Background::Gradient(top, bottom), &f, &a).unwrap().unwrap();
        let u = bg.to_u8();
        assert!(u.px(10, 0).iter().zip([250u8, 250, 250]).all(|(&v, t)| v.abs_diff(t) <= 1));
        assert!(u.px(10, 708).iter().zip([60u8, 70, 90]).all(|(&v, t)| v.abs_diff(t) <= 1));
        // Row means, over 8-row bands (one dither period), strictly decrease.
        let band = |y0: usize| -> f32 { (y0..y0 + 8).flat_map(|y| (0..50).map(move |x| (x, y))).map(|(x, y)| bg.px(x, y)[0]).sum() };
        let means: Vec<f32> = (0..88).map(|i| band(i * 8)).collect();
        assert!(means.windows(2).all(|m| m[1] < m[0]));
        // The dither keeps the 8-bit version from banding: many distinct values per row region.
        let mut levels: Vec<u8> = (0..50).map(|x| u.px(x, 300)[2]).collect();
        levels.sort();
        levels.dedup();
        assert!(levels.len() >= 2);
    }

    #[test]
    fn studio_is_brighter_behind_the_head_and_smooth() {
        let (w, h) = (531, 709);
        let (f, a) = scene(w, h, [0.5; 3], [0.5; 3]);
        let c = Rgb(0x8e, 0x92, 0x97);
        let bg = render(&Background::Studio(c), &f, &a).unwrap().unwrap();
        let l = |x: usize, y: usize| bg.px(x, y).iter().sum::<f32>() / 3.0;
        let base = (0x8e + 0x92 + 0x97) as f32 / 3.0 / 255.0;
        let centre = l(w / 2, (0.35 * h as f32) as usize);
        assert!(centre > base * 1.05 && centre < base * 1.2, "centre {centre} base {base}");
        for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
            assert!(l(x, y) < base * 0.95 && l(x, y) < centre, "corner {}", l(x, y));
        }
        // No steps: neighbours differ by at most the slope plus one dither step.
        for y in 0..h {
            for x in 1..w {
                assert!((bg.px(x, y)[1] - bg.px(x - 1, y)[1]).abs() < 1.5 / 255.0);
            }
        }
    }

    #[test]
    fn colour_backgrounds_are_rendered_once_per_thread_and_size() {
        let (f, a) = scene(64, 80, [0.5; 3], [0.5; 3]);
        let studio = Background::Studio(Rgb(0x8e, 0x92, 0x97));
        let first = render(&studio, &f, &a).unwrap().unwrap();
        let again = render(&studio, &f, &a).unwrap().unwrap();
        assert!(Rc::ptr_eq(&first, &again), "the same studio background is rendered again");
        // Another colour, another size or another thread renders anew, and the same pixels come out.
        let other = render(&Background::Studio(Rgb(0x20, 0x30, 0x40)), &f, &a).unwrap().unwrap();
        assert!(!Rc::ptr_eq(&first, &other));
        let (f2, a2) = scene(64, 81, [0.5; 3], [0.5; 3]);
        assert_eq!(render(&studio, &f2, &a2).unwrap().unwrap().height, 81);
        let fresh = std::thread::scope(|s| s.spawn(|| render(&studio, &f, &a).unwrap().unwrap().data.to_vec()).join().unwrap());
        assert_eq!(&fresh[..], &render(&studio, &f, &a).unwrap().unwrap().data[..]);
        let solid = Background::Solid(Rgb(1, 2, 3));
        assert!(Rc::ptr_eq(&render(&solid, &f, &a).unwrap().unwrap(), &render(&solid, &f, &a).unwrap().unwrap()));
        // Photo-dependent backgrounds are never kept.
        for bg in [Background::BlurredOriginal, Background::Image(png(3, 2, |_, _| [9, 9, 9]))] {
            assert!(!Rc::ptr_eq(&render(&bg, &f, &a).unwrap().unwrap(), &render(&bg, &f, &a).unwrap().unwrap()), "{bg:?} was kept");
        }
    }

    #[test]
    fn blurred_original_does_not_smear_the_person() {
        let (w, h) = (120, 160);
        let (f, a) = scene(w, h, [1.0, 0.0, 0.0], [0.1, 0.3, 0.8]);
        let bg = render(&Background::BlurredOriginal, &f, &a).unwrap().unwrap();
        // Behind the person: filled from the blue surroundings, no red ghost.
        let c = bg.px(w / 2, h / 2);
        assert!(c[0] < 0.15 && (c[2] - 0.8).abs() < 0.05, "{c:?}");
        let e = bg.px(w / 2 + w / 4 + 2, h / 2);
        assert!(e[0] < 0.15, "{e:?}");
        // A real blur: a sharp edge in the surroundings gets spread out.
        let mut f2 = Image::<f32>::new(w, h, 3);
        for y in 0..h {
            for x in 0..w {
                f2.px_mut(x, y).fill(if x < w / 2 { 0.0 } else { 1.0 });
            }
        }
        let none = Plane::new(w, h, 1);
        let b2 = render(&Background::BlurredOriginal, &f2, &none).unwrap().unwrap();
        let v = b2.px(w / 2 - 3, h / 2)[0];
        assert!(v > 0.2 && v < 0.5, "{v}");
        // All person: falls back to the frame's mean colour instead of dividing by zero.
        let mut all = Plane::new(w, h, 1);
        all.data.fill(1.0);
        let b3 = render(&Background::BlurredOriginal, &f, &all).unwrap().unwrap();
        assert!(b3.data.iter().all(|v| v.is_finite()));
    }

    fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn image_background_covers_and_centres() {
        // 80x20: red | green | blue thirds... the frame is square, so only the middle 20x20 is
        // kept after scaling to cover.
        let bytes = png(80, 20, |x, _| if x < 30 { [255, 0, 0] } else if x < 50 { [0, 255, 0] } else { [0, 0, 255] });
        let (f, a) = scene(40, 40, [0.5; 3], [0.5; 3]);
        let bg = render(&Background::Image(bytes), &f, &a).unwrap().unwrap();
        assert_eq!((bg.width, bg.height, bg.channels), (40, 40, 3));
        for (x, y) in [(2, 2), (20, 20), (37, 37)] {
            let p = bg.px(x, y);
            assert!(p[1] > 0.95 && p[0] < 0.05 && p[2] < 0.05, "({x},{y}) {p:?}");
        }
        // A tall image on a wide frame keeps its vertical centre.
        let bytes = png(10, 90, |_, y| if y < 40 { [0, 0, 0] } else if y < 50 { [255, 255, 255] } else { [0, 0, 0] });
        let (f, a) = scene(100, 10, [0.5; 3], [0.5; 3]);
        let bg = render(&Background::Image(bytes), &f, &a).unwrap().unwrap();
        assert!(bg.px(50, 5)[0] > 0.95);
    }

    #[test]
    fn image_background_rejects_bad_bytes() {
        let (f, a) = scene(20, 20, [0.5; 3], [0.5; 3]);
        for bytes in [Vec::new(), b"definitely not an image".to_vec(), png(4, 4, |_, _| [1, 2, 3])[..30].to_vec()] {
            let e = render(&Background::Image(bytes), &f, &a).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
        }
        // A valid PNG header declaring 100000 x 100000 pixels is refused by the limits.
        let mut bomb = png(1, 1, |_, _| [0, 0, 0]);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = render(&Background::Image(bomb), &f, &a).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(e.to_string().contains("limit"), "{e}");
    }

    fn crc32(b: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &x in b {
            c ^= x as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    /// Renders each background behind the astronaut to /tmp for looking at.
    #[test]
    #[ignore]
    fn debug_dump_backgrounds() {
        let frame = crate::matte::tests::load_fixture("astronaut.png");
        let mut s = crate::runtime::test_session("matte", crate::models::SEGMENTER.bytes);
        let m = crate::matte::person_mask(&mut s, &frame).unwrap();
        let (a, fg) = crate::matte::refine(&frame, &m, &crate::matte::tests::ones(frame.width, frame.height));
        for (name, bg) in [
            ("studio", Background::Studio(Rgb(0x8e, 0x92, 0x97))),
            ("gradient", Background::Gradient(Rgb(0xd9, 0xdb, 0xde), Rgb(0x7a, 0x8b, 0x9e))),
            ("blur", Background::BlurredOriginal),
        ] {
            let b = render(&bg, &frame, &a).unwrap().unwrap();
            let out = composite(&fg, &a, Some(&b));
            image::save_buffer(format!("/tmp/bg_{name}.png"), &out.data, out.width as u32, out.height as u32, image::ExtendedColorType::Rgb8).unwrap();
            let bu = b.to_u8();
            image::save_buffer(format!("/tmp/bg_{name}_only.png"), &bu.data, bu.width as u32, bu.height as u32, image::ExtendedColorType::Rgb8).unwrap();
        }
    }

    #[test]
    fn transparent_gives_rgba_with_the_matte() {
        let (f, mut a) = scene(30, 20, [0.9, 0.8, 0.7], [0.1, 0.2, 0.3]);
        a.data[5] = 0.25;
        assert!(render(&Background::Transparent, &f, &a).unwrap().is_none());
        let out = composite(&f, &a, None);
        assert_eq!(out.channels, 4);
        for i in 0..30 * 20 {
            assert_eq!(out.data[i * 4 + 3], unit_to_u8(a.data[i]));
            for c in 0..3 {
                assert_eq!(out.data[i * 4 + c], unit_to_u8(f.data[i * 3 + c]));
            }
        }
        assert_eq!(out.data[5 * 4 + 3], 64);
    }

    #[test]
    fn degenerate_sizes_do_not_panic() {
        for (w, h) in [(0, 0), (1, 1), (1, 9), (7, 1)] {
            let f = Image::<f32>::new(w, h, 3);
            let a = Plane::new(w, h, 1);
            for bg in [
                Background::Solid(Rgb(1, 2, 3)),
                Background::Gradient(Rgb(0, 0, 0), Rgb(255, 255, 255)),
                Background::Studio(Rgb(100, 100, 100)),
                Background::BlurredOriginal,
                Background::Image(png(3, 2, |_, _| [9, 9, 9])),
            ] {
                let b = render(&bg, &f, &a).unwrap().unwrap();
                assert_eq!((b.width, b.height), (w, h));
                let c = composite(&f, &a, Some(&b));
                assert_eq!((c.width, c.height, c.channels), (w, h, 3));
            }
        }
        // Mismatched matte size is resampled, not a panic.
        let f = Image::<f32>::new(10, 10, 3);
        let out = composite(&f, &Plane::new(3, 3, 1), None);
        assert_eq!(out.channels, 4);
    }
}
