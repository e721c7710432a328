//! Portrait matte: MediaPipe selfie segmentation on the composed frame, refined to a soft alpha
//! with foreground colours. (HELPER B fills this in; the signatures are the contract.)

use crate::error::Result;
use crate::raster::{Image, Plane};
use ort::session::Session;

/// Coarse person probability for `frame` (RGB float [0,1], any size), at frame size.
pub fn person_mask(session: &mut Session, frame: &Image<f32>) -> Result<Plane> {
    let _ = (session, frame);
    todo!("helper B")
}

/// Refines the coarse mask against the full-resolution frame.
/// `coverage` is 1 where the frame holds photo pixels and 0 where the composition had to extend
/// past the photo's border (alpha there must be 0). Returns (alpha, foreground colours).
pub fn refine(frame: &Image<f32>, coarse: &Plane, coverage: &Plane) -> (Plane, Image<f32>) {
    let _ = (frame, coarse, coverage);
    todo!("helper B")
}
