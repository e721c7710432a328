//! What the caller asks for: input, consent, background, output format, policies.

use crate::error::{Error, Result};
use crate::presets::Preset;
use serde::{Deserialize, Serialize};

/// Explicit consent per scope. There is deliberately no `Default`: the caller must state it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Detect and measure the face to crop and level the photo. Required for every headshot.
    pub face_geometry: bool,
    /// Retouching that changes how the person looks (white balance, exposure, skin smoothing).
    pub appearance: bool,
}

impl Consent {
    pub const NONE: Consent = Consent { face_geometry: false, appearance: false };
    pub const FACE_GEOMETRY: Consent = Consent { face_geometry: true, appearance: false };
    pub const ALL: Consent = Consent { face_geometry: true, appearance: true };

    /// Parses a comma-separated list of scopes: `face-geometry`, `appearance` (or `none`).
    pub fn parse(s: &str) -> Result<Consent> {
        let mut c = Consent::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.replace('_', "-").as_str() {
                "face-geometry" => c.face_geometry = true,
                "appearance" => c.appearance = true,
                "none" => {}
                other => {
                    return Err(Error::InvalidOptions(format!(
                        "unknown consent scope `{other}` (known: face-geometry, appearance)"
                    )))
                }
            }
        }
        Ok(c)
    }

    pub fn scopes(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.face_geometry {
            v.push("face_geometry");
        }
        if self.appearance {
            v.push("appearance");
        }
        v
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    fn parse_hex(s: &str) -> Option<Rgb> {
        let h = s.strip_prefix('#')?;
        if h.len() != 6 || !h.is_ascii() {
            return None;
        }
        let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        Some(Rgb(v(0)?, v(2)?, v(4)?))
    }
}

/// The new background behind the person.
#[derive(Clone, Debug, PartialEq)]
pub enum Background {
    Solid(Rgb),
    /// Vertical gradient, top to bottom.
    Gradient(Rgb, Rgb),
    /// Radial "studio light": brighter centre behind the head, darker edges.
    Studio(Rgb),
    /// The original surroundings, strongly blurred.
    BlurredOriginal,
    /// A caller-supplied image (encoded bytes), scaled to cover the frame.
    Image(Vec<u8>),
    Transparent,
}

impl Background {
    /// Named colours offered everywhere.
    pub const NAMED: &'static [(&'static str, Rgb)] = &[
        ("studio-grey", Rgb(0x8e, 0x92, 0x97)),
        ("light-grey", Rgb(0xd9, 0xdb, 0xde)),
        ("white", Rgb(0xff, 0xff, 0xff)),
        ("blue-grey", Rgb(0x7a, 0x8b, 0x9e)),
        ("anthracite", Rgb(0x3b, 0x3f, 0x44)),
    ];

    /// Parses `studio-grey` (any named colour), `#rrggbb`, `gradient:#top,#bottom`,
    /// `studio` / `studio:#rrggbb`, `blur`, `transparent`.
    pub fn parse(s: &str) -> Result<Background> {
        let colour = |c: &str| -> Result<Rgb> {
            Self::NAMED
                .iter()
                .find(|(n, _)| *n == c)
                .map(|(_, rgb)| *rgb)
                .or_else(|| Rgb::parse_hex(c))
                .ok_or_else(|| {
                    let names: Vec<&str> = Self::NAMED.iter().map(|(n, _)| *n).collect();
                    Error::InvalidOptions(format!(
                        "unknown background `{c}`: use #rrggbb, one of {}, gradient:A,B, studio[:COLOUR], blur or transparent",
                        names.join(", ")
                    ))
                })
        };
        let s = s.trim();
        Ok(match s {
            "transparent" => Background::Transparent,
            "blur" | "blurred" | "blurred-original" => Background::BlurredOriginal,
            "studio" => Background::Studio(colour("studio-grey")?),
            _ if s.starts_with("studio:") => Background::Studio(colour(&s[7..])?),
            _ if s.starts_with("gradient:") => {
                let (a, b) = s[9..]
                    .split_once(',')
                    .ok_or_else(|| Error::InvalidOptions("gradient needs two colours: gradient:TOP,BOTTOM".into()))?;
                Background::Gradient(colour(a.trim())?, colour(b.trim())?)
            }
            _ => Background::Solid(colour(s)?),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Jpeg,
    Png,
    Webp,
    /// Raw RGBA8 pixels, no encoding.
    Pixels,
}

impl OutputFormat {
    pub fn parse(s: &str) -> Result<OutputFormat> {
        match s.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(OutputFormat::Jpeg),
            "png" => Ok(OutputFormat::Png),
            "webp" => Ok(OutputFormat::Webp),
            "pixels" | "rgba" => Ok(OutputFormat::Pixels),
            o => Err(Error::InvalidOptions(format!("unknown output format `{o}` (jpeg, png, webp, pixels)"))),
        }
    }
}

/// What to do when several faces are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiFacePolicy {
    /// Use the largest, most central face and report the others as a finding. The detector
    /// looks at 160 px first here, so a second face under about 1/8 of the picture's long side
    /// may go unreported.
    Largest,
    /// Refuse with [`Error::MultipleFaces`]. The detector starts at 320 px, so smaller
    /// bystanders count too.
    Error,
}

