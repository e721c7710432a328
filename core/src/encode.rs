//! Encoding in memory: JPEG / PNG / WebP with pixel density and sRGB only, optional size cap.
//!
//! What each format carries, and nothing else (no EXIF, XMP, text, comments or timestamps):
//! * JPEG (libjpeg-turbo, baseline, 4:2:0): JFIF APP0 with the density in dots per inch, the
//!   sRGB ICC profile in APP2.
//! * PNG (`png` crate, 8-bit RGB or RGBA): pHYs in pixels per metre, an sRGB chunk (perceptual);
//!   chunks are exactly IHDR, pHYs, sRGB, IDAT..., IEND (checked by the tests).
//! * WebP (`image`'s encoder, lossless VP8L only): VP8X + the sRGB ICC profile. WebP has no
//!   density field outside EXIF/XMP, so no dpi is written.
//!
//! The sRGB profile is `data/srgb.icc` (lcms2's built-in sRGB exported by Pillow; see
//! `data/README.md`). All output goes through a writer that wipes every buffer it outgrows, and
//! is returned as a [`SecureBuf`].

use std::io::{self, Write};

use image::{ExtendedColorType, ImageEncoder};

use crate::error::{Error, Result};
use crate::options::OutputFormat;
use crate::privacy::secure_buffer::SecureBuf;
use crate::raster::Image;

/// The sRGB ICC profile embedded in JPEG and WebP output (588 bytes, ICC v4, lcms2 "sRGB built-in").
pub const SRGB_ICC: &[u8] = include_bytes!("../data/srgb.icc");

/// Lowest JPEG quality tried when fitting `max_kb`.
pub const MIN_JPEG_QUALITY: u8 = 10;

/// Quality reported for the lossless formats (PNG, WebP).
const LOSSLESS_QUALITY: u8 = 100;

/// Encodes an RGB8 (3 channels) or RGBA8 (4 channels) image. Writes the dpi (JFIF density / PNG
/// pHYs) and sRGB (ICC profile for JPEG and WebP, sRGB chunk for PNG) and nothing else.
/// With `max_kb`, JPEG/WebP quality is lowered (binary search) until the output fits;
/// Error::Encode when even the lowest quality does not fit. Returns the bytes and the quality used.
///
/// Details: JPEG has no alpha, so RGBA is composited over white for JPEG. WebP is lossless here
/// (the `image` crate has no lossy WebP encoder), so like PNG it cannot be shrunk to fit
/// `max_kb`: when it does not fit the error suggests JPEG. The quality returned for PNG and WebP
/// is 100 (lossless). `dpi == 0` writes no density (JFIF aspect ratio 1:1, no pHYs).
pub fn encode(img: &Image<u8>, format: OutputFormat, quality: u8, dpi: u32, max_kb: Option<u32>) -> Result<(SecureBuf<u8>, u8)> {
    if !(1..=100).contains(&quality) {
        return Err(Error::InvalidOptions(format!("quality must be 1..=100, got {quality}")));
    }
    if img.channels != 3 && img.channels != 4 {
        return Err(Error::Internal(format!("encode expects 3 or 4 channels, got {}", img.channels)));
    }
    if img.data.len() != img.width * img.height * img.channels {
        return Err(Error::Internal(format!(
            "image buffer holds {} bytes, {}x{}x{} needs {}",
            img.data.len(),
            img.width,
            img.height,
            img.channels,
            img.width * img.height * img.channels
        )));
    }
    if img.width == 0 || img.height == 0 {
        return Err(Error::Encode(format!("cannot encode an empty image ({}x{})", img.width, img.height)));
    }
    let cap = max_kb.map(|kb| kb as u64 * 1024);
    let fits = |b: &SecureBuf<u8>| cap.is_none_or(|c| b.len() as u64 <= c);
    let kib = |n: usize| n.div_ceil(1024);

    match format {
        OutputFormat::Jpeg => {
            // JPEG has no alpha channel: flatten once, then encode as often as needed.
            let flat;
            let rgb: &[u8] = if img.channels == 4 {
                flat = rgba_over_white(&img.data);
                &flat
            } else {
                &img.data
            };
            let enc = |q: u8| encode_jpeg(rgb, img.width, img.height, q, dpi);
            let first = enc(quality)?;
            if fits(&first) {
                return Ok((first, quality));
            }
            let cap = cap.unwrap_or(u64::MAX);
            let first_len = first.len();
            drop(first);
            let mut best = if quality > MIN_JPEG_QUALITY {
                let low = enc(MIN_JPEG_QUALITY)?;
                if fits(&low) {
                    Some((low, MIN_JPEG_QUALITY))
                } else {
                    return Err(too_big_jpeg(kib(low.len()), cap));
                }
            } else {
                return Err(too_big_jpeg(kib(first_len), cap));
            };
            // Largest quality in [MIN, quality) that fits; size grows with quality.
            let (mut lo, mut hi) = (MIN_JPEG_QUALITY, quality - 1);
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                let b = enc(mid)?;
                if fits(&b) {
                    lo = mid;
                    best = Some((b, mid));
                } else {
                    hi = mid - 1;
                }
            }
            best.ok_or_else(|| Error::Internal("quality search lost its result".into()))
        }
        OutputFormat::Png | OutputFormat::Webp => {
            let out = if format == OutputFormat::Png { encode_png(img, dpi)? } else { encode_webp(img)? };
            if fits(&out) {
                Ok((out, LOSSLESS_QUALITY))
            } else {
                let name = if format == OutputFormat::Png { "PNG" } else { "WebP (lossless)" };
                Err(Error::Encode(format!(
                    "the {name} output is {} KiB, over the {} KiB limit, and a lossless format cannot be made smaller: \
                     use JPEG output for a size limit",
                    kib(out.len()),
                    cap.unwrap_or(0) / 1024
                )))
            }
        }
        OutputFormat::Pixels => Err(Error::Internal("pixels output is returned as is, not encoded".into())),
    }
}

