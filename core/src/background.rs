//! New backgrounds and compositing.

use crate::error::{Error, Result};
use crate::filters::gaussian_blur;
use crate::options::{Background, Rgb};
use crate::raster::{resize_u8, Image, Plane};

fn f(c: Rgb) -> [f32; 3] {
    [c.0 as f32 / 255.0, c.1 as f32 / 255.0, c.2 as f32 / 255.0]
}

/// Renders `bg` at the frame size. `frame` is the composed photo (for `BlurredOriginal`),
/// `alpha` the person matte. Returns RGB float; `Transparent` returns None.
pub fn render(bg: &Background, frame: &Image<f32>, alpha: &Plane) -> Result<Option<Image<f32>>> {
    let (w, h) = (frame.width, frame.height);
    let mut out = Image::<f32>::new(w, h, 3);
    match bg {
        Background::Transparent => return Ok(None),
        Background::Solid(c) => {
            let c = f(*c);
            for p in out.data.chunks_exact_mut(3) {
                p.copy_from_slice(&c);
            }
        }
        Background::Gradient(top, bottom) => {
            let (a, b) = (f(*top), f(*bottom));
            for y in 0..h {
                let t = if h > 1 { y as f32 / (h - 1) as f32 } else { 0.0 };
                let c = [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t);
                for p in out.data[y * w * 3..(y + 1) * w * 3].chunks_exact_mut(3) {
                    p.copy_from_slice(&c);
                }
            }
        }
        Background::Studio(c) => {
            // A soft light behind the head: +18 % at its centre, -22 % in the far corners.
            let c = f(*c);
            let (cx, cy) = (0.5 * w as f32, 0.35 * h as f32);
            let rmax = ((w * w + h * h) as f32).sqrt() * 0.75;
            for y in 0..h {
                for x in 0..w {
                    let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt() / rmax;
                    let gain = 1.18 - 0.40 * smoothstep(d.min(1.0));
                    let o = (y * w + x) * 3;
                    for i in 0..3 {
                        out.data[o + i] = (c[i] * gain).clamp(0.0, 1.0);
                    }
                }
            }
        }
        Background::BlurredOriginal => {
            // Blur only the surroundings: weights (1 - alpha) keep the person from smearing in.
            let sigma = (w.max(h) as f32 / 40.0).max(2.0);
            let mut weighted = Image::<f32>::new(w, h, 4);
            for i in 0..w * h {
                let wt = 1.0 - alpha.data[i];
                for c in 0..3 {
                    weighted.data[i * 4 + c] = frame.data[i * 3 + c] * wt;
                }
                weighted.data[i * 4 + 3] = wt;
            }
            let b = gaussian_blur(&weighted, sigma);
            // Where no background was visible nearby at all, fall back to a wider view.
            let wide = gaussian_blur(&weighted, sigma * 4.0);
            for i in 0..w * h {
                let (src, wt) = if b.data[i * 4 + 3] > 1e-3 { (&b, b.data[i * 4 + 3]) } else { (&wide, wide.data[i * 4 + 3].max(1e-6)) };
                for c in 0..3 {
                    out.data[i * 3 + c] = (src.data[i * 4 + c] / wt).clamp(0.0, 1.0);
                }
            }
        }
        Background::Image(bytes) => {
            let img = image::load_from_memory(bytes)
                .map_err(|e| Error::InvalidOptions(format!("background image cannot be decoded: {e}")))?
                .to_rgb8();
            let (iw, ih) = (img.width() as f64, img.height() as f64);
            if iw < 1.0 || ih < 1.0 || iw * ih > 100e6 {
                return Err(Error::InvalidOptions("background image must be between 1 and 100 megapixels".into()));
            }
            // Cover the frame, centred.
            let s = (w as f64 / iw).max(h as f64 / ih);
            let (cw, ch) = (w as f64 / s, h as f64 / s);
            let src = Image::from_buf(iw as usize, ih as usize, 3, crate::privacy::secure_buffer::SecureBuf::from_vec(img.into_raw()));
            let r = resize_u8(&src, Some(((iw - cw) / 2.0, (ih - ch) / 2.0, cw, ch)), w, h);
            out = r.to_f32();
        }
    }
    Ok(Some(out))
}

