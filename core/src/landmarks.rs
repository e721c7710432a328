//! Face mesh (468 points) on the upright face crop: eye centres, chin, face oval, pose.
//! (HELPER A fills this in; the signatures are the contract.)

use crate::detect::Face;
use crate::error::Result;
use crate::geometry::{Affine, Point};
use crate::raster::Rgb8;
use ort::session::Session;

/// 468 mesh points mapped back into the coordinates of the image given to [`run`].
/// `z` is in the same pixel scale as x (MediaPipe convention, smaller = closer to the camera).
#[derive(Clone, Debug)]
pub struct FaceMesh {
    pub points: Vec<[f32; 3]>,
    /// Face-presence probability (sigmoid of the model's logit).
    pub presence: f32,
}

impl FaceMesh {
    pub fn point(&self, i: usize) -> Point {
        Point::new(self.points[i][0], self.points[i][1])
    }
    /// Centre of the eye that appears on the left of the image (the person's right eye).
    pub fn left_eye_center(&self) -> Point { todo!() }
    pub fn right_eye_center(&self) -> Point { todo!() }
    /// Lowest point of the chin (mesh index 152).
    pub fn chin(&self) -> Point { todo!() }
    /// Top of the forehead on the face oval (mesh index 10).
    pub fn forehead(&self) -> Point { todo!() }
    /// Eye openness per eye: lid distance / eye width (about 0.25-0.35 open, < 0.12 closed).
    pub fn eye_openness(&self) -> (f32, f32) { todo!() }
    /// Head yaw and pitch estimates in degrees (0 = frontal). Sign: positive yaw = face turned to image right.
    pub fn yaw_pitch_deg(&self) -> (f32, f32) { todo!() }
    /// Closed polygons (image coordinates) for masks: face oval, both eyes, both brows, outer lips.
    pub fn face_oval(&self) -> Vec<Point> { todo!() }
    pub fn eyes_brows_lips(&self) -> Vec<Vec<Point>> { todo!() }
    /// The mesh with every point mapped through `t` (z scaled by t's scale).
    pub fn transformed(&self, t: &Affine) -> FaceMesh {
        let s = t.scale();
        FaceMesh {
            points: self
                .points
                .iter()
                .map(|p| {
                    let q = t.apply(Point::new(p[0], p[1]));
                    [q.x, q.y, p[2] * s]
                })
                .collect(),
            presence: self.presence,
        }
    }
}

/// Runs the face mesh on a square crop around `face` (1.5x the box, rotated upright using the
/// eyes of `face`), and maps the result back to `img` coordinates.
pub fn run(session: &mut Session, img: &Rgb8, face: &Face) -> Result<FaceMesh> {
    let _ = (session, img, face);
    todo!("helper A")
}
