//! Gentle retouch, only with `appearance` consent: white balance, face exposure, skin smoothing
//! restricted to skin. (HELPER B fills this in; the signatures are the contract.)

use crate::landmarks::FaceMesh;
use crate::raster::{Image, Plane};

/// Retouches `fg` (RGB float, output frame) in place. `mesh` is in output-frame coordinates,
/// `alpha` the person matte; `strength` in (0, 1], 0.5 is the natural default.
pub fn apply(fg: &mut Image<f32>, alpha: &Plane, mesh: &FaceMesh, strength: f32) {
    let _ = (fg, alpha, mesh, strength);
    todo!("helper B")
}