fn too_big_jpeg(kib: usize, cap: u64) -> Error {
    Error::Encode(format!(
        "even at the lowest JPEG quality ({MIN_JPEG_QUALITY}) the output is {kib} KiB, over the {} KiB limit: \
         choose a smaller output size or a larger limit",
        cap / 1024
    ))
}

fn rgba_over_white(rgba: &[u8]) -> SecureBuf<u8> {
    let mut out = SecureBuf::<u8>::zeroed(rgba.len() / 4 * 3);
    for (d, s) in out.chunks_exact_mut(3).zip(rgba.chunks_exact(4)) {
        let a = s[3] as u32;
        for c in 0..3 {
            d[c] = ((s[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

fn encode_jpeg(rgb: &[u8], w: usize, h: usize, quality: u8, dpi: u32) -> Result<SecureBuf<u8>> {
    if w > u16::MAX as usize || h > u16::MAX as usize {
        return Err(Error::Encode(format!("{w}x{h} is too large for JPEG (at most 65535 per side)")));
    }
    if rgb.len() != w * h * 3 {
        return Err(Error::Internal(format!("JPEG encoder got {} bytes for {w}x{h} RGB", rgb.len())));
    }
    // libjpeg-turbo (linked for decoding already): 3x faster than jpeg-encoder here (2.9 -> 0.9
    // ms at 531x709). Its working memory goes through jpeg_mem.c, which wipes every block; the
    // output goes only into our own buffer (NOREALLOC: libjpeg-turbo would otherwise grow it by
    // malloc/free, leaving copies unwiped). A q92 headshot takes ~w*h/4 bytes, so w*h/2 is tried
    // first, and the worst-case size only if that was not enough.
    let mut tj = TurboCompressor::new()?;
    tj.set(raw::TJPARAM_TJPARAM_QUALITY, quality as i32)?;
    tj.set(raw::TJPARAM_TJPARAM_SUBSAMP, raw::TJSAMP_TJSAMP_420)?; // 4:2:0 like camera JPEGs, box-averaged
    tj.set(raw::TJPARAM_TJPARAM_NOREALLOC, 1)?;
    let (unit, density) = if dpi > 0 { (1, dpi.min(u16::MAX as u32) as i32) } else { (0, 1) };
    tj.set(raw::TJPARAM_TJPARAM_DENSITYUNITS, unit)?;
    tj.set(raw::TJPARAM_TJPARAM_XDENSITY, density)?;
    tj.set(raw::TJPARAM_TJPARAM_YDENSITY, density)?;
    // Copied by libjpeg-turbo; the profile is public data.
    let rc = unsafe { raw::tj3SetICCProfile(tj.0, SRGB_ICC.as_ptr().cast_mut(), SRGB_ICC.len() as raw::size_t) };
    tj.check(rc)?;
    let worst = unsafe { raw::tj3JPEGBufSize(w as i32, h as i32, raw::TJSAMP_TJSAMP_420) };
    if worst == 0 {
        return Err(tj.error());
    }
    let worst = worst as usize + SRGB_ICC.len();
    let mut last = None;
    for cap in [(w * h / 2 + SRGB_ICC.len() + 4096).min(worst), worst] {
        let mut buf = SecureBuf::<u8>::zeroed(cap);
        let (mut ptr, mut size) = (buf.as_mut_ptr(), cap as raw::size_t);
        let rc = unsafe { raw::tj3Compress8(tj.0, rgb.as_ptr(), w as i32, 0, h as i32, raw::TJPF_TJPF_RGB, &mut ptr, &mut size) };
        if rc == 0 && std::ptr::eq(ptr, buf.as_ptr()) && size as usize <= cap {
            return Ok(SecureBuf::from_slice(&buf[..size as usize]));
        }
        last = Some(tj.error());
    }
    Err(last.unwrap_or_else(|| Error::Encode("JPEG: libjpeg-turbo failed".into())))
}

use turbojpeg::raw;

/// A TurboJPEG compressor handle, destroyed on drop.
struct TurboCompressor(raw::tjhandle);

impl TurboCompressor {
    fn new() -> Result<Self> {
        let h = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_COMPRESS as i32) };
        if h.is_null() {
            return Err(Error::Encode("JPEG: libjpeg-turbo could not start a compressor".into()));
        }
        Ok(TurboCompressor(h))
    }

    fn set(&mut self, param: raw::TJPARAM, value: i32) -> Result<()> {
        let rc = unsafe { raw::tj3Set(self.0, param as i32, value) };
        self.check(rc)
    }

    fn check(&self, rc: i32) -> Result<()> {
        if rc == 0 { Ok(()) } else { Err(self.error()) }
    }

    fn error(&self) -> Error {
        let msg = unsafe { std::ffi::CStr::from_ptr(raw::tj3GetErrorStr(self.0)) }.to_string_lossy().into_owned();
        Error::Encode(format!("JPEG: {msg}"))
    }
}

impl Drop for TurboCompressor {
    fn drop(&mut self) {
        unsafe { raw::tj3Destroy(self.0) };
    }
}

/// Pixels per metre for `dpi`, rounded (300 dpi -> 11811).
pub(crate) fn dpi_to_ppm(dpi: u32) -> u32 {
    ((dpi as u64 * 10_000 + 127) / 254).min(u32::MAX as u64) as u32
}

fn encode_png(img: &Image<u8>, dpi: u32) -> Result<SecureBuf<u8>> {
    let png_err = |e: png::EncodingError| Error::Encode(format!("PNG: {e}"));
    let raw = img.width * img.height * img.channels;
    let mut out = SecureWriter::with_capacity(raw + raw / 64 + img.height + 4096);
    {
        let mut enc = png::Encoder::new(&mut out, img.width as u32, img.height as u32);
        enc.set_color(if img.channels == 4 { png::ColorType::Rgba } else { png::ColorType::Rgb });
        enc.set_depth(png::BitDepth::Eight);
        enc.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
        if dpi > 0 {
            let ppm = dpi_to_ppm(dpi);
            enc.set_pixel_dims(Some(png::PixelDimensions { xppu: ppm, yppu: ppm, unit: png::Unit::Meter }));
        }
        let mut w = enc.write_header().map_err(png_err)?;
        w.write_image_data(&img.data).map_err(png_err)?;
        w.finish().map_err(png_err)?;
    }
    Ok(out.into_secure())
}

fn encode_webp(img: &Image<u8>) -> Result<SecureBuf<u8>> {
    if img.width > 16384 || img.height > 16384 {
        return Err(Error::Encode(format!("{}x{} is too large for WebP (at most 16384 per side)", img.width, img.height)));
    }
    let raw = img.width * img.height * img.channels;
    let mut out = SecureWriter::with_capacity(raw + 4096);
    {
        let mut enc = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
        enc.set_icc_profile(SRGB_ICC.to_vec()).map_err(|e| Error::Encode(e.to_string()))?;
        let ct = if img.channels == 4 { ExtendedColorType::Rgba8 } else { ExtendedColorType::Rgb8 };
        enc.write_image(&img.data, img.width as u32, img.height as u32, ct).map_err(|e| Error::Encode(format!("WebP: {e}")))?;
    }
    Ok(out.into_secure())
}

/// A `Write` sink that never leaves a copy behind: when it outgrows its buffer it copies into a
/// larger one and wipes the old (a plain `Vec` would free it unwiped); on drop it wipes itself.
struct SecureWriter {
    v: Vec<u8>,
}

impl SecureWriter {
    fn with_capacity(n: usize) -> Self {
        SecureWriter { v: Vec::with_capacity(n) }
    }

    fn into_secure(mut self) -> SecureBuf<u8> {
        SecureBuf::from_vec(std::mem::take(&mut self.v))
    }
}

impl Write for SecureWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let need = self.v.len() + data.len();
        if need > self.v.capacity() {
            let mut bigger = Vec::with_capacity(need.max(self.v.capacity() * 2));
            bigger.extend_from_slice(&self.v);
            // Dropping through SecureBuf wipes the old allocation and counts it for the receipt.
            drop(SecureBuf::from_vec(std::mem::replace(&mut self.v, bigger)));
        }
        self.v.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SecureWriter {
    fn drop(&mut self) {
        drop(SecureBuf::from_vec(std::mem::take(&mut self.v)));
    }
}

#[cfg(test)]
mod tests {
    use crate::test_data::*;
    use super::*;
    use crate::decode::{decode, probe, Limits};
    use crate::error::ErrorKind;
    use crate::metadata::{inventory, MetadataKind};


    fn decoded(bytes: &[u8]) -> Image<u8> {
        let p = probe(bytes, &Limits::default()).unwrap();
        decode(bytes, &p, 1.0).unwrap().image
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// (marker, payload) of every JPEG segment before the first scan.
    fn jpeg_markers(b: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut v = Vec::new();
        crate::metadata::jpeg_segments(b, |m, p| {
            v.push((m, p.to_vec()));
            m != 0xDA
        });
        v
    }

    fn png_chunk_names(b: &[u8]) -> Vec<String> {
        let mut v = Vec::new();
        crate::metadata::png_chunks(b, |t, _| {
            v.push(String::from_utf8_lossy(t).into_owned());
            true
        });
        v
    }

    fn webp_chunk_names(b: &[u8]) -> Vec<String> {
        let mut v = Vec::new();
        crate::metadata::webp_chunks(b, |t, _| {
            v.push(String::from_utf8_lossy(t).into_owned());
            true
        });
        v
    }

    /// Nothing from the input's metadata survives: byte-level and structural checks.
    fn assert_clean(out: &[u8]) {
        for needle in [&b"Exif"[..], b"http://ns.adobe.com", b"xmpmeta", b"Photoshop", b"8BIM", b"Jane", b"SN-0123", b"2024:", b"comment", b"MAKERNOTE", b"ExampleCam"] {
            assert!(!contains(out, needle), "output contains {:?}", String::from_utf8_lossy(needle));
        }
        let inv = inventory(out);
        assert!(inv.iter().all(|k| *k == MetadataKind::IccProfile), "{inv:?}");
    }

    #[test]
    fn jpeg_carries_only_density_and_icc() {
        for input in [META_JPG, META_PNG, META_WEBP, GRACE] {
            let img = decoded(input);
            let (out, q) = encode(&img, OutputFormat::Jpeg, 90, 300, None).unwrap();
            assert_eq!(q, 90);
            assert_clean(&out);
            // No COM marker anywhere (0xFF 0xFE cannot occur inside entropy-coded data).
            assert!(!contains(&out, &[0xFF, 0xFE]));
            let markers = jpeg_markers(&out);
            let app: Vec<u8> = markers.iter().map(|(m, _)| *m).filter(|m| (0xE0..=0xEF).contains(m) || *m == 0xFE).collect();
            assert_eq!(app, vec![0xE0, 0xE2], "only JFIF + ICC");
            let (_, jfif) = &markers[0];
            assert!(jfif.starts_with(b"JFIF\0"));
            assert_eq!(jfif[7], 1, "density unit: inches");
            assert_eq!(u16::from_be_bytes([jfif[8], jfif[9]]), 300);
            assert_eq!(u16::from_be_bytes([jfif[10], jfif[11]]), 300);
            // The ICC profile reads back whole with jpeg-decoder.
            let mut d = jpeg_decoder::Decoder::new(&out[..]);
            let px = d.decode().unwrap();
            assert_eq!(px.len(), img.width * img.height * 3);
            assert_eq!(d.icc_profile().as_deref(), Some(SRGB_ICC));
            assert!(d.exif_data().is_none() && d.xmp_data().is_none());
        }
    }

    #[test]
    fn png_carries_only_phys_and_srgb() {
        for input in [META_PNG, META_JPG, ASTRONAUT] {
            let img = decoded(input);
            let (out, q) = encode(&img, OutputFormat::Png, 90, 300, None).unwrap();
            assert_eq!(q, 100);
            assert_clean(&out);
            assert_eq!(png_chunk_names(&out).iter().filter(|c| *c != "IDAT").collect::<Vec<_>>(), ["IHDR", "pHYs", "sRGB", "IEND"]);
            let dec = png::Decoder::new(std::io::Cursor::new(&out[..]));
            let mut r = dec.read_info().unwrap();
            let info = r.info();
            let dims = info.pixel_dims.unwrap();
            assert_eq!((dims.xppu, dims.yppu, dims.unit), (11811, 11811, png::Unit::Meter));
            assert_eq!((dims.xppu as f64 * 0.0254).round(), 300.0);
            assert_eq!(info.srgb, Some(png::SrgbRenderingIntent::Perceptual));
            assert!(info.uncompressed_latin1_text.is_empty() && info.utf8_text.is_empty() && info.exif_metadata.is_none());
            let mut buf = vec![0; r.output_buffer_size().unwrap()];
            r.next_frame(&mut buf).unwrap();
            assert_eq!(&buf[..], &img.data[..], "PNG is lossless");
        }
    }

    #[test]
    fn webp_carries_only_icc() {
        let img = decoded(META_WEBP);
        let (out, q) = encode(&img, OutputFormat::Webp, 80, 300, None).unwrap();
        assert_eq!(q, 100);
        assert_clean(&out);
        assert_eq!(webp_chunk_names(&out), ["VP8X", "ICCP", "VP8L"]);
        let back = decoded(&out);
        assert_eq!(&back.data[..], &img.data[..], "lossless");
    }

    #[test]
    fn dpi_round_trips() {
        let img = decoded(META_JPG);
        for dpi in [72u32, 96, 150, 300, 600, 1200] {
            let (j, _) = encode(&img, OutputFormat::Jpeg, 85, dpi, None).unwrap();
            let jfif = &jpeg_markers(&j)[0].1;
            assert_eq!((jfif[7], u16::from_be_bytes([jfif[8], jfif[9]]) as u32), (1, dpi));
            let (p, _) = encode(&img, OutputFormat::Png, 85, dpi, None).unwrap();
            let r = png::Decoder::new(std::io::Cursor::new(&p[..])).read_info().unwrap();
            let d = r.info().pixel_dims.unwrap();
            assert_eq!((d.xppu as f64 * 0.0254).round() as u32, dpi);
        }
    }

    #[test]
    fn jpeg_of_noise_outgrows_the_first_buffer_and_still_round_trips() {
        // Noise at q100 takes more than the w*h/2 bytes tried first: the worst-case retry.
        let (w, h) = (256, 256);
        let raw = SecureBuf::from_vec(noise(7, w * h * 3));
        let img = Image::from_buf(w, h, 3, raw);
        let blocks = crate::privacy::jpeg_mem::blocks_allocated();
        let (out, q) = encode(&img, OutputFormat::Jpeg, 100, 300, None).unwrap();
        assert_eq!(q, 100);
        assert!(out.len() > w * h / 2 + SRGB_ICC.len() + 4096, "{} bytes", out.len());
        // libjpeg-turbo's working memory went through the wiping allocator.
        assert!(crate::privacy::jpeg_mem::blocks_allocated() > blocks);
        assert_clean(&out);
        let back = decoded(&out);
        assert_eq!((back.width, back.height), (w, h));
        // Luma survives q100 nearly intact (chroma is 4:2:0, so compare the mean only).
        let mean = |d: &[u8]| d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64;
        assert!((mean(&back.data) - mean(&img.data)).abs() < 2.0);
    }

    #[test]
    fn rgba_input() {
        let mut img = Image::<u8>::new(4, 2, 4);
        for p in img.data.chunks_exact_mut(4) {
            p.copy_from_slice(&[255, 0, 0, 0]); // fully transparent red
        }
        let (png_out, _) = encode(&img, OutputFormat::Png, 90, 300, None).unwrap();
        let r = png::Decoder::new(std::io::Cursor::new(&png_out[..])).read_info().unwrap();
        assert_eq!(r.info().color_type, png::ColorType::Rgba);
        let (webp_out, _) = encode(&img, OutputFormat::Webp, 90, 300, None).unwrap();
        assert!(image::load_from_memory(&webp_out).unwrap().color().has_alpha());
        // JPEG flattens over white.
        let (jpg, _) = encode(&img, OutputFormat::Jpeg, 95, 300, None).unwrap();
        let px = jpeg_decoder::Decoder::new(&jpg[..]).decode().unwrap();
        assert!(px.iter().all(|&v| v >= 250), "{px:?}");
    }

    #[test]
    fn max_kb_fits_jpeg_by_lowering_quality() {
        let img = decoded(GRACE);
        let (full, _) = encode(&img, OutputFormat::Jpeg, 95, 300, None).unwrap();
        let full_kb = full.len() / 1024;
        for cap in [full_kb as u32 + 1, 30, 18] {
            let (out, q) = encode(&img, OutputFormat::Jpeg, 95, 300, Some(cap)).unwrap();
            assert!(out.len() as u64 <= cap as u64 * 1024, "{} > {cap} KiB", out.len());
            assert!((MIN_JPEG_QUALITY..=95).contains(&q));
            if q < 95 {
                // The next quality up would not have fit (the search found the largest).
                let (next, _) = encode(&img, OutputFormat::Jpeg, q + 1, 300, None).unwrap();
                assert!(next.len() as u64 > cap as u64 * 1024, "quality {} would also fit {cap} KiB", q + 1);
            }
            assert_clean(&out);
        }
        let e = encode(&img, OutputFormat::Jpeg, 95, 300, Some(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Encode, "{e}");
        let e = encode(&img, OutputFormat::Jpeg, 5, 300, Some(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Encode, "{e}");
    }

    #[test]
    fn max_kb_for_lossless_formats_suggests_jpeg() {
        let img = decoded(GRACE);
        for f in [OutputFormat::Png, OutputFormat::Webp] {
            let e = encode(&img, f, 90, 300, Some(20)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Encode);
            assert!(e.to_string().contains("JPEG"), "{e}");
            let (out, _) = encode(&img, f, 90, 300, Some(4096)).unwrap();
            assert!(out.len() <= 4096 * 1024);
        }
    }

    #[test]
    fn bad_requests() {
        let img = Image::<u8>::new(4, 4, 3);
        assert_eq!(encode(&img, OutputFormat::Pixels, 90, 300, None).unwrap_err().kind(), ErrorKind::Internal);
        assert_eq!(encode(&img, OutputFormat::Jpeg, 0, 300, None).unwrap_err().kind(), ErrorKind::InvalidOptions);
        assert_eq!(encode(&Image::<u8>::new(4, 4, 2), OutputFormat::Png, 90, 300, None).unwrap_err().kind(), ErrorKind::Internal);
        assert_eq!(encode(&Image::<u8>::new(0, 4, 3), OutputFormat::Png, 90, 300, None).unwrap_err().kind(), ErrorKind::Encode);
        assert_eq!(encode(&Image::<u8>::new(70000, 1, 3), OutputFormat::Jpeg, 90, 300, None).unwrap_err().kind(), ErrorKind::Encode);
        // dpi 0: no density.
        let (j, _) = encode(&img, OutputFormat::Jpeg, 90, 0, None).unwrap();
        assert_eq!(jpeg_markers(&j)[0].1[7], 0);
        let (p, _) = encode(&img, OutputFormat::Png, 90, 0, None).unwrap();
        assert!(!png_chunk_names(&p).contains(&"pHYs".to_string()));
    }

    #[test]
    fn srgb_profile_is_sane() {
        assert_eq!(&SRGB_ICC[36..40], b"acsp");
        assert_eq!(u32::from_be_bytes([SRGB_ICC[0], SRGB_ICC[1], SRGB_ICC[2], SRGB_ICC[3]]) as usize, SRGB_ICC.len());
        assert_eq!(&SRGB_ICC[16..20], b"RGB ");
    }

    #[test]
    fn secure_writer_grows_and_wipes() {
        crate::privacy::secure_buffer::take_zeroised_bytes();
        let mut w = SecureWriter::with_capacity(4);
        w.write_all(b"abcdefghij").unwrap();
        w.write_all(b"klmnop").unwrap();
        let wiped = crate::privacy::secure_buffer::take_zeroised_bytes();
        assert!(wiped >= 4, "outgrown buffers are wiped ({wiped})");
        assert_eq!(&w.into_secure()[..], b"abcdefghijklmnop");
    }
}
