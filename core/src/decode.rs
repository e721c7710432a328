//! Decoding from bytes or pixel buffers: limits before allocation, EXIF orientation, DCT-domain
//! downscaled JPEG decoding, metadata inventoried (never carried). (HELPER C fills this in.)

use crate::error::Result;
use crate::metadata::MetadataKind;
use crate::options::PixelsRef;
use crate::raster::Rgb8;

/// Safety limits for untrusted input.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Largest accepted width x height (like sharp's `limitInputPixels`: 0x3FFF * 0x3FFF).
    pub max_pixels: u64,
    /// Largest accepted encoded input.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pixels: 0x3FFF * 0x3FFF, max_bytes: 256 << 20 }
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

/// Reads format, dimensions, orientation and the metadata inventory; enforces `limits` before any
/// pixel buffer is allocated. Errors: InvalidInput / UnsupportedFormat / TooLarge.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<Probe> {
    let _ = (bytes, limits);
    todo!("helper C")
}

/// Decodes to upright RGB8. For JPEG, uses the smallest DCT scale (1/8, 1/4, 1/2, 1) whose result
/// is at least `min_scale` of full resolution; other formats decode at full size (scale 1).
/// Grayscale, alpha (composited over mid-grey), 16-bit, palette and CMYK/YCCK are converted.
pub fn decode(bytes: &[u8], probe: &Probe, min_scale: f32) -> Result<Decoded> {
    let _ = (bytes, probe, min_scale);
    todo!("helper C")
}

/// Converts a caller's pixel buffer (any [`crate::options::PixelFormat`], explicit stride) to RGB8,
/// validating sizes and limits. Alpha is composited over mid-grey.
pub fn from_pixels(p: &PixelsRef<'_>, limits: &Limits) -> Result<Decoded> {
    let _ = (p, limits);
    todo!("helper C")
}
