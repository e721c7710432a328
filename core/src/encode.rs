//! Encoding in memory: JPEG / PNG / WebP with pixel density and sRGB only, optional size cap.
//! (HELPER C fills this in.)

use crate::error::Result;
use crate::options::OutputFormat;
use crate::privacy::secure_buffer::SecureBuf;
use crate::raster::Image;

/// Encodes an RGB8 (3 channels) or RGBA8 (4 channels) image. Writes the dpi (JFIF density / PNG
/// pHYs) and sRGB (ICC profile for JPEG and WebP, sRGB chunk for PNG) and nothing else.
/// With `max_kb`, JPEG/WebP quality is lowered (binary search) until the output fits;
/// Error::Encode when even the lowest quality does not fit. Returns the bytes and the quality used.
pub fn encode(img: &Image<u8>, format: OutputFormat, quality: u8, dpi: u32, max_kb: Option<u32>) -> Result<(SecureBuf<u8>, u8)> {
    let _ = (img, format, quality, dpi, max_kb);
    todo!("helper C")
}