#[derive(Clone, Debug)]
pub struct ProcessOptions {
    pub preset: Preset,
    /// `None`: the preset's default background.
    pub background: Option<Background>,
    pub consent: Consent,
    /// Retouch strength in [0, 1]; `None` or 0 turns retouching off. Needs `appearance` consent.
    pub retouch: Option<f32>,
    pub format: OutputFormat,
    /// JPEG/WebP quality 1..=100.
    pub quality: u8,
    /// Largest acceptable encoded size in KiB (JPEG quality is lowered to fit).
    pub max_kb: Option<u32>,
    pub multi_face: MultiFacePolicy,
    /// Return the face landmarks (in output pixels) in the result. Off unless asked.
    pub return_landmarks: bool,
    /// Encrypt the encoded output (age format) before it leaves the engine.
    pub seal: Option<crate::seal::Seal>,
    /// Time allowed from submission (queue wait included) to the start of the last stage; past
    /// it the request fails with [`Error::Timeout`]. `None`: no budget.
    pub time_budget: Option<std::time::Duration>,
}

impl ProcessOptions {
    /// Options for a preset with explicit consent; everything else at its default.
    pub fn new(preset: Preset, consent: Consent) -> Self {
        ProcessOptions {
            preset,
            background: None,
            consent,
            retouch: None,
            format: OutputFormat::Jpeg,
            quality: 92,
            max_kb: None,
            multi_face: MultiFacePolicy::Largest,
            return_landmarks: false,
            seal: None,
            time_budget: None,
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.preset.validate()?;
        if !(1..=100).contains(&self.quality) {
            return Err(Error::InvalidOptions(format!("quality must be 1..=100, got {}", self.quality)));
        }
        if let Some(r) = self.retouch {
            if !(0.0..=1.0).contains(&r) || r.is_nan() {
                return Err(Error::InvalidOptions(format!("retouch strength must be in [0, 1], got {r}")));
            }
        }
        if matches!(self.background, Some(Background::Transparent)) && self.format == OutputFormat::Jpeg {
            return Err(Error::InvalidOptions("a transparent background needs PNG, WebP or pixels output, not JPEG".into()));
        }
        if let Some(s) = &self.seal {
            if self.format == OutputFormat::Pixels {
                return Err(Error::InvalidOptions("sealing needs an encoded output (jpeg, png or webp), not pixels".into()));
            }
            if self.return_landmarks {
                return Err(Error::InvalidOptions("landmarks would leave the engine unsealed: do not ask for them with a sealed output".into()));
            }
            s.validate()?;
        }
        if self.time_budget.is_some_and(|t| t.is_zero()) {
            return Err(Error::InvalidOptions("time_budget_ms must be at least 1 (leave it out for no budget)".into()));
        }
        if let Some(kb) = self.max_kb {
            if kb < 4 {
                return Err(Error::InvalidOptions("max_kb must be at least 4".into()));
            }
        }
        Ok(())
    }

    pub fn retouch_strength(&self) -> f32 {
        self.retouch.unwrap_or(0.0)
    }
}

/// Options as plain data (JSON, Python kwargs, JS objects): what every binding converts into
/// [`ProcessOptions`], so no binding repeats the parsing. Consent has no default here either.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptionsSpec {
    /// A built-in preset name (default `bewerbung-45x60`) ...
    pub preset: Option<String>,
    /// ... or a whole custom preset (see [`Preset`]); wins over `preset`.
    pub custom_preset: Option<Preset>,
    /// A name, `#rrggbb`, `gradient:#a,#b`, `studio[:#rrggbb]`, `blur`, `transparent`.
    pub background: Option<String>,
    /// Required: the scopes the person agreed to. Missing = no consent at all.
    pub consent: Option<Consent>,
    pub retouch: Option<f32>,
    /// `jpeg` (default), `png`, `webp`, `pixels`.
    pub format: Option<String>,
    pub quality: Option<u8>,
    pub max_kb: Option<u32>,
    /// `largest` (default) or `error`.
    pub multi_face: Option<MultiFacePolicy>,
    pub return_landmarks: bool,
    /// Seal (encrypt) the output to these age X25519 recipients (`age1…`) ...
    pub seal_to: Option<Vec<String>>,
    /// ... or with this passphrase (age scrypt). Not both.
    pub seal_passphrase: Option<String>,
    /// Milliseconds the request may take from submission, queue wait included; past it the
    /// request fails with `timeout` (never a partial output). Absent: no budget.
    pub time_budget_ms: Option<u64>,
}

