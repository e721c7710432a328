//! Decoding from bytes or pixel buffers: limits before allocation, EXIF orientation, DCT-domain
//! downscaled JPEG decoding, metadata inventoried (never carried).
//!
//! * [`probe`] reads only headers (its own parsers for JPEG SOF, PNG IHDR, GIF screen descriptor
//!   and WebP VP8/VP8L/VP8X) and enforces [`Limits`] before anything the size of the picture is
//!   allocated.
//! * [`decode`] decodes 8-bit grey and YCbCr JPEG with libjpeg-turbo (`turbojpeg`, bundled,
//!   static, SIMD) and the rest (CMYK / YCCK, lossless 16-bit, anything libjpeg-turbo refuses)
//!   with `jpeg-decoder`, both DCT-domain scaled, and PNG / GIF / WebP with `image` (first frame
//!   of an animation), straight into a [`SecureBuf`]; converts to RGB8 in place where the output
//!   is not larger than the input, then applies the EXIF orientation. Every call into a decoder
//!   runs under `catch_unwind`: a decoder panic becomes `Error::InvalidInput("decoder panicked")`.
//!   libjpeg-turbo is C: its errors and warnings come back as return codes, and a memory bug in
//!   it would not be caught but is confined by the worker's sandbox (it is fuzzed continuously
//!   by OSS-Fuzz; our corpus and fuzz targets go through it too).
//! * Alpha is composited over mid-grey (0.5, i.e. 128 in 8 bit) everywhere.
//!
//! The decoders' working memory is wiped too: the Rust decoders' by `WipeOnFree` (where the
//! host installs it), libjpeg-turbo's by its own allocation functions (`privacy/jpeg_mem.c`).

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, Result};
use crate::metadata::{self, Container, MetadataKind};
use crate::options::{PixelFormat, PixelsRef};
use crate::privacy::secure_buffer::SecureBuf;
use crate::raster::{Image, Rgb8};

/// Safety limits for untrusted input and for what a request may ask to produce. Each is checked
/// before the work it guards: bytes and pixel counts before anything is copied or decoded, the
/// output size before a request is queued.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted input width x height (like sharp's `limitInputPixels`: 0x3FFF * 0x3FFF,
    /// about 268 MP).
    pub max_pixels: u64,
    /// Largest accepted encoded input (256 MiB).
    pub max_bytes: u64,
    /// Largest output width x height a preset may ask for (25 MP, e.g. 5000x5000; the built-in
    /// presets are all under 1 MP). A custom preset beyond it is refused with `too_large`.
    pub max_output_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pixels: 0x3FFF * 0x3FFF, max_bytes: 256 << 20, max_output_pixels: 25_000_000 }
    }
}

/// What the header says, without decoding pixels.
#[derive(Clone, Debug)]
pub struct Probe {
    pub format: &'static str,
    /// Size after EXIF orientation is applied.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation 1..=8 (1 when absent).
    pub orientation: u8,
    pub metadata: Vec<MetadataKind>,
}

/// An upright RGB8 picture of the photo, possibly at reduced scale.
#[derive(Debug)]
pub struct Decoded {
    pub image: Rgb8,
    /// Full-resolution size after orientation.
    pub full_width: u32,
    pub full_height: u32,
    /// `image.width / full_width` (1.0 when decoded at full size).
    pub scale: f32,
}

const SUPPORTED: &str = "supported formats are JPEG, PNG, WebP and GIF";

/// Reads format, dimensions, orientation and the metadata inventory; enforces `limits` before any
/// pixel buffer is allocated. Errors: InvalidInput / UnsupportedFormat / TooLarge.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<Probe> {
    if bytes.is_empty() {
        return Err(Error::InvalidInput("the input is empty (0 bytes)".into()));
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(Error::TooLarge { what: "encoded input (bytes)", actual: bytes.len() as u64, limit: limits.max_bytes });
    }
    let container = sniff(bytes)?;
    let (w, h) = header_dimensions(container, bytes)?;
    if w == 0 || h == 0 {
        return Err(Error::InvalidInput(format!("the {} header declares an empty image ({w}x{h})", container.name())));
    }
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(Error::TooLarge { what: "image (pixels, width x height)", actual: pixels, limit: limits.max_pixels });
    }
    let orientation = metadata::orientation(bytes);
    let (width, height) = if orientation >= 5 { (h, w) } else { (w, h) };
    Ok(Probe { format: container.name(), width, height, orientation, metadata: metadata::inventory(bytes) })
}

/// Decodes to upright RGB8. For JPEG, uses the smallest DCT scale (1/8, 1/4, 1/2, 1) whose result
/// is at least `min_scale` of full resolution; other formats decode at full size (scale 1).
/// Grayscale, alpha (composited over mid-grey), 16-bit, palette and CMYK/YCCK are converted.
///
/// The scale is the one `jpeg_decoder::Decoder::scale` picks (libjpeg-turbo is given the same)
/// for a requested size of `ceil(full * min_scale)`: the smallest of 1/8, 1/4, 1/2, 1 whose
/// output (rounded up) reaches the request in at least one axis (e.g. 512x600 at 0.25 gives
/// 128x150). `min_scale` outside (0, 1] or NaN means full size. Progressive and baseline JPEGs
/// both scale; lossless JPEGs do not.
pub fn decode(bytes: &[u8], probe: &Probe, min_scale: f32) -> Result<Decoded> {
    let container = sniff(bytes)?;
    let orientation = if (1..=8).contains(&probe.orientation) { probe.orientation } else { 1 };
    // The stored (pre-orientation) size the decoder must find.
    let (sw, sh) = if orientation >= 5 { (probe.height, probe.width) } else { (probe.width, probe.height) };
    if sw == 0 || sh == 0 {
        return Err(Error::InvalidInput("the probe describes an empty image".into()));
    }
    let stored = catch_unwind(AssertUnwindSafe(|| match container {
        Container::Jpeg => decode_jpeg(bytes, sw, sh, min_scale),
        _ => decode_with_image(bytes, container, sw, sh),
    }))
    .map_err(|_| Error::InvalidInput("decoder panicked".into()))??;
    let image = apply_orientation(stored, orientation);
    let scale = image.width as f32 / probe.width as f32;
    Ok(Decoded { image, full_width: probe.width, full_height: probe.height, scale })
}

/// Converts a caller's pixel buffer (any [`crate::options::PixelFormat`], explicit stride) to RGB8,
/// validating sizes and limits. Alpha is composited over mid-grey.
pub fn from_pixels(p: &PixelsRef<'_>, limits: &Limits) -> Result<Decoded> {
    p.required_len()?;
    let (w, h) = (p.width as usize, p.height as usize);
    let row = w * p.format.bytes_per_pixel();
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(Error::TooLarge { what: "image (pixels, width x height)", actual: pixels, limit: limits.max_pixels });
    }
    let mut out = SecureBuf::<u8>::zeroed(w * h * 3);
    let src = |y: usize| &p.data[y * p.stride..y * p.stride + row];
    match p.format {
        PixelFormat::Rgb8 => {
            for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
                dst.copy_from_slice(src(y));
            }
        }
        PixelFormat::Rgba8 => convert_rows::<4>(&src, h, &mut out, px_rgba8),
        PixelFormat::Rgb16 => convert_rows::<6>(&src, h, &mut out, px_rgb16),
        PixelFormat::Rgba16 => convert_rows::<8>(&src, h, &mut out, px_rgba16),
        PixelFormat::RgbF32 => convert_rows::<12>(&src, h, &mut out, px_rgbf32),
        PixelFormat::RgbaF32 => convert_rows::<16>(&src, h, &mut out, px_rgbaf32),
    }
    Ok(Decoded { image: Image::from_buf(w, h, 3, out), full_width: p.width, full_height: p.height, scale: 1.0 })
}

// ---------------------------------------------------------------------------------------------
// Format detection and header dimensions

