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
