//! The receipt: what happened to the photo, under which protections. Nothing about the person.

use crate::metadata::MetadataKind;
use crate::models::ModelRecord;
use crate::runtime::RuntimeInfo;
pub use crate::privacy::sandbox::SandboxState;
use serde::Serialize;

/// Stable schema version of [`Receipt`]; bumped on any incompatible change.
pub const RECEIPT_SCHEMA: u32 = 1;

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutputInfo {
    pub width: u32,
    pub height: u32,
    pub dpi: u32,
    pub format: crate::options::OutputFormat,
    /// Encoded size (0 for pixels).
    pub bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
    /// Set when the output was sealed: the method and how many recipients (never who).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::seal::SealInfo>,
}

/// Measurements of the composition (pose and geometry of the photo, not identity).
#[derive(Clone, Debug, Serialize)]
pub struct GeometryInfo {
    pub faces_found: usize,
    pub detection_score: f32,
    /// Roll of the eye line in the input, corrected in the output (degrees).
    pub roll_corrected_deg: f32,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    /// Output pixels per input pixel (> 1 means the face was enlarged).
    pub scale: f32,
    /// Head height and eye line in the output, as fractions of the frame height.
    pub head_height: f32,
    pub eye_line: f32,
    /// Fraction of the frame extended with background past the photo's border.
    pub extended: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Receipt {
    pub schema: u32,
    pub version: &'static str,
    pub preset: String,
    pub output: OutputInfo,
    pub geometry: GeometryInfo,
    pub steps: Vec<Step>,
    pub models: Vec<ModelRecord>,
    pub runtime: RuntimeInfo,
    pub consent: Vec<&'static str>,
    pub sandbox: SandboxState,
    pub network: &'static str,
    pub disk: &'static str,
    pub metadata_removed: Vec<MetadataKind>,
    pub bytes_zeroised: u64,
    /// Bytes of those buffers held in RAM with mlock (never swapped), as far as RLIMIT_MEMLOCK allowed.
    pub bytes_locked: u64,
    /// Whether every block freed on the worker (third-party decoders' buffers included) was
    /// zeroed by [`crate::WipeOnFree`], or only lichtbild's own buffers.
    pub freed_memory: &'static str,
    pub cpu_arena: &'static str,
    /// What happens to ONNX Runtime's CPU tensors when it frees them.
    pub ort_memory: &'static str,
    pub retouched: bool,
}

impl Receipt {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("receipt serialises")
    }
}