impl OptionsSpec {
    pub fn from_json(json: &str) -> Result<OptionsSpec> {
        // serde would also take a JSON array as a struct; options are an object.
        if !json.trim_start().starts_with('{') {
            return Err(Error::InvalidOptions("options JSON must be an object".into()));
        }
        serde_json::from_str(json).map_err(|e| Error::InvalidOptions(format!("options JSON: {e}")))
    }

    /// Validated options. `background_image` is the encoded photo for an image background
    /// (bytes do not travel well in JSON).
    pub fn into_options(self, background_image: Option<Vec<u8>>) -> Result<ProcessOptions> {
        let preset = match (self.custom_preset, self.preset) {
            (Some(p), _) => p,
            (None, Some(name)) => Preset::builtin(&name)?,
            (None, None) => Preset::builtin("bewerbung-45x60")?,
        };
        let mut o = ProcessOptions::new(preset, self.consent.unwrap_or(Consent::NONE));
        o.background = match (background_image, self.background) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidOptions("give either a background or a background image, not both".into()))
            }
            (Some(img), None) => Some(Background::Image(img)),
            (None, Some(b)) => Some(Background::parse(&b)?),
            (None, None) => None,
        };
        o.retouch = self.retouch;
        if let Some(f) = self.format {
            o.format = OutputFormat::parse(&f)?;
        }
        if let Some(q) = self.quality {
            o.quality = q;
        }
        o.max_kb = self.max_kb;
        if let Some(m) = self.multi_face {
            o.multi_face = m;
        }
        o.return_landmarks = self.return_landmarks;
        o.seal = match (self.seal_to, self.seal_passphrase) {
            (Some(_), Some(_)) => return Err(Error::InvalidOptions("give seal_to or seal_passphrase, not both".into())),
            (Some(r), None) => Some(crate::seal::Seal::Recipients(r)),
            (None, Some(p)) => Some(crate::seal::Seal::Passphrase(crate::seal::Passphrase::new(p))),
            (None, None) => None,
        };
        o.time_budget = self.time_budget_ms.map(std::time::Duration::from_millis);
        o.validate()?;
        Ok(o)
    }
}

/// Pixel layouts accepted by [`Input::Pixels`]. 16-bit and float are native-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    Rgb8,
    Rgba8,
    Rgb16,
    Rgba16,
    RgbF32,
    RgbaF32,
}

impl PixelFormat {
    pub fn channels(self) -> usize {
        match self {
            PixelFormat::Rgb8 | PixelFormat::Rgb16 | PixelFormat::RgbF32 => 3,
            _ => 4,
        }
    }
    pub fn bytes_per_channel(self) -> usize {
        match self {
            PixelFormat::Rgb8 | PixelFormat::Rgba8 => 1,
            PixelFormat::Rgb16 | PixelFormat::Rgba16 => 2,
            PixelFormat::RgbF32 | PixelFormat::RgbaF32 => 4,
        }
    }
    pub fn bytes_per_pixel(self) -> usize {
        self.channels() * self.bytes_per_channel()
    }
}