fn sniff(bytes: &[u8]) -> Result<Container> {
    if let Some(c) = metadata::sniff(bytes) {
        return Ok(c);
    }
    if bytes.len() < 16 {
        let what = if metadata::is_magic_prefix(bytes) { "a truncated image header" } else { "too short to be an image" };
        return Err(Error::InvalidInput(format!("the input is only {} bytes: {what}", bytes.len())));
    }
    let b = bytes;
    let other = if b.starts_with(b"BM") {
        Some("BMP")
    } else if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        Some("TIFF (or a camera raw file)")
    } else if &b[4..8] == b"ftyp" {
        match &b[8..12] {
            b"avif" | b"avis" => Some("AVIF"),
            b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" => Some("HEIC/HEIF"),
            b"crx " => Some("Canon CR3 raw"),
            _ => Some("an ISO media (MP4/MOV/HEIF family) file"),
        }
    } else if b.starts_with(&[0xFF, 0x0A]) || b.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
        Some("JPEG XL")
    } else if b.starts_with(b"\0\0\0\x0cjP  \r\n\x87\n") || b.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        Some("JPEG 2000")
    } else if b.starts_with(b"%PDF") {
        Some("PDF")
    } else if b.starts_with(b"8BPS") {
        Some("Photoshop PSD")
    } else if b.starts_with(b"qoif") {
        Some("QOI")
    } else if b.starts_with(b"\0\0\x01\0") {
        Some("ICO")
    } else if b.starts_with(b"RIFF") {
        Some("a RIFF file that is not WebP")
    } else if b.starts_with(b"<svg") || b.starts_with(b"<?xml") {
        Some("SVG/XML")
    } else {
        None
    };
    Err(Error::UnsupportedFormat(match other {
        Some(name) => format!("{name} is not supported; {SUPPORTED} (convert the photo to JPEG or PNG first)"),
        None => format!("the data is not a recognised image; {SUPPORTED}"),
    }))
}

/// Stored (pre-orientation) width and height from the header only.
fn header_dimensions(c: Container, b: &[u8]) -> Result<(u32, u32)> {
    let le16 = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as u32);
    let le24 = |o: usize| b.get(o..o + 3).map(|s| u32::from_le_bytes([s[0], s[1], s[2], 0]));
    let truncated = |what: &str| Error::InvalidInput(format!("{what} is missing or truncated"));
    match c {
        Container::Jpeg => {
            let f = jpeg_frame(b)?;
            Ok((f.width as u32, f.height as u32))
        }
        Container::Png => {
            if b.get(12..16) != Some(b"IHDR") {
                return Err(truncated("the PNG header (IHDR)"));
            }
            let w = b.get(16..20).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            let h = b.get(20..24).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            w.zip(h).ok_or_else(|| truncated("the PNG header (IHDR)"))
        }
        Container::Gif => le16(6).zip(le16(8)).ok_or_else(|| truncated("the GIF screen descriptor")),
        Container::Webp => {
            let data = 20; // first chunk's payload
            match b.get(12..16) {
                Some(b"VP8X") => le24(data + 4)
                    .zip(le24(data + 7))
                    .map(|(w, h)| (w + 1, h + 1))
                    .ok_or_else(|| truncated("the WebP VP8X header")),
                Some(b"VP8L") => {
                    if b.get(data) != Some(&0x2F) {
                        return Err(Error::InvalidInput("bad WebP lossless (VP8L) signature".into()));
                    }
                    let bits = b
                        .get(data + 1..data + 5)
                        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
                        .ok_or_else(|| truncated("the WebP VP8L header"))?;
                    Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
                }
                Some(b"VP8 ") => {
                    if b.get(data + 3..data + 6).is_some_and(|s| s != [0x9D, 0x01, 0x2A]) {
                        return Err(Error::InvalidInput("bad WebP lossy (VP8) start code".into()));
                    }
                    let w = le16(data + 6).map(|v| v & 0x3FFF);
                    let h = le16(data + 8).map(|v| v & 0x3FFF);
                    w.zip(h).ok_or_else(|| truncated("the WebP VP8 header"))
                }
                Some(_) => Err(Error::InvalidInput("the WebP file starts with an unknown chunk".into())),
                None => Err(truncated("the WebP header")),
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct JpegFrame {
    width: u16,
    height: u16,
    precision: u8,
    lossless: bool,
    progressive: bool,
}

/// The first frame header (SOFn) before the first scan.
fn jpeg_frame(b: &[u8]) -> Result<JpegFrame> {
    let mut frame = None;
    let mut short = false;
    metadata::jpeg_segments(b, |m, p| match m {
        0xC0..=0xCF if !matches!(m, 0xC4 | 0xC8 | 0xCC) => {
            if p.len() >= 6 {
                frame = Some(JpegFrame {
                    precision: p[0],
                    height: u16::from_be_bytes([p[1], p[2]]),
                    width: u16::from_be_bytes([p[3], p[4]]),
                    lossless: matches!(m, 0xC3 | 0xC7 | 0xCB | 0xCF),
                    progressive: matches!(m, 0xC2 | 0xC6 | 0xCA | 0xCE),
                });
            } else {
                short = true;
            }
            false
        }
        0xDA => false,
        _ => true,
    });
    match frame {
        Some(f) if f.height == 0 => Err(Error::UnsupportedFormat(
            "this JPEG declares its height later in the stream (DNL marker), which is not supported".into(),
        )),
        Some(f) => Ok(f),
        None if short => Err(Error::InvalidInput("the JPEG frame header (SOF) is truncated".into())),
        None => Err(Error::InvalidInput("the JPEG has no frame header (SOF) before its image data: truncated or corrupt".into())),
    }
}

// ---------------------------------------------------------------------------------------------
// JPEG

fn jpeg_err(e: jpeg_decoder::Error) -> Error {
    match e {
        jpeg_decoder::Error::Unsupported(f) => Error::UnsupportedFormat(format!(
            "this JPEG uses a feature that is not supported ({f:?}); 12-bit and hierarchical JPEGs cannot be \
             read: re-save the photo as an ordinary 8-bit JPEG"
        )),
        jpeg_decoder::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::InvalidInput("the JPEG data ends early (truncated file)".into())
        }
        other => Error::InvalidInput(other.to_string()),
    }
}

fn decode_jpeg(bytes: &[u8], sw: u32, sh: u32, min_scale: f32) -> Result<Rgb8> {
    let frame = jpeg_frame(bytes)?;
    if (frame.width as u32, frame.height as u32) != (sw, sh) {
        return Err(Error::InvalidInput(format!(
            "the probe ({sw}x{sh}) does not match this JPEG ({}x{})",
            frame.width, frame.height
        )));
    }
    if frame.precision == 8 && !frame.lossless {
        if let Some(img) = decode_jpeg_turbo(bytes, frame, min_scale) {
            return Ok(img);
        }
    }
    decode_jpeg_rs(bytes, frame, sw, sh, min_scale)
}

/// jpeg-decoder: CMYK/YCCK, 9..16-bit lossless, and whatever libjpeg-turbo refused.
fn decode_jpeg_rs(bytes: &[u8], frame: JpegFrame, sw: u32, sh: u32, min_scale: f32) -> Result<Rgb8> {
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    // Output bytes never exceed 4 components x 2 bytes at full size.
    dec.set_max_decoding_buffer_size((sw as usize * sh as usize).saturating_mul(8));
    if let (Some((rw, rh)), false) = (jpeg_scale_request(sw, sh, min_scale), frame.lossless) {
        dec.scale(rw as u16, rh as u16).map_err(jpeg_err)?;
    }
    let data = SecureBuf::from_vec(dec.decode().map_err(jpeg_err)?);
    let info = dec.info().ok_or_else(|| Error::Internal("jpeg-decoder returned no frame info".into()))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let n = w * h;
    let comps = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::CMYK32 => 4,
    };
    let wide = if data.len() == n * comps {
        false
    } else if data.len() == n * comps * 2 {
        true // lossless JPEG with more than 8 bits: native-endian u16 samples
    } else {
        return Err(Error::InvalidInput(format!(
            "the JPEG decoder returned {} bytes for {w}x{h} with {comps} components",
            data.len()
        )));
    };
    let buf = if wide {
        // Lossless 9..16-bit: samples are 0..2^precision-1, not scaled to 16 bit.
        let max = ((1u32 << frame.precision.clamp(2, 16)) - 1) as f32;
        let to8 = move |s: &[u8]| ((u16::from_ne_bytes([s[0], s[1]]) as f32 / max).min(1.0) * 255.0 + 0.5) as u8;
        let mut out = SecureBuf::<u8>::zeroed(n * 3);
        for (d, s) in out.chunks_exact_mut(3).zip(data.chunks_exact(comps * 2)) {
            match comps {
                1 => d.fill(to8(s)),
                3 => {
                    for c in 0..3 {
                        d[c] = to8(&s[2 * c..]);
                    }
                }
                _ => {
                    let k = 255 - to8(&s[6..]) as u32;
                    for c in 0..3 {
                        d[c] = cmyk_channel(to8(&s[2 * c..]), k);
                    }
                }
            }
        }
        out
    } else {
        match comps {
            3 => data,
            1 => {
                let mut out = SecureBuf::<u8>::zeroed(n * 3);
                for (d, &v) in out.chunks_exact_mut(3).zip(data.iter()) {
                    d.fill(v);
                }
                out
            }
            _ => {
                // jpeg-decoder returns CMYK as ink amounts (0 = no ink): it already undoes the
                // Adobe inversion for CMYK (APP14 transform 0) and converts YCCK (transform 2)
                // to the same convention. A naive, profile-less conversion to RGB follows.
                let mut data = data;
                convert_in_place::<4>(&mut data, n, |p| {
                    let k = 255 - p[3] as u32;
                    [cmyk_channel(p[0], k), cmyk_channel(p[1], k), cmyk_channel(p[2], k)]
                });
                shrink_len(data, n * 3)
            }
        }
    };
    Ok(Image::from_buf(w, h, 3, buf))
}

/// The size a scaled JPEG decode must reach, `ceil(full * min_scale)`; None for full size
/// (`min_scale` of 1 or more, or outside (0, 1], or NaN).
fn jpeg_scale_request(sw: u32, sh: u32, min_scale: f32) -> Option<(u32, u32)> {
    let s = if min_scale.is_finite() && min_scale > 0.0 { min_scale.min(1.0) } else { 1.0 };
    (s < 1.0).then(|| (((sw as f32 * s).ceil() as u32).clamp(1, sw), ((sh as f32 * s).ceil() as u32).clamp(1, sh)))
}

/// The DCT scale jpeg-decoder's `Decoder::scale` picks for that request (both paths agree):
/// the smallest eighths of 1, 2, 4 whose output reaches it in either axis, else 8.
fn jpeg_scale_eighths(sw: u32, sh: u32, min_scale: f32) -> usize {
    let Some((rw, rh)) = jpeg_scale_request(sw, sh, min_scale) else { return 8 };
    let scaled = |len: u32, n: u32| (len * n).div_ceil(8);
    [1, 2, 4].into_iter().find(|&n| scaled(sw, n) >= rw || scaled(sh, n) >= rh).unwrap_or(8) as usize
}

/// 8-bit grey and YCbCr JPEGs through libjpeg-turbo (SIMD Huffman decoding and IDCT: 20.8
/// against jpeg-decoder's 30.0 ms for 12 MP at 1/4, criterion `decode_12mp`), straight into a
/// [`SecureBuf`]. None hands the file to jpeg-decoder: CMYK/YCCK (its Adobe conventions are
/// handled there) and anything TurboJPEG rejects, warnings included (a corrupt or truncated
/// stream), so every error message stays jpeg-decoder's. No partial picture leaves here.
fn decode_jpeg_turbo(bytes: &[u8], frame: JpegFrame, min_scale: f32) -> Option<Rgb8> {
    use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};
    let (sw, sh) = (frame.width as u32, frame.height as u32);
    let mut dec = Decompressor::new().ok()?;
    let hdr = dec.read_header(bytes).ok()?;
    if (hdr.width, hdr.height) != (sw as usize, sh as usize) || !matches!(hdr.colorspace, Colorspace::YCbCr | Colorspace::Gray | Colorspace::RGB) {
        return None;
    }
    // A progressive file may carry thousands of tiny scans to burn CPU (libjpeg-turbo's own
    // fuzzers stop at 500); a camera's has about ten.
    dec.set_scan_limit(500).ok()?;
    let f = ScalingFactor::new(jpeg_scale_eighths(sw, sh, min_scale), 8);
    dec.set_scaling_factor(f).ok()?;
    let (w, h) = (f.scale(sw as usize), f.scale(sh as usize));
    let mut buf = SecureBuf::<u8>::zeroed(w * h * 3);
    // Rows split at a multiple of the tallest scaled iMCU (32 rows at full size), more of them
    // on the top thread: see TOP_SHARE.
    let imcu = f.scale(32).max(1);
    let split = imcu * ((h as f32 * TOP_SHARE / imcu as f32).round() as usize).min(h / imcu);
    if crate::parallel::threads() > 1 && w * h >= SPLIT_DECODE_PIXELS && split > 0 && !frame.progressive {
        // Two instances side by side, the top rows on one and the rest on the other: 4.95 ->
        // 4.30 ms at 1 MP with halves (BENCHMARKS). Not for progressive files, whose every row
        // needs every scan.
        let (top, bottom) = buf.split_at_mut(split * w * 3);
        let (a, b) = crate::parallel::join(|| turbo_rows(bytes, f, 0, split, top), || turbo_rows(bytes, f, split, h, bottom));
        a.and(b)?;
        return Some(Image::from_buf(w, h, 3, buf));
    }
    let out = turbojpeg::Image { pixels: &mut buf[..], width: w, pitch: w * 3, height: h, format: PixelFormat::RGB };
    dec.decompress(bytes, out).ok()?;
    Some(Image::from_buf(w, h, 3, buf))
}

