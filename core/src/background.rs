//! New backgrounds and compositing. (HELPER B fills this in; the signatures are the contract.)

use crate::error::Result;
use crate::options::Background;
use crate::raster::{Image, Plane};

/// Renders `bg` at the frame size. `frame` is the composed photo (for `BlurredOriginal`),
/// `alpha` the person matte. Returns RGB float; `Transparent` returns None.
pub fn render(bg: &Background, frame: &Image<f32>, alpha: &Plane) -> Result<Option<Image<f32>>> {
    let _ = (bg, frame, alpha);
    todo!("helper B")
}

/// `alpha * fg + (1 - alpha) * bg`; with no background, an RGBA image with alpha as 4th channel.
pub fn composite(fg: &Image<f32>, alpha: &Plane, bg: Option<&Image<f32>>) -> Image<f32> {
    let _ = (fg, alpha, bg);
    todo!("helper B")
}
