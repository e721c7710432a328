//! Quality findings against the preset. Each check yields a typed finding; none is silently dropped.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something the pipeline did or noticed; no action needed.
    Info,
    /// The result is usable but the photo is not ideal for this preset.
    Warning,
    /// The result will likely be rejected for this purpose; retake the photo.
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    MultipleFaces,
    FaceTooSmall,
    RollCorrected,
    RollTooLarge,
    YawTooLarge,
    PitchTooLarge,
    Blurry,
    Underexposed,
    Overexposed,
    EyesClosed,
    FrameExtended,
    HeadHeightOutOfBand,
    EyeLineOutOfBand,
    PresetNotice,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    pub message: String,
    /// The measured value behind the finding (degrees, ratio, ...), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f32>,
}

impl Finding {
    pub fn new(code: FindingCode, severity: Severity, message: impl Into<String>, value: Option<f32>) -> Self {
        Finding { code, severity, message: message.into(), value }
    }
}

use crate::geometry::Point;
use crate::landmarks::FaceMesh;
use crate::presets::Preset;
use crate::raster::Image;

/// Everything the checks look at, measured by the earlier stages.
pub(crate) struct Facts<'a> {
    pub preset: &'a Preset,
    pub faces_found: usize,
    pub roll_deg: f32,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    /// Output pixels per full-resolution input pixel.
    pub upscale: f32,
    pub eye_openness: (f32, f32),
    pub extended: f32,
    /// The composed output frame (RGB [0,1]) and the mesh in its coordinates.
    pub frame: &'a Image<f32>,
    pub mesh: &'a FaceMesh,
}

/// Blur threshold: variance of the Laplacian of luminance (0..255) on the face, measured with
/// the face normalised to an inter-ocular distance of 64 px.
pub(crate) const BLUR_MIN_LAPLACIAN_VAR: f32 = 25.0;

pub(crate) fn assess(f: &Facts<'_>) -> Vec<Finding> {
    use FindingCode as C;
    use Severity as S;
    let p = f.preset;
    let mut v = Vec::new();
    if f.faces_found > 1 {
        v.push(Finding::new(C::MultipleFaces, S::Warning, format!("{} faces found; the largest, most central one was used", f.faces_found), Some(f.faces_found as f32)));
    }
    if f.upscale > 1.0 {
        let sev = if f.upscale > 3.0 { S::Critical } else if f.upscale > 1.5 { S::Warning } else { S::Info };
        v.push(Finding::new(
            C::FaceTooSmall,
            sev,
            format!("the face had to be enlarged {:.1}x for {} at {} dpi; a closer or higher-resolution photo would be sharper", f.upscale, p.name, p.dpi),
            Some(f.upscale),
        ));
    }
    let roll = f.roll_deg.abs();
    if roll > p.max_roll_deg {
        v.push(Finding::new(C::RollTooLarge, S::Warning, format!("the head was tilted {roll:.1}° (limit {:.0}°); it was levelled, but such a tilt often looks unnatural", p.max_roll_deg), Some(f.roll_deg)));
    } else if roll > 1.0 {
        v.push(Finding::new(C::RollCorrected, S::Info, format!("the eye line was levelled by {roll:.1}°"), Some(f.roll_deg)));
    }
    if f.yaw_deg.abs() > p.max_yaw_deg {
        v.push(Finding::new(C::YawTooLarge, S::Warning, format!("the head is turned {:.0}° sideways (limit {:.0}°); look towards the camera", f.yaw_deg.abs(), p.max_yaw_deg), Some(f.yaw_deg)));
    }
    if f.pitch_deg.abs() > p.max_pitch_deg {
        v.push(Finding::new(C::PitchTooLarge, S::Warning, format!("the head is tilted {:.0}° up or down (limit {:.0}°)", f.pitch_deg.abs(), p.max_pitch_deg), Some(f.pitch_deg)));
    }
    let (lo, ro) = f.eye_openness;
    if lo.min(ro) < 0.12 {
        v.push(Finding::new(C::EyesClosed, S::Warning, "the eyes look closed or nearly closed", Some(lo.min(ro))));
    }
    if let Some((mean, clipped, lap)) = face_stats(f.frame, f.mesh) {
        if mean < 0.25 {
            v.push(Finding::new(C::Underexposed, S::Warning, format!("the face is dark (mean luminance {mean:.2}); more light on the face would help"), Some(mean)));
        } else if mean > 0.85 || clipped > 0.15 {
            v.push(Finding::new(C::Overexposed, S::Warning, format!("the face is too bright ({:.0}% of it clipped to white)", clipped * 100.0), Some(mean)));
        }
        if lap < BLUR_MIN_LAPLACIAN_VAR {
            v.push(Finding::new(C::Blurry, S::Warning, format!("the face looks blurred (sharpness {lap:.0}, want at least {BLUR_MIN_LAPLACIAN_VAR:.0})"), Some(lap)));
        }
    }
    if f.extended > 0.005 {
        let sev = if f.extended > 0.15 { S::Warning } else { S::Info };
        v.push(Finding::new(C::FrameExtended, sev, format!("the photo did not reach the frame's edge: {:.0}% of the frame was filled with background", f.extended * 100.0), Some(f.extended)));
    }
    if let Some(n) = &p.notice {
        v.push(Finding::new(C::PresetNotice, S::Info, n.clone(), None));
    }
    v.sort_by_key(|f| std::cmp::Reverse(f.severity));
    v
}