/// The top thread's share of the rows. The bottom thread skips the top rows by entropy-decoding
/// them without the IDCT (about half of a row's work, perf: `decode_mcu`), while the top thread
/// stops at its last row; with this share both do ~0.68 of one decode, where halves left the
/// bottom one 0.75 and the top one waiting.
const TOP_SHARE: f32 = 0.68;

/// Decoded pixels (at the scale) from which [`decode_jpeg_turbo`] splits the rows over two
/// threads. At 0.3 MP the gain (~0.25 ms) was lost, and more, whenever the VM's second core was
/// slow to wake.
const SPLIT_DECODE_PIXELS: usize = 600 * 1000;

/// Rows `y0..y1` of the picture at scale `f`, as RGB into `out` (whole rows), on a TurboJPEG
/// instance of their own (the crate's `Decompressor` has no cropping). None on any error or
/// warning, as in [`decode_jpeg_turbo`].
fn turbo_rows(bytes: &[u8], f: turbojpeg::ScalingFactor, y0: usize, y1: usize, out: &mut [u8]) -> Option<()> {
    use std::ffi::c_int;
    use turbojpeg::raw;
    struct Handle(raw::tjhandle);
    impl Drop for Handle {
        fn drop(&mut self) {
            // SAFETY: made by tj3Init, destroyed once.
            unsafe { raw::tj3Destroy(self.0) }
        }
    }
    let rows = c_int::try_from(y1.checked_sub(y0)?).ok()?;
    let width = out.len().checked_div(y1 - y0)? / 3;
    let region = raw::tjregion { x: 0, y: c_int::try_from(y0).ok()?, w: 0, h: rows };
    let scale = raw::tjscalingfactor { num: c_int::try_from(f.num()).ok()?, denom: c_int::try_from(f.denom()).ok()? };
    // SAFETY: the handle lives until the end of the block; the JPEG bytes are read only; `out`
    // holds `rows` rows of `width * 3` bytes, which is what a decode of the region writes.
    unsafe {
        let h = Handle(raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as c_int));
        let ok = |r: c_int| (r == 0).then_some(());
        (!h.0.is_null()).then_some(())?;
        ok(raw::tj3DecompressHeader(h.0, bytes.as_ptr(), bytes.len() as raw::size_t))?;
        ok(raw::tj3Set(h.0, raw::TJPARAM_TJPARAM_SCANLIMIT as c_int, 500))?;
        ok(raw::tj3SetScalingFactor(h.0, scale))?;
        // The caller's rows must be this file's (it read the same header with the crate).
        let jw = usize::try_from(raw::tj3Get(h.0, raw::TJPARAM_TJPARAM_JPEGWIDTH as c_int)).ok()?;
        (f.scale(jw) == width).then_some(())?;
        ok(raw::tj3SetCroppingRegion(h.0, region))?;
        ok(raw::tj3Decompress8(h.0, bytes.as_ptr(), bytes.len() as raw::size_t, out.as_mut_ptr(), c_int::try_from(width * 3).ok()?, raw::TJPF_TJPF_RGB as c_int))
    }
}

