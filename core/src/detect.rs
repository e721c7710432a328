//! Face detection with RetinaFace-mnet0.25: preprocessing, anchors, box decoding, NMS.
//! (HELPER A fills this in; the signatures are the contract.)

use crate::error::Result;
use crate::geometry::{BBox, Point};
use crate::raster::Rgb8;
use ort::session::Session;

/// One detected face, in the pixel coordinates of the image given to [`detect`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
    /// Left eye, right eye (as seen in the image: left = smaller x for an upright face), nose,
    /// left mouth corner, right mouth corner.
    pub landmarks: [Point; 5],
}

/// Detects faces on `img` (already downscaled by the caller to about 640 px long side).
/// Returns faces sorted by score, after a score threshold of 0.6 and NMS at IoU 0.4.
pub fn detect(session: &mut Session, img: &Rgb8) -> Result<Vec<Face>> {
    let _ = (session, img);
    todo!("helper A")
}