/// Mean luminance, clipped fraction and sharpness on the inner face (between eyes and mouth,
/// cheek to cheek), sampled at a fixed inter-ocular distance so the numbers do not depend on size.
fn face_stats(frame: &Image<f32>, mesh: &FaceMesh) -> Option<(f32, f32, f32)> {
    if mesh.points.len() < 468 || frame.width < 4 || frame.height < 4 || frame.channels < 3 {
        return None;
    }
    let (l, r) = (mesh.left_eye_center(), mesh.right_eye_center());
    let iod = l.dist(r);
    // Written this way round so a NaN distance is refused too.
    if iod.is_nan() || iod <= 2.0 {
        return None;
    }
    // A 96x96 grid covering the face: origin above the eye line, unit = iod / 64.
    let (ux, uy) = ((r.x - l.x) / iod, (r.y - l.y) / iod);
    let step = iod / 64.0;
    let mid = l.mid(r);
    let origin = Point::new(mid.x - 48.0 * step * ux + 20.0 * step * uy, mid.y - 48.0 * step * uy - 20.0 * step * ux);
    const N: usize = 96;
    let mut lum = vec![0f32; N * N];
    for j in 0..N {
        for i in 0..N {
            let x = origin.x + (i as f32 * ux - j as f32 * uy) * step;
            let y = origin.y + (i as f32 * uy + j as f32 * ux) * step;
            let [rr, gg, bb] = frame.sample_px::<3>(x, y);
            lum[j * N + i] = 0.2126 * rr + 0.7152 * gg + 0.0722 * bb;
        }
    }
    // Inner face only: a centred region of the grid (eyes to mouth, inside the cheeks).
    let (mut sum, mut n, mut clip) = (0f32, 0f32, 0f32);
    let (mut ls, mut ls2, mut ln) = (0f32, 0f32, 0f32);
    for j in 16..80 {
        for i in 16..80 {
            let v = lum[j * N + i];
            sum += v;
            n += 1.0;
            if v > 0.98 {
                clip += 1.0;
            }
            let lap = 255.0 * (4.0 * v - lum[j * N + i - 1] - lum[j * N + i + 1] - lum[(j - 1) * N + i] - lum[(j + 1) * N + i]);
            ls += lap;
            ls2 += lap * lap;
            ln += 1.0;
        }
    }
    let var = ls2 / ln - (ls / ln).powi(2);
    Some((sum / n, clip / n, var))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(preset: &'a Preset, frame: &'a Image<f32>, mesh: &'a FaceMesh) -> Facts<'a> {
        Facts { preset, faces_found: 1, roll_deg: 0.0, yaw_deg: 0.0, pitch_deg: 0.0, upscale: 0.8, eye_openness: (0.3, 0.3), extended: 0.0, frame, mesh }
    }

    fn codes(v: &[Finding]) -> Vec<FindingCode> {
        v.iter().map(|f| f.code).collect()
    }

    #[test]
    fn each_check_reports_and_a_good_photo_is_clean() {
        let p = Preset::builtin("bewerbung-45x60").unwrap();
        let frame = Image::<f32>::new(8, 8, 3);
        // A degenerate mesh: the pixel-based checks (exposure, blur) have nothing to measure.
        let mesh = FaceMesh { points: vec![[4.0, 4.0, 0.0]; 468], presence: 1.0 };
        assert!(assess(&facts(&p, &frame, &mesh)).is_empty());
        type Tweak = Box<dyn Fn(&mut Facts)>;
        let cases: Vec<(Tweak, FindingCode, Severity)> = vec![
            (Box::new(|f| f.eye_openness = (0.05, 0.3)), FindingCode::EyesClosed, Severity::Warning),
            (Box::new(|f| f.yaw_deg = -25.0), FindingCode::YawTooLarge, Severity::Warning),
            (Box::new(|f| f.pitch_deg = 20.0), FindingCode::PitchTooLarge, Severity::Warning),
            (Box::new(|f| f.roll_deg = 4.0), FindingCode::RollCorrected, Severity::Info),
            (Box::new(|f| f.roll_deg = -30.0), FindingCode::RollTooLarge, Severity::Warning),
            (Box::new(|f| f.upscale = 1.2), FindingCode::FaceTooSmall, Severity::Info),
            (Box::new(|f| f.upscale = 2.0), FindingCode::FaceTooSmall, Severity::Warning),
            (Box::new(|f| f.upscale = 4.0), FindingCode::FaceTooSmall, Severity::Critical),
            (Box::new(|f| f.extended = 0.3), FindingCode::FrameExtended, Severity::Warning),
            (Box::new(|f| f.faces_found = 3), FindingCode::MultipleFaces, Severity::Warning),
        ];
        for (set, code, sev) in cases {
            let mut f = facts(&p, &frame, &mesh);
            set(&mut f);
            let v = assess(&f);
            assert_eq!(codes(&v), vec![code]);
            assert_eq!(v[0].severity, sev, "{code:?}");
        }
    }

    #[test]
    fn notice_comes_last_and_worst_first() {
        let p = Preset::builtin("biometric-35x45").unwrap();
        let frame = Image::<f32>::new(8, 8, 3);
        let mesh = FaceMesh { points: vec![[4.0, 4.0, 0.0]; 468], presence: 1.0 };
        let mut f = facts(&p, &frame, &mesh);
        f.upscale = 4.0;
        f.roll_deg = 3.0;
        let v = assess(&f);
        assert_eq!(codes(&v), vec![FindingCode::FaceTooSmall, FindingCode::RollCorrected, FindingCode::PresetNotice]);
    }
}