#[inline]
fn cmyk_channel(ink: u8, inv_k: u32) -> u8 {
    (((255 - ink as u32) * inv_k + 127) / 255) as u8
}

// ---------------------------------------------------------------------------------------------
// PNG / GIF / WebP via `image`

fn image_err(e: image::ImageError) -> Error {
    use image::ImageError as E;
    match e {
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::InvalidInput("the image data ends early (truncated file)".into())
        }
        E::Unsupported(u) => Error::UnsupportedFormat(format!("{u}; {SUPPORTED} (8/16-bit, grey, RGB, palette, alpha)")),
        other => Error::InvalidInput(other.to_string()),
    }
}

fn decode_with_image(bytes: &[u8], c: Container, sw: u32, sh: u32) -> Result<Rgb8> {
    use image::{ColorType, ImageDecoder, ImageFormat};
    let format = match c {
        Container::Png => ImageFormat::Png,
        Container::Gif => ImageFormat::Gif,
        Container::Webp => ImageFormat::WebP,
        Container::Jpeg => return Err(Error::Internal("JPEG goes through jpeg-decoder".into())),
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(sw);
    limits.max_image_height = Some(sh);
    // Output (at most 16 bytes per pixel) plus working memory.
    limits.max_alloc = Some((sw as u64 * sh as u64).saturating_mul(16).saturating_add(64 << 20));
    reader.limits(limits);
    let dec = reader.into_decoder().map_err(image_err)?;
    let (w, h) = dec.dimensions();
    if (w, h) != (sw, sh) {
        return Err(Error::InvalidInput(format!("the probe ({sw}x{sh}) does not match this image ({w}x{h})")));
    }
    let n = w as usize * h as usize;
    let ct = dec.color_type();
    let total = usize::try_from(dec.total_bytes())
        .map_err(|_| Error::TooLarge { what: "decoded image (bytes)", actual: dec.total_bytes(), limit: usize::MAX as u64 })?;
    // One buffer large enough for both the decoder's output and the RGB8 result: conversions
    // run in place (forwards when pixels shrink, backwards when they grow).
    let mut buf = SecureBuf::<u8>::zeroed(total.max(n * 3));
    dec.read_image(&mut buf[..total]).map_err(image_err)?;
    match ct {
        ColorType::Rgb8 => {}
        ColorType::Rgba8 => convert_in_place::<4>(&mut buf, n, px_rgba8),
        ColorType::L8 => convert_in_place::<1>(&mut buf, n, |p| [p[0]; 3]),
        ColorType::La8 => convert_in_place::<2>(&mut buf, n, |p| [over_grey_u8(p[0], p[1]); 3]),
        ColorType::L16 => convert_in_place::<2>(&mut buf, n, |p| [c16(u16::from_ne_bytes(*p)); 3]),
        ColorType::La16 => convert_in_place::<4>(&mut buf, n, |p| {
            let a = u16::from_ne_bytes([p[2], p[3]]) as f32 / 65535.0;
            [over_grey_f(u16::from_ne_bytes([p[0], p[1]]) as f32 / 65535.0, a); 3]
        }),
        ColorType::Rgb16 => convert_in_place::<6>(&mut buf, n, px_rgb16),
        ColorType::Rgba16 => convert_in_place::<8>(&mut buf, n, px_rgba16),
        ColorType::Rgb32F => convert_in_place::<12>(&mut buf, n, px_rgbf32),
        ColorType::Rgba32F => convert_in_place::<16>(&mut buf, n, px_rgbaf32),
        other => return Err(Error::UnsupportedFormat(format!("pixel layout {other:?} is not supported"))),
    }
    Ok(Image::from_buf(w as usize, h as usize, 3, shrink_len(buf, n * 3)))
}

// ---------------------------------------------------------------------------------------------
// Pixel conversion

/// Shortens a buffer without reallocating (the capacity stays and is wiped on drop).
fn shrink_len(buf: SecureBuf<u8>, len: usize) -> SecureBuf<u8> {
    let mut v = buf.into_vec();
    v.truncate(len);
    SecureBuf::from_vec(v)
}

/// Converts `n` pixels of `BPP` bytes at the start of `buf` to RGB8 in place. `buf` must hold
/// at least `max(n * BPP, n * 3)` bytes. Pixels are read whole before they are written: going
/// forwards when a pixel shrinks (BPP >= 3), backwards when it grows.
fn convert_in_place<const BPP: usize>(buf: &mut [u8], n: usize, f: impl Fn(&[u8; BPP]) -> [u8; 3]) {
    assert!(buf.len() >= n * BPP.max(3));
    let px = |buf: &[u8], i: usize| -> [u8; BPP] {
        let mut p = [0u8; BPP];
        p.copy_from_slice(&buf[i * BPP..i * BPP + BPP]);
        p
    };
    if BPP >= 3 {
        for i in 0..n {
            let rgb = f(&px(buf, i));
            buf[i * 3..i * 3 + 3].copy_from_slice(&rgb);
        }
    } else {
        for i in (0..n).rev() {
            let rgb = f(&px(buf, i));
            buf[i * 3..i * 3 + 3].copy_from_slice(&rgb);
        }
    }
}

/// Converts `h` rows (given by `src(y)`, each exactly `w * BPP` bytes) into packed RGB8.
fn convert_rows<'a, const BPP: usize>(
    src: &impl Fn(usize) -> &'a [u8],
    h: usize,
    out: &mut [u8],
    f: impl Fn(&[u8; BPP]) -> [u8; 3],
) {
    let w3 = out.len() / h;
    for (y, dst) in out.chunks_exact_mut(w3).enumerate() {
        for (d, s) in dst.chunks_exact_mut(3).zip(src(y).chunks_exact(BPP)) {
            let mut p = [0u8; BPP];
            p.copy_from_slice(s);
            d.copy_from_slice(&f(&p));
        }
    }
}

/// `c` over mid-grey with 8-bit alpha `a`; alpha 0 gives 128.
#[inline]
fn over_grey_u8(c: u8, a: u8) -> u8 {
    let (c, a) = (c as u32, a as u32);
    ((c * a + 128 * (255 - a) + 127) / 255) as u8
}

/// Float version: `c` and `a` in [0, 1] (NaN counts as 0), result rounded to 8 bit.
#[inline]
fn over_grey_f(c: f32, a: f32) -> u8 {
    let (c, a) = (unit(c), unit(a));
    ((c * a + 0.5 * (1.0 - a)) * 255.0 + 0.5) as u8
}

#[inline]
fn unit(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// 16 to 8 bit with rounding (v / 257).
#[inline]
fn c16(v: u16) -> u8 {
    ((v as u32 * 255 + 32895) / 65535) as u8
}

#[inline]
fn f32_at(p: &[u8], i: usize) -> f32 {
    f32::from_ne_bytes([p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]])
}

#[inline]
fn u16_at(p: &[u8], i: usize) -> u16 {
    u16::from_ne_bytes([p[2 * i], p[2 * i + 1]])
}

fn px_rgba8(p: &[u8; 4]) -> [u8; 3] {
    if p[3] == 255 {
        [p[0], p[1], p[2]]
    } else {
        [over_grey_u8(p[0], p[3]), over_grey_u8(p[1], p[3]), over_grey_u8(p[2], p[3])]
    }
}

fn px_rgb16(p: &[u8; 6]) -> [u8; 3] {
    [c16(u16_at(p, 0)), c16(u16_at(p, 1)), c16(u16_at(p, 2))]
}

fn px_rgba16(p: &[u8; 8]) -> [u8; 3] {
    let a = u16_at(p, 3);
    if a == u16::MAX {
        return [c16(u16_at(p, 0)), c16(u16_at(p, 1)), c16(u16_at(p, 2))];
    }
    let a = a as f32 / 65535.0;
    let c = |i| over_grey_f(u16_at(p, i) as f32 / 65535.0, a);
    [c(0), c(1), c(2)]
}

fn px_rgbf32(p: &[u8; 12]) -> [u8; 3] {
    let c = |i| (unit(f32_at(p, i)) * 255.0 + 0.5) as u8;
    [c(0), c(1), c(2)]
}

fn px_rgbaf32(p: &[u8; 16]) -> [u8; 3] {
    let a = f32_at(p, 3);
    let c = |i| over_grey_f(f32_at(p, i), a);
    [c(0), c(1), c(2)]
}

// ---------------------------------------------------------------------------------------------
// EXIF orientation

