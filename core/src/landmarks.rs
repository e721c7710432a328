//! Face mesh (468 points) on the upright face crop: eye centres, chin, face oval, pose.
//!
//! Crop: a square of 1.5x the longer side of the detector box, centred on the box (MediaPipe's
//! detection-to-ROI rule; on astronaut.png shifting the centre towards the eyes made the eye
//! centres no better), rotated so the detector's eye line is horizontal. Pixels are bilinear,
//! clamped at the border, and supersampled over each output pixel's footprint when the crop
//! shrinks the photo by more than 2x, so that a large face does not alias.
//!
//! Mesh conventions (MediaPipe): indices name the subject's sides, so the "right eye" ring
//! (33..133) is on the image left for a non-mirrored photo; `z` grows away from the camera.

use crate::detect::Face;
use crate::error::{Error, Result};
use crate::geometry::{Affine, Point};
use crate::raster::Rgb8;
use ort::session::Session;

/// Side of the square model input.
pub const INPUT_SIZE: usize = 192;
/// Crop side relative to the longer side of the detector box.
pub const CROP_SCALE: f32 = 1.5;
pub const NUM_POINTS: usize = 468;

const STAGE: &str = "landmarks";

/// The subject's right eye ring (usually the image-left eye), MediaPipe FACEMESH_RIGHT_EYE.
pub const RIGHT_EYE: [usize; 16] = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246];
/// The subject's left eye ring, MediaPipe FACEMESH_LEFT_EYE.
pub const LEFT_EYE: [usize; 16] = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466];
/// Subject's right brow as a closed outline (upper edge out, lower edge back).
pub const RIGHT_BROW: [usize; 10] = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46];
pub const LEFT_BROW: [usize; 10] = [300, 293, 334, 296, 336, 285, 295, 282, 283, 276];
/// Outer lip contour, MediaPipe FACEMESH_LIPS outer ring.
pub const LIPS_OUTER: [usize; 20] = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185];
/// MediaPipe FACEMESH_FACE_OVAL in ring order, starting at the forehead, clockwise on screen.
pub const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127,
    162, 21, 54, 103, 67, 109,
];
pub const CHIN: usize = 152;
pub const FOREHEAD: usize = 10;
/// Widest points of the face oval, subject's right (image left) and left.
pub const CHEEK_RIGHT: usize = 234;
pub const CHEEK_LEFT: usize = 454;

/// 468 mesh points mapped back into the coordinates of the image given to [`run`].
/// `z` is in the same pixel scale as x (MediaPipe convention, smaller = closer to the camera).
#[derive(Clone, Debug)]
pub struct FaceMesh {
    pub points: Vec<[f32; 3]>,
    /// Face-presence probability (sigmoid of the model's logit).
    pub presence: f32,
}

impl FaceMesh {
    /// Point `i` in image coordinates; NaN if the mesh has no such point (never for [`run`]'s).
    pub fn point(&self, i: usize) -> Point {
        self.points.get(i).map_or(Point::new(f32::NAN, f32::NAN), |p| Point::new(p[0], p[1]))
    }

    fn z(&self, i: usize) -> f32 {
        self.points.get(i).map_or(f32::NAN, |p| p[2])
    }

    fn mean(&self, idx: &[usize]) -> Point {
        let (sx, sy) = idx.iter().map(|&i| self.point(i)).fold((0.0, 0.0), |(sx, sy), p| (sx + p.x, sy + p.y));
        Point::new(sx / idx.len() as f32, sy / idx.len() as f32)
    }

    /// True when the subject's right eye is on the image left (upright, not mirrored-by-pose).
    fn right_eye_is_image_left(&self) -> bool {
        // Anything but "clearly greater" (including NaN) keeps the normal order.
        self.mean(&RIGHT_EYE).x.partial_cmp(&self.mean(&LEFT_EYE).x) != Some(std::cmp::Ordering::Greater)
    }