fn smoothstep(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// `alpha * fg + (1 - alpha) * bg`; with no background, an RGBA image with alpha as 4th channel.
pub fn composite(fg: &Image<f32>, alpha: &Plane, bg: Option<&Image<f32>>) -> Image<f32> {
    let (w, h) = (fg.width, fg.height);
    match bg {
        Some(bg) => {
            let mut out = Image::<f32>::new(w, h, 3);
            for i in 0..w * h {
                let a = alpha.data[i].clamp(0.0, 1.0);
                for c in 0..3 {
                    out.data[i * 3 + c] = a * fg.data[i * 3 + c] + (1.0 - a) * bg.data[i * 3 + c];
                }
            }
            out
        }
        None => {
            let mut out = Image::<f32>::new(w, h, 4);
            for i in 0..w * h {
                out.data[i * 4..i * 4 + 3].copy_from_slice(&fg.data[i * 3..i * 3 + 3]);
                out.data[i * 4 + 3] = alpha.data[i].clamp(0.0, 1.0);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize) -> (Image<f32>, Plane) {
        let mut f = Image::<f32>::new(w, h, 3);
        let mut a = Plane::new(w, h, 1);
        for y in 0..h {
            for x in 0..w {
                let inside = (x as f32 - w as f32 / 2.0).abs() < w as f32 / 6.0 && y > h / 4;
                a.data[y * w + x] = if inside { 1.0 } else { 0.0 };
                let c = if inside { [1.0, 0.0, 0.0] } else { [0.0, 0.0, 1.0] };
                f.data[(y * w + x) * 3..][..3].copy_from_slice(&c);
            }
        }
        (f, a)
    }

    #[test]
    fn solid_and_composite() {
        let (f, a) = frame(60, 80);
        let bg = render(&Background::Solid(Rgb(10, 20, 30)), &f, &a).unwrap().unwrap();
        let out = composite(&f, &a, Some(&bg)).to_u8();
        assert_eq!(out.px(1, 1), &[10, 20, 30]);
        assert_eq!(out.px(30, 70), &[255, 0, 0]);
    }

    #[test]
    fn gradient_is_monotone() {
        let (f, a) = frame(10, 50);
        let bg = render(&Background::Gradient(Rgb(255, 255, 255), Rgb(0, 0, 0)), &f, &a).unwrap().unwrap();
        let col: Vec<f32> = (0..50).map(|y| bg.data[(y * 10) * 3]).collect();
        assert!(col.windows(2).all(|p| p[1] <= p[0]));
        assert_eq!((col[0], col[49]), (1.0, 0.0));
    }

    #[test]
    fn studio_light_is_centred() {
        let (f, a) = frame(100, 120);
        let bg = render(&Background::Studio(Rgb(128, 128, 128)), &f, &a).unwrap().unwrap();
        let at = |x: usize, y: usize| bg.data[(y * 100 + x) * 3];
        assert!(at(50, 42) > at(0, 0) + 0.1);
        assert!(at(50, 42) > at(99, 119) + 0.1);
    }

    #[test]
    fn blurred_original_keeps_the_person_out() {
        let (f, a) = frame(90, 120);
        let bg = render(&Background::BlurredOriginal, &f, &a).unwrap().unwrap();
        // Behind the person, the blurred surroundings are blue, not red.
        let o = (80 * 90 + 45) * 3;
        assert!(bg.data[o] < 0.05 && bg.data[o + 2] > 0.95, "{:?}", &bg.data[o..o + 3]);
    }

    #[test]
    fn transparent_gives_rgba_and_bad_image_is_typed() {
        let (f, a) = frame(20, 20);
        assert!(render(&Background::Transparent, &f, &a).unwrap().is_none());
        let out = composite(&f, &a, None);
        assert_eq!(out.channels, 4);
        assert_eq!(out.data[(19 * 20 + 10) * 4 + 3], 1.0);
        assert_eq!(out.data[3], 0.0);
        let e = render(&Background::Image(b"nope".to_vec()), &f, &a).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidOptions);
    }

    #[test]
    fn custom_image_covers_the_frame() {
        let img = image::RgbImage::from_fn(40, 10, |x, _| if x < 20 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 255, 0]) });
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let (f, a) = frame(30, 30);
        let bg = render(&Background::Image(png), &f, &a).unwrap().unwrap().to_u8();
        assert_eq!(bg.px(2, 15)[0], 255);
        assert_eq!(bg.px(27, 15)[1], 255);
    }
}