/// Turns the stored pixels upright for EXIF orientation `o` (1..=8). 2, 3 and 4 (mirror, 180°,
/// flip) work in place; 5..=8 (transpose, 90° CW, transverse, 90° CCW) swap width and height and
/// write a new buffer (the old one is wiped on drop).
fn apply_orientation(mut img: Rgb8, o: u8) -> Rgb8 {
    let (w, h) = (img.width, img.height);
    let row = w * 3;
    match o {
        2 => {
            for r in img.data.chunks_exact_mut(row) {
                for x in 0..w / 2 {
                    let (a, b) = (x * 3, (w - 1 - x) * 3);
                    for c in 0..3 {
                        r.swap(a + c, b + c);
                    }
                }
            }
            img
        }
        3 => {
            let n = w * h;
            let d = &mut img.data[..];
            for i in 0..n / 2 {
                let (a, b) = (i * 3, (n - 1 - i) * 3);
                for c in 0..3 {
                    d.swap(a + c, b + c);
                }
            }
            img
        }
        4 => {
            let d = &mut img.data[..];
            for y in 0..h / 2 {
                let (top, bottom) = d.split_at_mut((h - 1 - y) * row);
                top[y * row..(y + 1) * row].swap_with_slice(&mut bottom[..row]);
            }
            img
        }
        5..=8 => {
            // Output is h wide and w high; out(X, Y) = in(sx, sy).
            let (ow, oh) = (h, w);
            let mut out = SecureBuf::<u8>::zeroed(w * h * 3);
            let src = &img.data[..];
            const T: usize = 32; // tile edge, for cache locality
            for ty in (0..oh).step_by(T) {
                for tx in (0..ow).step_by(T) {
                    for y in ty..(ty + T).min(oh) {
                        for x in tx..(tx + T).min(ow) {
                            let (sx, sy) = match o {
                                5 => (y, x),
                                6 => (y, h - 1 - x),
                                7 => (w - 1 - y, h - 1 - x),
                                _ => (w - 1 - y, x),
                            };
                            let s = (sy * w + sx) * 3;
                            let d = (y * ow + x) * 3;
                            out[d..d + 3].copy_from_slice(&src[s..s + 3]);
                        }
                    }
                }
            }
            Image::from_buf(ow, oh, 3, out)
        }
        _ => img,
    }
}

#[cfg(test)]
mod tests {
    use crate::test_data::*;
    use super::*;
    use crate::error::ErrorKind;
    use crate::metadata::MetadataKind;

    fn load(bytes: &[u8], min_scale: f32) -> Result<Decoded> {
        let p = probe(bytes, &Limits::default())?;
        decode(bytes, &p, min_scale)
    }

    fn kind<T: std::fmt::Debug>(r: Result<T>) -> ErrorKind {
        r.expect_err("expected an error").kind()
    }