/// A borrowed pixel buffer; `stride` is the distance between rows in bytes.
#[derive(Clone, Copy, Debug)]
pub struct PixelsRef<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub format: PixelFormat,
}

impl PixelsRef<'_> {
    /// Bytes the buffer must hold: `stride * (height - 1) + width * bytes_per_pixel`, validated.
    pub fn required_len(&self) -> Result<usize> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if self.width == 0 || self.height == 0 {
            return bad(format!("pixel buffer has an empty size ({}x{})", self.width, self.height));
        }
        let bpp = self.format.bytes_per_pixel();
        let Some(row) = (self.width as usize).checked_mul(bpp) else { return bad("pixel buffer width overflows".into()) };
        if self.stride < row {
            return bad(format!(
                "stride {} is smaller than one row: width {} x {} bytes per pixel ({:?}) = {}",
                self.stride, self.width, bpp, self.format, row
            ));
        }
        let Some(need) = self.stride.checked_mul(self.height as usize - 1).and_then(|v| v.checked_add(row)) else {
            return bad(format!("stride {} x height {} overflows the address space", self.stride, self.height));
        };
        if self.data.len() < need {
            return bad(format!(
                "pixel buffer holds {} bytes; {}x{} {:?} with stride {} needs at least {need} (stride x (height - 1) + width x {bpp})",
                self.data.len(),
                self.width,
                self.height,
                self.format,
                self.stride
            ));
        }
        Ok(need)
    }
}

/// The photo, as encoded bytes (JPEG, PNG, WebP, GIF) or as pixels.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    Encoded(&'a [u8]),
    Pixels(PixelsRef<'a>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_spec_from_json() {
        let o = OptionsSpec::from_json(r#"{"preset":"linkedin","background":"white","consent":{"face_geometry":true,"appearance":false},"format":"png"}"#)
            .unwrap()
            .into_options(None)
            .unwrap();
        assert_eq!(o.preset.name, "linkedin");
        assert_eq!(o.format, OutputFormat::Png);
        assert_eq!(o.background, Some(Background::Solid(Rgb(255, 255, 255))));
        assert_eq!(o.consent, Consent::FACE_GEOMETRY);
        // No consent given means none, never a default.
        assert_eq!(OptionsSpec::from_json("{}").unwrap().into_options(None).unwrap().consent, Consent::NONE);
        for bad in ["[]", r#"{"seal_to":["age1x"]}"#, r#"{"seal_to":[],"seal_passphrase":"p"}"#, r#"{"presett":"x"}"#, r#"{"quality":0}"#, r#"{"format":"gif"}"#, "[", r#"{"consent":{"face_geometry":true}}"#] {
            let e = OptionsSpec::from_json(bad).and_then(|s| s.into_options(None)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidOptions, "{bad}");
        }
        let both = OptionsSpec { background: Some("white".into()), ..Default::default() };
        assert!(both.into_options(Some(vec![1])).is_err());
    }

    #[test]
    fn parse_background() {
        assert_eq!(Background::parse("white").unwrap(), Background::Solid(Rgb(255, 255, 255)));
        assert_eq!(Background::parse("#102030").unwrap(), Background::Solid(Rgb(16, 32, 48)));
        assert_eq!(
            Background::parse("gradient:white,#000000").unwrap(),
            Background::Gradient(Rgb(255, 255, 255), Rgb(0, 0, 0))
        );
        assert!(matches!(Background::parse("studio").unwrap(), Background::Studio(_)));
        assert!(Background::parse("#12").is_err());
        assert!(Background::parse("pink-ish").is_err());
    }

    #[test]
    fn parse_consent() {
        assert_eq!(Consent::parse("face-geometry").unwrap(), Consent::FACE_GEOMETRY);
        assert_eq!(Consent::parse("face-geometry,appearance").unwrap(), Consent::ALL);
        assert_eq!(Consent::parse("").unwrap(), Consent::NONE);
        assert!(Consent::parse("everything").is_err());
    }
}
