//! Output geometry as data. Built-ins below; users load their own from JSON.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A target band: the composition aims at `target`, and a result outside `[min, max]` is a finding.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub target: f32,
    pub min: f32,
    pub max: f32,
}

const fn band(target: f32, min: f32, max: f32) -> Band {
    Band { target, min, max }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub description: String,
    /// Output size in pixels.
    pub width_px: u32,
    pub height_px: u32,
    /// Pixel density written into the output (and used to state print sizes).
    pub dpi: u32,
    /// Head height (crown to chin) as a fraction of the frame height.
    pub head_height: Band,
    /// Eye line, as a fraction of the frame height from the top.
    pub eye_line: Band,
    /// Limits beyond which the pose is reported (degrees). Roll is corrected, the others cannot be.
    pub max_roll_deg: f32,
    pub max_yaw_deg: f32,
    pub max_pitch_deg: f32,
    /// Background used when the caller names none (a name accepted by `Background::parse`).
    pub default_background: String,
    /// A note attached to every result made with this preset (e.g. legal limits on its use).
    #[serde(default)]
    pub notice: Option<String>,
}

impl Preset {
    /// Parses and validates a custom preset from JSON.
    pub fn from_json(json: &str) -> Result<Preset> {
        let p: Preset = serde_json::from_str(json).map_err(|e| Error::InvalidOptions(format!("preset JSON: {e}")))?;
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidOptions(format!("preset `{}`: {m}", self.name)));
        if self.width_px < 16 || self.height_px < 16 || self.width_px > 10_000 || self.height_px > 10_000 {
            return bad("width_px and height_px must be between 16 and 10000");
        }
        if self.dpi == 0 || self.dpi > 2400 {
            return bad("dpi must be between 1 and 2400");
        }
        for (n, b) in [("head_height", self.head_height), ("eye_line", self.eye_line)] {
            if !(0.0 < b.min && b.min <= b.target && b.target <= b.max && b.max < 1.0) {
                return bad(&format!("{n} needs 0 < min <= target <= max < 1"));
            }
        }
        if self.eye_line.target - self.head_height.target * 0.5 < 0.0 {
            return bad("the crown would be above the frame (eye_line too high for head_height)");
        }
        Ok(())
    }

    /// Output size in millimetres at the preset's dpi.
    pub fn size_mm(&self) -> (f32, f32) {
        (self.width_px as f32 * 25.4 / self.dpi as f32, self.height_px as f32 * 25.4 / self.dpi as f32)
    }

    /// All built-in presets.
    pub fn builtins() -> Vec<Preset> {
        let p = |name: &str, desc: &str, w, h, dpi, head, eye, bg: &str, notice: Option<&str>| Preset {
            name: name.into(),
            description: desc.into(),
            width_px: w,
            height_px: h,
            dpi,
            head_height: head,
            eye_line: eye,
            max_roll_deg: 20.0,
            max_yaw_deg: 15.0,
            max_pitch_deg: 15.0,
            default_background: bg.into(),
            notice: notice.map(Into::into),
        };
        // Application photos: head and shoulders, head about half the frame, eyes a little above
        // the upper third line. Pixel sizes are the mm size at 300 dpi, rounded.
        let app_head = band(0.50, 0.44, 0.58);
        let app_eye = band(0.40, 0.35, 0.45);
        let mut v = vec![
            p("bewerbung-45x60", "Application photo 4.5 x 6 cm at 300 dpi", 531, 709, 300, app_head, app_eye, "studio-grey", None),
            p("bewerbung-40x50", "Application photo 4 x 5 cm at 300 dpi", 472, 591, 300, app_head, app_eye, "studio-grey", None),
            p("bewerbung-35x45", "Application photo 3.5 x 4.5 cm at 300 dpi", 413, 531, 300, app_head, app_eye, "studio-grey", None),
            p("digital-3x4", "Digital application photo for online portals (3:4, 1200 x 1600)", 1200, 1600, 300, app_head, app_eye, "studio-grey", None),
            p("linkedin", "Square profile photo (LinkedIn, 800 x 800)", 800, 800, 72, band(0.46, 0.38, 0.56), band(0.42, 0.36, 0.48), "light-grey", None),
            p("xing", "Square profile photo (XING, 1024 x 1024)", 1024, 1024, 72, band(0.46, 0.38, 0.56), band(0.42, 0.36, 0.48), "light-grey", None),
            // ICAO 9303 / German passport geometry: face (chin to crown) 32-36 mm of 45 mm.
            p(
                "biometric-35x45",
                "Biometric geometry check (ICAO 9303, 35 x 45 mm): preview only",
                413,
                531,
                300,
                band(34.0 / 45.0, 32.0 / 45.0, 36.0 / 45.0),
                band(0.47, 0.42, 0.52),
                "light-grey",
                Some(
                    "Preview only: since May 2025 German ID and passport photos must be taken by the authority or a \
                     registered photo provider and sent digitally; this preset checks the geometry but cannot produce an \
                     accepted ID photo.",
                ),
            ),
        ];
        for x in &mut v {
            if x.name == "biometric-35x45" {
                x.max_roll_deg = 8.0;
                x.max_yaw_deg = 8.0;
                x.max_pitch_deg = 8.0;
            }
        }
        v
    }

    /// Looks up a built-in preset by name.
    pub fn builtin(name: &str) -> Result<Preset> {
        Self::builtins().into_iter().find(|p| p.name == name).ok_or_else(|| {
            let names: Vec<String> = Self::builtins().into_iter().map(|p| p.name).collect();
            Error::InvalidOptions(format!("unknown preset `{name}`; built-ins are: {}", names.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_and_sized() {
        for p in Preset::builtins() {
            p.validate().unwrap();
        }
        let b = Preset::builtin("bewerbung-45x60").unwrap();
        assert_eq!((b.width_px, b.height_px, b.dpi), (531, 709, 300));
        let (w, h) = b.size_mm();
        assert!((w - 45.0).abs() < 0.1 && (h - 60.0).abs() < 0.1);
    }

    #[test]
    fn json_roundtrip_and_validation() {
        let p = Preset::builtin("linkedin").unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(Preset::from_json(&json).unwrap(), p);
        let bad = json.replace("\"width_px\":800", "\"width_px\":0");
        assert!(matches!(Preset::from_json(&bad), Err(Error::InvalidOptions(_))));
        assert!(Preset::builtin("nope").is_err());
    }
}