    fn close(a: &[u8], b: &[u8], tol: u8) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= tol)
    }

    fn png_bytes(w: u32, h: u32, color: png::ColorType, depth: png::BitDepth, data: &[u8], palette: Option<(&[u8], &[u8])>) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut e = png::Encoder::new(&mut out, w, h);
            e.set_color(color);
            e.set_depth(depth);
            if let Some((pal, trns)) = palette {
                e.set_palette(pal.to_vec());
                e.set_trns(trns.to_vec());
            }
            let mut wr = e.write_header().unwrap();
            wr.write_image_data(data).unwrap();
        }
        out
    }

    #[test]
    fn probes_fixtures() {
        let p = probe(GRACE, &Limits::default()).unwrap();
        assert_eq!((p.format, p.width, p.height, p.orientation), ("jpeg", 512, 600, 1));
        assert_eq!(p.metadata, vec![MetadataKind::Comment]);
        let p = probe(ASTRONAUT, &Limits::default()).unwrap();
        assert_eq!((p.format, p.width, p.height), ("png", 512, 512));
        let p = probe(META_WEBP, &Limits::default()).unwrap();
        assert_eq!((p.format, p.width, p.height), ("webp", 64, 48));
        assert!(p.metadata.contains(&MetadataKind::GpsLocation));
        let p = probe(COMMENT_GIF, &Limits::default()).unwrap();
        assert_eq!((p.format, p.width, p.height), ("gif", 64, 48));
        let p = probe(ANIM_WEBP, &Limits::default()).unwrap();
        assert_eq!((p.width, p.height), (16, 16));
    }

    #[test]
    fn decodes_fixtures_full_size() {
        let d = load(GRACE, 1.0).unwrap();
        assert_eq!((d.image.width, d.image.height, d.image.channels), (512, 600, 3));
        assert_eq!((d.full_width, d.full_height, d.scale), (512, 600, 1.0));
        let d = load(ASTRONAUT, 1.0).unwrap();
        assert_eq!((d.image.width, d.image.height), (512, 512));
        // Same pixels as the `image` crate's own decode.
        let reference = image::load_from_memory(ASTRONAUT).unwrap().to_rgb8();
        assert_eq!(&d.image.data[..], reference.as_raw().as_slice());
        for f in [META_JPG, META_PNG, META_WEBP, COMMENT_GIF, PROGRESSIVE] {
            let d = load(f, 1.0).unwrap();
            assert!(d.image.width > 0 && d.image.data.len() == d.image.width * d.image.height * 3);
        }
    }

    #[test]
    fn dct_scaled_decode() {
        // jpeg-decoder's scale() picks the smallest of 1/8, 1/4, 1/2, 1 reaching the request.
        for (min_scale, want) in [(0.25, (128, 150)), (0.125, (64, 75)), (0.1, (64, 75)), (0.3, (256, 300)), (0.5, (256, 300)), (0.51, (512, 600)), (0.0, (512, 600)), (f32::NAN, (512, 600))] {
            let d = load(GRACE, min_scale).unwrap();
            assert_eq!((d.image.width, d.image.height), want, "min_scale {min_scale}");
            assert_eq!((d.full_width, d.full_height), (512, 600));
            assert!((d.scale - want.0 as f32 / 512.0).abs() < 1e-6);
            if min_scale > 0.0 {
                assert!(d.scale >= min_scale);
            }
        }
        // A scaled decode resembles the downsampled full decode.
        let full = load(GRACE, 1.0).unwrap().image;
        let q = load(GRACE, 0.25).unwrap().image;
        let mut err = 0u64;
        for y in 0..q.height {
            for x in 0..q.width {
                let mut acc = [0u32; 3];
                for dy in 0..4 {
                    for dx in 0..4 {
                        let p = full.px(x * 4 + dx, y * 4 + dy);
                        for (a, &v) in acc.iter_mut().zip(p) {
                            *a += v as u32;
                        }
                    }
                }
                for (a, &v) in acc.iter().zip(q.px(x, y)) {
                    err += (a / 16).abs_diff(v as u32) as u64;
                }
            }
        }
        let mae = err as f64 / (q.width * q.height * 3) as f64;
        assert!(mae < 4.0, "mean abs error {mae}");
        // Progressive JPEGs scale too.
        let d = load(PROGRESSIVE, 0.5).unwrap();
        assert_eq!((d.image.width, d.image.height), (64, 48));
    }

    /// Mean absolute difference of `q` from `full` averaged over blocks (the truth a DCT-domain
    /// scaled decode approximates).
    fn block_mae(full: &Rgb8, q: &Rgb8) -> f64 {
        let k = full.width.div_ceil(q.width);
        let mut err = 0u64;
        for y in 0..q.height {
            for x in 0..q.width {
                let (mut acc, mut n) = ([0u32; 3], 0);
                for yy in y * k..((y + 1) * k).min(full.height) {
                    for xx in x * k..((x + 1) * k).min(full.width) {
                        for (a, &v) in acc.iter_mut().zip(full.px(xx, yy)) {
                            *a += v as u32;
                        }
                        n += 1;
                    }
                }
                for (a, &v) in acc.iter().zip(q.px(x, y)) {
                    err += (a / n.max(1)).abs_diff(v as u32) as u64;
                }
            }
        }
        err as f64 / (q.width * q.height * 3) as f64
    }

    #[test]
    fn libjpeg_turbo_and_jpeg_decoder_agree() {
        // Grey, baseline and progressive YCbCr go through libjpeg-turbo; CMYK does not. At every
        // scale both decoders give the same size, and the same picture at full size. Scaled,
        // libjpeg-turbo's is the closer to the block-averaged full picture (mean abs error
        // 0.1-0.7 against jpeg-decoder's 0.2-4.9 on these files).
        let grey = {
            let g = image::GrayImage::from_fn(80, 60, |x, y| image::Luma([(x * 3 + y) as u8]));
            let mut b = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut b, 90).encode_image(&g).unwrap();
            b
        };
        for (name, f) in [("grace", GRACE), ("meta", META_JPG), ("progressive", PROGRESSIVE), ("grey", &grey[..])] {
            let frame = jpeg_frame(f).unwrap();
            let (sw, sh) = (frame.width as u32, frame.height as u32);
            let full = decode_jpeg_turbo(f, frame, 1.0).expect("libjpeg-turbo decodes it");
            let full_rs = decode_jpeg_rs(f, frame, sw, sh, 1.0).unwrap();
            let e = block_mae(&full_rs, &full);
            assert!(e < 0.2, "{name}: {e}");
            for s in [0.5, 0.3, 0.25, 0.125] {
                let t = decode_jpeg_turbo(f, frame, s).expect("libjpeg-turbo decodes it");
                let r = decode_jpeg_rs(f, frame, sw, sh, s).unwrap();
                assert_eq!((t.width, t.height), (r.width, r.height), "{name} at {s}");
                let (et, er) = (block_mae(&full, &t), block_mae(&full_rs, &r));
                assert!(et < 1.0 && et <= er + 0.5, "{name} at {s}: libjpeg-turbo {et:.2} against jpeg-decoder {er:.2}");
            }
        }
        // libjpeg-turbo's working memory came through the wiping allocator, not malloc.
        assert!(crate::privacy::jpeg_mem::blocks_allocated() > 0);
        let frame = jpeg_frame(CMYK_JPG).unwrap();
        assert!(decode_jpeg_turbo(CMYK_JPG, frame, 1.0).is_none());
        // A stream libjpeg-turbo only warns about (cut short) is not returned half-decoded.
        let cut = &GRACE[..GRACE.len() / 2];
        assert!(decode_jpeg_turbo(cut, jpeg_frame(cut).unwrap(), 1.0).is_none());
    }

    #[test]
    fn a_decode_split_over_two_threads_gives_the_bytes_of_one() {
        // 4:2:0, 4:2:2, 4:4:4 and grey; Huffman and arithmetic; every scale the pipeline uses.
        let src = load(GRACE, 1.0).unwrap().image;
        let big = crate::raster::resize_u8(&src, None, 1600, 2000);
        let grey: Vec<u8> = big.data.chunks_exact(3).map(|p| p[1]).collect();
        let mut files = Vec::new();
        for (sub, arith) in [(turbojpeg::Subsamp::Sub2x2, false), (turbojpeg::Subsamp::Sub2x1, false), (turbojpeg::Subsamp::None, true), (turbojpeg::Subsamp::Gray, false)] {
            let mut c = turbojpeg::Compressor::new().unwrap();
            c.set_quality(90).unwrap();
            c.set_subsamp(sub).unwrap();
            c.set_arithmetic(arith).unwrap();
            let (pixels, format, pitch) = if sub == turbojpeg::Subsamp::Gray { (&grey[..], turbojpeg::PixelFormat::GRAY, 1600) } else { (&big.data[..], turbojpeg::PixelFormat::RGB, 1600 * 3) };
            files.push(c.compress_to_vec(turbojpeg::Image { pixels, width: 1600, pitch, height: 2000, format }).unwrap());
        }
        for (i, f) in files.iter().enumerate() {
            let frame = jpeg_frame(f).unwrap();
            assert_eq!((frame.width, frame.height, frame.progressive), (1600, 2000, false));
            for s in [1.0, 0.5, 0.25] {
                let one = crate::parallel::with_threads(1, || decode_jpeg_turbo(f, frame, s).unwrap());
                let two = crate::parallel::with_threads(2, || decode_jpeg_turbo(f, frame, s).unwrap());
                assert!(one.width * one.height >= SPLIT_DECODE_PIXELS || s < 0.5, "file {i} at {s} is not split");
                assert!(one.data[..] == two.data[..], "file {i} at {s}");
            }
        }
        // A stream cut short is refused split as it is whole.
        let cut = &files[0][..files[0].len() * 3 / 4];
        assert!(crate::parallel::with_threads(2, || decode_jpeg_turbo(cut, jpeg_frame(cut).unwrap(), 1.0)).is_none());
    }

    #[test]
    fn arithmetic_coded_jpegs_decode() {
        // jpeg-decoder cannot read them; libjpeg-turbo can.
        let src = load(GRACE, 1.0).unwrap().image;
        let mut c = turbojpeg::Compressor::new().unwrap();
        c.set_quality(90).unwrap();
        c.set_arithmetic(true).unwrap();
        let img = turbojpeg::Image { pixels: &src.data[..], width: src.width, pitch: src.width * 3, height: src.height, format: turbojpeg::PixelFormat::RGB };
        let arith = c.compress_to_vec(img).unwrap();
        let frame = jpeg_frame(&arith).unwrap();
        assert_eq!(kind(decode_jpeg_rs(&arith, frame, 512, 600, 1.0)), ErrorKind::UnsupportedFormat);
        let d = load(&arith, 0.25).unwrap();
        assert_eq!((d.image.width, d.image.height), (128, 150));
        let q = load(GRACE, 0.25).unwrap().image;
        let mae = d.image.data.iter().zip(q.data.iter()).map(|(a, b)| a.abs_diff(*b) as u64).sum::<u64>() as f64 / q.data.len() as f64;
        assert!(mae < 3.0, "mean abs difference {mae}");
    }

    #[test]
    fn all_exif_orientations_come_out_upright() {
        // Upright: 32x16, top-left red, top-right green, bottom-left blue, bottom-right white.
        let want = [((4, 4), [255, 0, 0]), ((28, 4), [0, 255, 0]), ((4, 12), [0, 0, 255]), ((28, 12), [255, 255, 255])];
        for (i, f) in ORIENT.iter().enumerate() {
            let o = i as u8 + 1;
            let p = probe(f, &Limits::default()).unwrap();
            assert_eq!(p.orientation, o);
            assert_eq!((p.width, p.height), (32, 16), "orientation {o}");
            let d = decode(f, &p, 1.0).unwrap();
            assert_eq!((d.image.width, d.image.height), (32, 16), "orientation {o}");
            for ((x, y), rgb) in want {
                assert!(close(d.image.px(x, y), &rgb, 12), "orientation {o} at ({x},{y}): {:?} != {rgb:?}", d.image.px(x, y));
            }
            // Scaled decode + orientation.
            let d = decode(f, &p, 0.5).unwrap();
            assert_eq!((d.image.width, d.image.height), (16, 8), "orientation {o}");
            for ((x, y), rgb) in want {
                assert!(close(d.image.px(x / 2, y / 2), &rgb, 24), "orientation {o} (1/2)");
            }
        }
    }

    #[test]
    fn orientation_transforms_match_definitions() {
        // 3x2 image with distinct pixels: value = 10 * (y * 3 + x).
        let (w, h) = (3usize, 2usize);
        let mk = || {
            let mut img = Image::<u8>::new(w, h, 3);
            for y in 0..h {
                for x in 0..w {
                    img.px_mut(x, y).fill((10 * (y * w + x)) as u8);
                }
            }
            img
        };
        let at = |img: &Rgb8, x: usize, y: usize| img.px(x, y)[0] as usize / 10;
        let src = |x: usize, y: usize| y * w + x;
        for o in 1..=8u8 {
            let out = apply_orientation(mk(), o);
            let (ow, oh) = if o >= 5 { (h, w) } else { (w, h) };
            assert_eq!((out.width, out.height), (ow, oh));
            for y in 0..oh {
                for x in 0..ow {
                    let expected = match o {
                        1 => src(x, y),
                        2 => src(w - 1 - x, y),
                        3 => src(w - 1 - x, h - 1 - y),
                        4 => src(x, h - 1 - y),
                        5 => src(y, x),
                        6 => src(y, h - 1 - x),
                        7 => src(w - 1 - y, h - 1 - x),
                        _ => src(w - 1 - y, x),
                    };
                    assert_eq!(at(&out, x, y), expected, "orientation {o} at ({x},{y})");
                }
            }
        }
    }

    #[test]
    fn cmyk_jpeg_decodes_to_close_rgb() {
        // Same table as make_test_data.py; Pillow writes Adobe (inverted) CMYK.
        let patches: [[u32; 4]; 8] = [[0, 0, 0, 0], [255, 0, 0, 0], [0, 255, 0, 0], [0, 0, 255, 0], [0, 0, 0, 255], [0, 0, 0, 128], [128, 64, 0, 64], [40, 200, 100, 30]];
        // ycck.jpg holds the same patches as YCCK (APP14 transform 2).
        for file in [CMYK_JPG, YCCK_JPG] {
            let d = load(file, 1.0).unwrap();
            assert_eq!((d.image.width, d.image.height), (64, 32));
            for (i, c) in patches.iter().enumerate() {
                let (x, y) = ((i % 4) * 16 + 8, (i / 4) * 16 + 8);
                let want: Vec<u8> = (0..3).map(|j| ((255 - c[j]) * (255 - c[3]) / 255) as u8).collect();
                assert!(close(d.image.px(x, y), &want, 6), "patch {i} {c:?}: got {:?}, want {want:?}", d.image.px(x, y));
            }
        }
        // Scaled CMYK too.
        let d = load(CMYK_JPG, 0.125).unwrap();
        assert_eq!((d.image.width, d.image.height), (8, 4));
        assert!(close(d.image.px(2, 0), &[0, 255, 255], 8), "{:?}", d.image.px(2, 0));
    }

    #[test]
    fn grey_jpeg_decodes() {
        let mut buf = Vec::new();
        let grey: Vec<u8> = (0..16 * 8).map(|i| (i * 2) as u8).collect();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 100)
            .encode(&grey, 16, 8, image::ExtendedColorType::L8)
            .unwrap();
        let d = load(&buf, 1.0).unwrap();
        assert_eq!((d.image.width, d.image.height), (16, 8));
        for (i, p) in d.image.data.chunks_exact(3).enumerate() {
            assert!(p[0] == p[1] && p[1] == p[2]);
            assert!(p[0].abs_diff(grey[i]) <= 3);
        }
    }

    #[test]
    fn png_variants_decode() {
        use png::{BitDepth as B, ColorType as C};
        // 16-bit RGB (big-endian in the file).
        let vals16: [u16; 6] = [0, 32896, 65535, 257 * 10, 257 * 200, 1000];
        let data: Vec<u8> = vals16.iter().flat_map(|v| v.to_be_bytes()).collect();
        let d = load(&png_bytes(2, 1, C::Rgb, B::Sixteen, &data, None), 1.0).unwrap();
        assert_eq!(&d.image.data[..], &[0, 128, 255, 10, 200, 4]);
        // 16-bit RGBA: transparent pixel -> mid-grey.
        let data: Vec<u8> = [65535u16, 0, 0, 65535, 65535, 0, 0, 0].iter().flat_map(|v| v.to_be_bytes()).collect();
        let d = load(&png_bytes(2, 1, C::Rgba, B::Sixteen, &data, None), 1.0).unwrap();
        assert_eq!(&d.image.data[..], &[255, 0, 0, 128, 128, 128]);
        // 16-bit grey.
        let data: Vec<u8> = [0u16, 65535].iter().flat_map(|v| v.to_be_bytes()).collect();
        let d = load(&png_bytes(2, 1, C::Grayscale, B::Sixteen, &data, None), 1.0).unwrap();
        assert_eq!(&d.image.data[..], &[0, 0, 0, 255, 255, 255]);
        // 8-bit grey.
        let d = load(&png_bytes(3, 1, C::Grayscale, B::Eight, &[0, 100, 255], None), 1.0).unwrap();
        assert_eq!(&d.image.data[..], &[0, 0, 0, 100, 100, 100, 255, 255, 255]);
        // Grey + alpha: opaque, transparent, half.
        let d = load(&png_bytes(3, 1, C::GrayscaleAlpha, B::Eight, &[200, 255, 200, 0, 0, 128], None), 1.0).unwrap();
        assert_eq!(&d.image.data[..], &[200, 200, 200, 128, 128, 128, 64, 64, 64]);
        // 1-bit grey.
        let d = load(&png_bytes(8, 1, C::Grayscale, B::One, &[0b1010_0000], None), 1.0).unwrap();
        assert_eq!(&d.image.data[..6], &[255, 255, 255, 0, 0, 0]);
        // Palette with tRNS: entry 0 red opaque, entry 1 blue transparent.
        let d = load(&png_bytes(2, 1, C::Indexed, B::Eight, &[0, 1], Some((&[255, 0, 0, 0, 0, 255], &[255, 0]))), 1.0).unwrap();
        assert_eq!(&d.image.data[..], &[255, 0, 0, 128, 128, 128]);
        // 4-bit palette without alpha.
        let d = load(&png_bytes(2, 1, C::Indexed, B::Four, &[0x10], Some((&[1, 2, 3, 4, 5, 6], &[]))), 1.0).unwrap();
        assert_eq!(&d.image.data[..], &[4, 5, 6, 1, 2, 3]);
        // RGBA 8.
        let d = load(&png_bytes(2, 1, C::Rgba, B::Eight, &[10, 20, 30, 255, 255, 255, 255, 0], None), 1.0).unwrap();
        assert_eq!(&d.image.data[..], &[10, 20, 30, 128, 128, 128]);
    }

    #[test]
    fn animations_give_the_first_frame() {
        let d = load(ANIM_WEBP, 1.0).unwrap();
        assert!(close(d.image.px(8, 8), &[255, 0, 0], 2), "{:?}", d.image.px(8, 8));
        // Animated GIF built here: red, then blue.
        let mut gif = Vec::new();
        {
            let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
            for c in [[255u8, 0, 0, 255], [0, 0, 255, 255]] {
                let img = image::RgbaImage::from_pixel(8, 8, image::Rgba(c));
                enc.encode_frame(image::Frame::new(img)).unwrap();
            }
        }
        let d = load(&gif, 1.0).unwrap();
        assert_eq!((d.image.width, d.image.height), (8, 8));
        assert!(close(d.image.px(4, 4), &[255, 0, 0], 2));
    }

    #[test]
    fn truncated_inputs_are_invalid_and_never_panic() {
        let mut webp = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
            .encode(&[90u8; 32 * 32 * 3], 32, 32, image::ExtendedColorType::Rgb8)
            .unwrap();
        for f in [GRACE, ASTRONAUT, META_JPG, META_PNG, META_WEBP, &webp[..], PROGRESSIVE, CMYK_JPG, COMMENT_GIF, ANIM_WEBP] {
            let n = f.len();
            let mut cuts: Vec<usize> = vec![1, 2, 3, 8, 11, 16, 20, 24, 30, 40, 100, 200, n / 4, n / 2, 3 * n / 4, n.saturating_sub(100), n - 10, n - 3, n - 1];
            cuts.retain(|&c| c > 0 && c < n);
            let full = load(f, 1.0).unwrap();
            for cut in cuts {
                match load(&f[..cut], 1.0) {
                    // Only a cut after the image data (PNG's IEND, WebP's trailing EXIF/XMP
                    // chunks) may decode, and then to exactly the whole picture: never a
                    // partial image.
                    Ok(d) => assert!(
                        d.image.data[..] == full.image.data[..],
                        "cut at {cut}/{n} decoded to {}x{}",
                        d.image.width,
                        d.image.height
                    ),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidInput, "cut at {cut}/{n}: {e}"),
                }
                let _ = load(&f[..cut], 0.25);
            }
        }
    }

    #[test]
    fn corrupt_inputs_never_panic() {
        let mut x: u32 = 0x1234_5678;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for f in [GRACE, META_PNG, META_WEBP, COMMENT_GIF, PROGRESSIVE, CMYK_JPG] {
            for _ in 0..30 {
                let mut m = f.to_vec();
                for _ in 0..4 {
                    let i = (rnd() as usize) % m.len();
                    m[i] = rnd() as u8;
                }
                if let Ok(p) = probe(&m, &Limits::default()) {
                    let _ = decode(&m, &p, 1.0);
                    let _ = decode(&m, &p, 0.125);
                }
            }
        }
    }

    #[test]
    fn empty_short_and_random_inputs() {
        let l = Limits::default();
        assert_eq!(kind(probe(b"", &l)), ErrorKind::InvalidInput);
        assert_eq!(kind(probe(&[0xFF, 0xD8], &l)), ErrorKind::InvalidInput);
        assert_eq!(kind(probe(b"hello", &l)), ErrorKind::InvalidInput);
        let noise = noise(7, 10_000);
        assert_eq!(kind(probe(&noise, &l)), ErrorKind::UnsupportedFormat);
        let e = probe(b"II*\0\x08\0\0\0\0\0\0\0\0\0\0\0\0\0", &l).unwrap_err();
        assert!(e.to_string().contains("TIFF") && e.to_string().contains("JPEG, PNG, WebP and GIF"), "{e}");
        let e = probe(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", &l).unwrap_err();
        assert!(e.to_string().contains("HEIC"), "{e}");
        // Magic followed by noise.
        for prefix in [&[0xFF, 0xD8, 0xFF][..], b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBPVP8 ", b"GIF89a"] {
            let mut v = prefix.to_vec();
            v.extend_from_slice(&noise);
            if let Ok(p) = probe(&v, &l) {
                assert!(decode(&v, &p, 1.0).is_err());
            }
        }
    }

    #[test]
    fn max_bytes_is_enforced() {
        let l = Limits { max_bytes: 1000, ..Limits::default() };
        assert!(matches!(probe(GRACE, &l), Err(Error::TooLarge { what: "encoded input (bytes)", limit: 1000, .. })));
    }

    #[test]
    fn bombs_are_refused_before_allocating() {
        // PNG header declaring 100000 x 100000 with no image data.
        let mut bomb = Vec::new();
        {
            let mut e = png::Encoder::new(&mut bomb, 100_000, 100_000);
            e.set_color(png::ColorType::Rgb);
            let w = e.write_header().unwrap();
            drop(w);
        }
        assert!(bomb.len() < 100);
        let e = probe(&bomb, &Limits::default()).unwrap_err();
        assert!(matches!(e, Error::TooLarge { actual: 10_000_000_000, .. }), "{e}");
        // JPEG: SOF0 declaring 65500 x 65500 (JPEG's maximum is 65535).
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8];
        j.extend_from_slice(&65500u16.to_be_bytes());
        j.extend_from_slice(&65500u16.to_be_bytes());
        j.extend_from_slice(&[1, 1, 0x11, 0, 0xFF, 0xD9]);
        assert_eq!(kind(probe(&j, &Limits::default())), ErrorKind::TooLarge);
        // WebP VP8X canvas 100000 x 100000.
        let mut wp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        wp.extend_from_slice(&(100_000u32 - 1).to_le_bytes()[..3]);
        wp.extend_from_slice(&(100_000u32 - 1).to_le_bytes()[..3]);
        assert_eq!(kind(probe(&wp, &Limits::default())), ErrorKind::TooLarge);
        // GIF 65535 x 65535.
        let g = b"GIF89a\xff\xff\xff\xff\0\0\0;".to_vec();
        assert_eq!(kind(probe(&g, &Limits::default())), ErrorKind::TooLarge);
        // A small limit applies to real photos too.
        let l = Limits { max_pixels: 1000, ..Limits::default() };
        assert_eq!(kind(probe(GRACE, &l)), ErrorKind::TooLarge);
        // decode() with a probe that lies about the size refuses instead of trusting it.
        let mut p = probe(GRACE, &Limits::default()).unwrap();
        p.width = 10;
        p.height = 10;
        assert_eq!(kind(decode(GRACE, &p, 1.0)), ErrorKind::InvalidInput);
    }

    #[test]
    fn twelve_bit_jpeg_is_refused_with_a_typed_error() {
        // Turn grace_hopper's SOF0 (8-bit baseline) into SOF1 with 12-bit precision.
        let mut j = GRACE.to_vec();
        let i = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        j[i + 1] = 0xC1;
        j[i + 4] = 12;
        let p = probe(&j, &Limits::default()).unwrap();
        let e = decode(&j, &p, 1.0).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsupportedFormat, "{e}");
    }

    #[test]
    fn from_pixels_every_format_with_padded_stride() {
        let (w, h) = (7usize, 5usize);
        let reference: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 256) as u8).collect();
        let pad = 13;
        for fmt in [PixelFormat::Rgb8, PixelFormat::Rgba8, PixelFormat::Rgb16, PixelFormat::Rgba16, PixelFormat::RgbF32, PixelFormat::RgbaF32] {
            let bpp = fmt.bytes_per_pixel();
            let stride = w * bpp + pad;
            // One spare byte in front so that 16-bit / float samples are misaligned.
            let mut storage = vec![0xEEu8; 1 + stride * (h - 1) + w * bpp];
            let data = &mut storage[1..];
            for y in 0..h {
                for x in 0..w {
                    let px = &mut data[y * stride + x * bpp..][..bpp];
                    let rgb = &reference[(y * w + x) * 3..][..3];
                    let mut vals: Vec<f64> = rgb.iter().map(|&v| v as f64 / 255.0).collect();
                    if fmt.channels() == 4 {
                        vals.push(1.0);
                    }
                    for (c, v) in vals.iter().enumerate() {
                        match fmt.bytes_per_channel() {
                            1 => px[c] = (v * 255.0).round() as u8,
                            2 => px[2 * c..2 * c + 2].copy_from_slice(&((v * 65535.0).round() as u16).to_ne_bytes()),
                            _ => px[4 * c..4 * c + 4].copy_from_slice(&(*v as f32).to_ne_bytes()),
                        }
                    }
                }
            }
            let pr = PixelsRef { data, width: w as u32, height: h as u32, stride, format: fmt };
            let d = from_pixels(&pr, &Limits::default()).unwrap();
            assert_eq!((d.image.width, d.image.height, d.scale), (w, h, 1.0));
            assert_eq!(&d.image.data[..], &reference[..], "{fmt:?}");
        }
    }

    #[test]
    fn from_pixels_alpha_nan_and_range() {
        let f = |v: &[f32]| v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>();
        let data = f(&[f32::NAN, 2.0, -1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5]);
        let pr = PixelsRef { data: &data, width: 3, height: 1, stride: 48, format: PixelFormat::RgbaF32 };
        let d = from_pixels(&pr, &Limits::default()).unwrap();
        assert_eq!(&d.image.data[..], &[0, 255, 0, 128, 128, 128, 128, 128, 128]);
        let rgba = [255u8, 0, 0, 0, 0, 0, 255, 128];
        let pr = PixelsRef { data: &rgba, width: 2, height: 1, stride: 8, format: PixelFormat::Rgba8 };
        let d = from_pixels(&pr, &Limits::default()).unwrap();
        assert_eq!(&d.image.data[..], &[128, 128, 128, 64, 64, 192]);
    }

    #[test]
    fn from_pixels_validates() {
        let l = Limits::default();
        let data = [0u8; 100];
        let p = |w, h, stride, format, len| PixelsRef { data: &data[..len], width: w, height: h, stride, format };
        assert_eq!(kind(from_pixels(&p(0, 1, 3, PixelFormat::Rgb8, 3), &l)), ErrorKind::InvalidInput);
        assert_eq!(kind(from_pixels(&p(1, 0, 3, PixelFormat::Rgb8, 3), &l)), ErrorKind::InvalidInput);
        let e = from_pixels(&p(4, 2, 11, PixelFormat::Rgb8, 100), &l).unwrap_err();
        assert!(e.to_string().contains("stride 11") && e.to_string().contains("12"), "{e}");
        // 4x3 RGBA with stride 20 needs 20*2 + 16 = 56 bytes.
        assert!(from_pixels(&p(4, 3, 20, PixelFormat::Rgba8, 56), &l).is_ok());
        let e = from_pixels(&p(4, 3, 20, PixelFormat::Rgba8, 55), &l).unwrap_err();
        assert!(e.to_string().contains("55") && e.to_string().contains("56"), "{e}");
        let huge = PixelsRef { data: &data, width: 2, height: 3, stride: usize::MAX / 2, format: PixelFormat::Rgb8 };
        assert_eq!(kind(from_pixels(&huge, &l)), ErrorKind::InvalidInput);
        let small = Limits { max_pixels: 10, ..Limits::default() };
        assert_eq!(kind(from_pixels(&p(4, 3, 12, PixelFormat::Rgb8, 36), &small)), ErrorKind::TooLarge);
    }
}