    /// Centre of the eye that appears on the left of the image (the person's right eye).
    pub fn left_eye_center(&self) -> Point {
        let (r, l) = (self.mean(&RIGHT_EYE), self.mean(&LEFT_EYE));
        if self.right_eye_is_image_left() { r } else { l }
    }
    pub fn right_eye_center(&self) -> Point {
        let (r, l) = (self.mean(&RIGHT_EYE), self.mean(&LEFT_EYE));
        if self.right_eye_is_image_left() { l } else { r }
    }
    /// Lowest point of the chin (mesh index 152).
    pub fn chin(&self) -> Point {
        self.point(CHIN)
    }
    /// Top of the forehead on the face oval (mesh index 10).
    pub fn forehead(&self) -> Point {
        self.point(FOREHEAD)
    }
    /// Eye openness per eye: lid distance / eye width (about 0.25-0.35 open, < 0.12 closed).
    /// Ordered like the eye centres: image-left eye first.
    pub fn eye_openness(&self) -> (f32, f32) {
        let ratio = |top: usize, bottom: usize, c0: usize, c1: usize| {
            let w = self.point(c0).dist(self.point(c1));
            if w > 0.0 { self.point(top).dist(self.point(bottom)) / w } else { 0.0 }
        };
        let right = ratio(159, 145, 33, 133);
        let left = ratio(386, 374, 362, 263);
        if self.right_eye_is_image_left() { (right, left) } else { (left, right) }
    }
    /// Head yaw and pitch estimates in degrees (0 = frontal). Sign: positive yaw = face turned to image right.
    ///
    /// Yaw is the depth difference of the cheek extremes (234, 454) against their in-plane
    /// distance; pitch likewise for forehead (10) and chin (152), positive = chin raised (face
    /// tilted up). Both use in-plane distances, so in-plane roll does not leak into them.
    /// Measured on frontal portraits the pitch reads a few degrees negative (astronaut about -12,
    /// Grace Hopper about -5): the mesh puts the forehead slightly ahead of the chin.
    pub fn yaw_pitch_deg(&self) -> (f32, f32) {
        let angle = |near: usize, far: usize| {
            // Turning towards `far` brings `near` forward (smaller z) and sends `far` back.
            let dz = self.z(far) - self.z(near);
            let d = self.point(near).dist(self.point(far));
            dz.atan2(d).to_degrees()
        };
        (angle(CHEEK_RIGHT, CHEEK_LEFT), angle(CHIN, FOREHEAD))
    }
    /// Closed polygons (image coordinates) for masks: face oval, both eyes, both brows, outer lips.
    pub fn face_oval(&self) -> Vec<Point> {
        FACE_OVAL.iter().map(|&i| self.point(i)).collect()
    }
    /// Image-left eye, image-right eye, image-left brow, image-right brow, outer lips.
    pub fn eyes_brows_lips(&self) -> Vec<Vec<Point>> {
        let poly = |idx: &[usize]| idx.iter().map(|&i| self.point(i)).collect::<Vec<_>>();
        let (eyes, brows) = if self.right_eye_is_image_left() {
            ([&RIGHT_EYE, &LEFT_EYE], [&RIGHT_BROW, &LEFT_BROW])
        } else {
            ([&LEFT_EYE, &RIGHT_EYE], [&LEFT_BROW, &RIGHT_BROW])
        };
        vec![poly(eyes[0]), poly(eyes[1]), poly(brows[0]), poly(brows[1]), poly(&LIPS_OUTER)]
    }
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

/// The map from model-input pixels (0..192) to image pixels for `face`: centre of the box,
/// side 1.5x its longer side, x axis along the detector's eye line (landmark 0 -> 1).
pub fn crop_transform(face: &Face) -> Result<Affine> {
    let b = &face.bbox;
    let (e0, e1) = (face.landmarks[0], face.landmarks[1]);
    let vals = [b.x0, b.y0, b.x1, b.y1, e0.x, e0.y, e1.x, e1.y];
    if !vals.iter().all(|v| v.is_finite()) {
        return Err(Error::InvalidInput("face box or eye landmarks are not finite".into()));
    }
    let side = CROP_SCALE * b.width().max(b.height());
    if !side.is_finite() || side < 1.0 {
        return Err(Error::InvalidInput(format!("face box too small for landmarks: {:.2} px", b.width().max(b.height()))));
    }
    // atan2(0, 0) = 0: coincident eyes simply mean no rotation.
    let angle = (e1.y - e0.y).atan2(e1.x - e0.x);
    let half = INPUT_SIZE as f32 * 0.5;
    Ok(Affine::similarity(Point::new(half, half), b.center(), angle, side / INPUT_SIZE as f32))
}

/// Runs the face mesh on a square crop around `face` (1.5x the box, rotated upright using the
/// eyes of `face`), and maps the result back to `img` coordinates.
pub fn run(session: &mut Session, img: &Rgb8, face: &Face) -> Result<FaceMesh> {
    if img.channels != 3 {
        return Err(Error::InvalidInput(format!("face mesh needs RGB, got {} channels", img.channels)));
    }
    if img.width == 0 || img.height == 0 || img.data.len() != img.width * img.height * 3 {
        return Err(Error::InvalidInput("face mesh needs a non-empty image whose buffer matches its size".into()));
    }
    let t = crop_transform(face)?;
    // The crop is the same resampling as the output composition (prefiltered when it shrinks).
    let input = crate::compose::compose(img, &t.inverse(), INPUT_SIZE, INPUT_SIZE).frame.data;
    let n = INPUT_SIZE;
    let tensor = ort::value::TensorRef::from_array_view(([1usize, n, n, 3], &input[..])).map_err(|e| Error::inference(STAGE, e))?;
    let ro = crate::runtime::run_options()?;
    let outputs = session.run_with_options(ort::inputs!["input_1" => tensor], &*ro).map_err(|e| Error::inference(STAGE, e))?;
    let get = |name: &str| -> Result<&[f32]> {
        let v = outputs.get(name).ok_or_else(|| Error::inference(STAGE, format!("model has no output `{name}`")))?;
        let (_, data) = v.try_extract_tensor::<f32>().map_err(|e| Error::inference(STAGE, e))?;
        Ok(data)
    };
    let (pts, presence) = (get("conv2d_21")?, get("conv2d_31")?);
    if pts.len() != NUM_POINTS * 3 || presence.is_empty() {
        return Err(Error::inference(STAGE, format!("unexpected output sizes: {} points values, {} presence", pts.len(), presence.len())));
    }
    let crop = FaceMesh {
        points: pts.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
        presence: 1.0 / (1.0 + (-presence[0]).exp()),
    };
    Ok(crop.transformed(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::tests::{fixture, mirror};
    use crate::detect::{detect, Face};
    use crate::geometry::BBox;
    use crate::models::{DETECTOR, FACE_MESH};
    use crate::runtime::test_session;

    struct Sessions {
        det: Session,
        mesh: Session,
    }

    fn sessions() -> Sessions {
        Sessions { det: test_session("detect", DETECTOR.bytes), mesh: test_session("landmarks", FACE_MESH.bytes) }
    }

    fn detect_and_mesh(s: &mut Sessions, img: &Rgb8) -> (Face, FaceMesh) {
        let faces = detect(&mut s.det, img).unwrap();
        assert_eq!(faces.len(), 1, "{faces:?}");
        let face = faces.into_iter().next().unwrap();
        let mesh = run(&mut s.mesh, img, &face).unwrap();
        (face, mesh)
    }

    /// Rotates `img` by `deg` about its centre: a direction at angle a (atan2 in image
    /// coordinates, y down) ends up at a + deg. Outside is mid grey.
    fn rotate(img: &Rgb8, deg: f32) -> Rgb8 {
        let c = Point::new(img.width as f32 * 0.5, img.height as f32 * 0.5);
        let fwd = Affine::similarity(c, c, deg.to_radians(), 1.0);
        crate::compose::compose(img, &fwd, img.width, img.height).frame.to_u8()
    }

    fn eye_angle_deg(m: &FaceMesh) -> f32 {
        let (l, r) = (m.left_eye_center(), m.right_eye_center());
        (r.y - l.y).atan2(r.x - l.x).to_degrees()
    }

    #[test]
    fn astronaut_mesh() {
        let mut s = sessions();
        let (face, m) = detect_and_mesh(&mut s, &fixture("astronaut.png"));
        assert_eq!(m.points.len(), NUM_POINTS);
        assert!(m.presence > 0.9, "presence {}", m.presence);
        let (l, r) = (m.left_eye_center(), m.right_eye_center());
        assert!(l.dist(face.landmarks[0]) < 5.0, "{l:?} vs {:?}", face.landmarks[0]);
        assert!(r.dist(face.landmarks[1]) < 5.0, "{r:?} vs {:?}", face.landmarks[1]);
        // MediaPipe's "right eye" ring is the image-left eye on a normal photo.
        assert!(m.point(33).x < m.point(263).x);
        let chin = m.chin();
        assert!(chin.y > l.y + 40.0 && chin.y > face.landmarks[3].y, "chin {chin:?}");
        assert!(m.forehead().y < l.y);
        let (ol, or) = m.eye_openness();
        assert!(ol > 0.15 && or > 0.15 && ol < 0.6 && or < 0.6, "openness {ol} {or}");
        let (yaw, pitch) = m.yaw_pitch_deg();
        assert!(yaw.abs() < 15.0 && pitch.abs() < 20.0, "yaw {yaw} pitch {pitch}");
        // Polygons: the oval encloses the eyes, and all five feature polygons are sane.
        let oval = m.face_oval();
        assert_eq!(oval.len(), 36);
        let minx = oval.iter().map(|p| p.x).fold(f32::MAX, f32::min);
        let maxx = oval.iter().map(|p| p.x).fold(f32::MIN, f32::max);
        assert!(minx < l.x && r.x < maxx);
        let polys = m.eyes_brows_lips();
        assert_eq!(polys.iter().map(Vec::len).collect::<Vec<_>>(), vec![16, 16, 10, 10, 20]);
        assert!(polys[0][0].x < polys[1][0].x && polys[2][0].x < polys[3][0].x);
        assert!(polys[2].iter().all(|p| p.y < l.y + 2.0) && polys[4].iter().all(|p| p.y > l.y + 20.0));
    }

    #[test]
    fn rotated_astronaut_rotates_the_eye_line() {
        let mut s = sessions();
        let img = fixture("astronaut.png");
        let (_, m0) = detect_and_mesh(&mut s, &img);
        let (_, m1) = detect_and_mesh(&mut s, &rotate(&img, 10.0));
        let d = eye_angle_deg(&m1) - eye_angle_deg(&m0);
        assert!((d - 10.0).abs() < 1.0, "eye line turned by {d} degrees");
        // The eye centres themselves follow the rotation.
        let c = Point::new(256.0, 256.0);
        let fwd = Affine::similarity(c, c, 10f32.to_radians(), 1.0);
        for (a, b) in [(m0.left_eye_center(), m1.left_eye_center()), (m0.right_eye_center(), m1.right_eye_center())] {
            assert!(fwd.apply(a).dist(b) < 3.0, "{a:?} rotated is {:?}, mesh says {b:?}", fwd.apply(a));
        }
        // Roll does not leak into yaw/pitch.
        let ((y0, p0), (y1, p1)) = (m0.yaw_pitch_deg(), m1.yaw_pitch_deg());
        assert!((y0 - y1).abs() < 3.0 && (p0 - p1).abs() < 3.0, "{y0},{p0} vs {y1},{p1}");
    }

    #[test]
    fn mirrored_astronaut_flips_yaw_and_eyes() {
        let mut s = sessions();
        let img = fixture("astronaut.png");
        let w = img.width as f32;
        let (_, m0) = detect_and_mesh(&mut s, &img);
        let (_, m1) = detect_and_mesh(&mut s, &mirror(&img));
        let (l0, r0, l1, r1) = (m0.left_eye_center(), m0.right_eye_center(), m1.left_eye_center(), m1.right_eye_center());
        assert!((w - r0.x - l1.x).abs() < 2.0 && (r0.y - l1.y).abs() < 2.0, "{r0:?} vs {l1:?}");
        assert!((w - l0.x - r1.x).abs() < 2.0 && (l0.y - r1.y).abs() < 2.0, "{l0:?} vs {r1:?}");
        // Yaw is close to zero on this frontal face, so check the flip as yaw1 = -yaw0.
        let ((y0, p0), (y1, p1)) = (m0.yaw_pitch_deg(), m1.yaw_pitch_deg());
        assert!((y0 + y1).abs() < 2.0, "yaw {y0} vs mirrored {y1}");
        assert!((p0 - p1).abs() < 2.0, "pitch {p0} vs mirrored {p1}");
    }

    /// The sign convention on a synthetic turn: rotating the astronaut's own mesh about the
    /// vertical axis so the nose goes to image right must give positive yaw of that size.
    #[test]
    fn yaw_and_pitch_signs_on_a_turned_mesh() {
        let mut s = sessions();
        let (_, m) = detect_and_mesh(&mut s, &fixture("astronaut.png"));
        let (yaw0, pitch0) = m.yaw_pitch_deg();
        let n = m.points.len() as f32;
        let c: [f32; 3] = std::array::from_fn(|k| m.points.iter().map(|p| p[k]).sum::<f32>() / n);
        let turn = |deg: f32, vertical_axis: bool| {
            let (sn, cs) = deg.to_radians().sin_cos();
            let points = m
                .points
                .iter()
                .map(|p| {
                    let (x, y, z) = (p[0] - c[0], p[1] - c[1], p[2] - c[2]);
                    if vertical_axis {
                        // Front (-z) towards +x.
                        [c[0] + x * cs - z * sn, p[1], c[2] + x * sn + z * cs]
                    } else {
                        // Front (-z) towards -y (up): chin raised.
                        [p[0], c[1] + y * cs + z * sn, c[2] - y * sn + z * cs]
                    }
                })
                .collect();
            FaceMesh { points, presence: m.presence }
        };
        let (yaw, _) = turn(20.0, true).yaw_pitch_deg();
        assert!((yaw - yaw0 - 20.0).abs() < 3.0, "turned 20 deg right: yaw {yaw} (frontal {yaw0})");
        // The nose tip agrees: it moved right of the cheek midpoint.
        let t = turn(20.0, true);
        assert!(t.point(1).x > (t.point(234).x + t.point(454).x) * 0.5);
        let (_, pitch) = turn(15.0, false).yaw_pitch_deg();
        assert!((pitch - pitch0 - 15.0).abs() < 3.0, "tilted up 15 deg: pitch {pitch} (frontal {pitch0})");
    }

    #[test]
    fn border_tiny_and_invalid_inputs_do_not_panic() {
        let mut s = sessions();
        let img = fixture("astronaut.png");
        let (face, _) = detect_and_mesh(&mut s, &img);
        // The face pushed half out of the image: sampling clamps, the mesh stays finite.
        let shift = |f: &Face, dx: f32, dy: f32| {
            let mut g = f.clone();
            g.bbox = BBox { x0: f.bbox.x0 + dx, y0: f.bbox.y0 + dy, x1: f.bbox.x1 + dx, y1: f.bbox.y1 + dy };
            for p in g.landmarks.iter_mut() {
                p.x += dx;
                p.y += dy;
            }
            g
        };
        for (dx, dy) in [(-250.0, 0.0), (300.0, 400.0), (-1e4, -1e4)] {
            let m = run(&mut s.mesh, &img, &shift(&face, dx, dy)).unwrap();
            assert!(m.points.iter().flatten().all(|v| v.is_finite()));
        }
        // A huge box on a small image exercises the supersampling cap.
        let mut big = face.clone();
        big.bbox = BBox { x0: -3000.0, y0: -3000.0, x1: 3000.0, y1: 3000.0 };
        assert!(run(&mut s.mesh, &img, &big).is_ok());
        let one = Rgb8::new(1, 1, 3);
        assert!(run(&mut s.mesh, &one, &face).is_ok());
        assert!(matches!(run(&mut s.mesh, &Rgb8::new(0, 0, 3), &face), Err(Error::InvalidInput(_))));
        assert!(matches!(run(&mut s.mesh, &Rgb8::new(2, 2, 1), &face), Err(Error::InvalidInput(_))));
        let mut empty = face.clone();
        empty.bbox = BBox { x0: 5.0, y0: 5.0, x1: 5.0, y1: 5.0 };
        assert!(matches!(run(&mut s.mesh, &img, &empty), Err(Error::InvalidInput(_))));
        let mut nan = face.clone();
        nan.landmarks[0].x = f32::NAN;
        assert!(matches!(run(&mut s.mesh, &img, &nan), Err(Error::InvalidInput(_))));
        // Accessors on a malformed mesh return NaN instead of panicking.
        let m = FaceMesh { points: Vec::new(), presence: 0.0 };
        assert!(m.chin().x.is_nan() && m.left_eye_center().x.is_nan());
        let _ = (m.eye_openness(), m.yaw_pitch_deg(), m.face_oval(), m.eyes_brows_lips());
    }

    #[test]
    fn crop_transform_levels_the_eyes() {
        let face = Face {
            bbox: BBox { x0: 100.0, y0: 100.0, x1: 200.0, y1: 220.0 },
            score: 1.0,
            landmarks: [Point::new(120.0, 140.0), Point::new(170.0, 190.0), Point::default(), Point::default(), Point::default()],
        };
        let t = crop_transform(&face).unwrap();
        assert!((t.scale() - 1.5 * 120.0 / 192.0).abs() < 1e-5);
        let c = t.apply(Point::new(96.0, 96.0));
        assert!((c.x - 150.0).abs() < 1e-3 && (c.y - 160.0).abs() < 1e-3);
        // In crop coordinates the two eyes are level, the first on the left.
        let inv = t.inverse();
        let (a, b) = (inv.apply(face.landmarks[0]), inv.apply(face.landmarks[1]));
        assert!((a.y - b.y).abs() < 1e-3 && a.x < b.x);
    }
}
