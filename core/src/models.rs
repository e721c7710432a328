//! The embedded models, pinned by sha256 and checked at engine start.

use crate::error::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, Serialize)]
pub struct ModelInfo {
    pub name: &'static str,
    pub purpose: &'static str,
    pub sha256: &'static str,
    pub licence: &'static str,
    #[serde(skip)]
    pub bytes: &'static [u8],
}

pub const DETECTOR: ModelInfo = ModelInfo {
    name: "retinaface_mnet025",
    purpose: "detection",
    sha256: "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
    licence: "MIT",
    bytes: include_bytes!("../models/retinaface_mnet025_tiny.onnx"),
};

pub const FACE_MESH: ModelInfo = ModelInfo {
    name: "mediapipe_face_mesh",
    purpose: "landmarks",
    sha256: "f8bac2da0bd35ea883a23e2198df08c67155d1014b86ca5332a7613e0b25464e",
    licence: "Apache-2.0",
    bytes: include_bytes!("../models/mp_face_landmark.onnx"),
};

pub const SEGMENTER: ModelInfo = ModelInfo {
    name: "mediapipe_selfie_segmentation",
    purpose: "matting",
    sha256: "62350010acea836815b1f50f179692436503eb02d6646c08f52998f6d1b5ac42",
    licence: "Apache-2.0",
    bytes: include_bytes!("../models/mp_selfie_segmentation_fixed.onnx"),
};

pub const ALL: [ModelInfo; 3] = [DETECTOR, FACE_MESH, SEGMENTER];

/// What the receipt says about a model that ran (embedded or the user's).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ModelRecord {
    pub name: String,
    pub purpose: String,
    pub sha256: String,
    pub licence: String,
    /// `"embedded"` or `"user"`.
    pub source: &'static str,
}

impl From<&ModelInfo> for ModelRecord {
    fn from(m: &ModelInfo) -> Self {
        ModelRecord { name: m.name.into(), purpose: m.purpose.into(), sha256: m.sha256.into(), licence: m.licence.into(), source: "embedded" }
    }
}

/// The only purposes a model may serve in lichtbild. Recognition, embeddings and attribute
/// inference (age, gender, ethnicity, emotion) are never among them.
pub const ALLOWED_PURPOSES: [&str; 4] = ["detection", "landmarks", "matting", "super_resolution"];

/// Tensor layout of a user model's image input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

/// A model the user brings (e.g. a licensed high-quality matting model they own). Accepted only
/// with the caller's sha256 of the bytes and a declared, allowed purpose.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserModel {
    pub name: String,
    pub purpose: String,
    /// sha256 of `bytes`, hex: required, and checked at engine start.
    pub sha256: String,
    #[serde(default)]
    pub licence: String,
    /// RGB image input of this size; values are `(x / 255 - mean) / std` per channel.
    pub input_width: u32,
    pub input_height: u32,
    pub layout: Layout,
    #[serde(default)]
    pub mean: [f32; 3],
    #[serde(default = "ones")]
    pub std: [f32; 3],
    /// The output is logits (apply a sigmoid) rather than probabilities in [0, 1].
    #[serde(default)]
    pub logits: bool,
    /// The ONNX bytes (not part of the JSON form: bindings pass them separately).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

fn ones() -> [f32; 3] {
    [1.0; 3]
}

impl UserModel {
    /// Refuses a model for `slot` unless its purpose is allowed and is `slot`, its declared input
    /// is sane, and its bytes hash to the caller's sha256.
    pub fn check(&self, slot: &str) -> Result<()> {
        if !ALLOWED_PURPOSES.contains(&self.purpose.as_str()) {
            return Err(Error::InvalidOptions(format!(
                "model `{}` declares the purpose `{}`, which lichtbild refuses: only {} models are ever loaded (never recognition, embeddings or attributes of the person)",
                self.name,
                self.purpose,
                ALLOWED_PURPOSES.join(", ")
            )));
        }
        if self.purpose != slot {
            return Err(Error::InvalidOptions(format!("model `{}` is a {} model, not a {slot} model", self.name, self.purpose)));
        }
        let ok = |v: u32| (16..=4096).contains(&v);
        if !ok(self.input_width) || !ok(self.input_height) {
            return Err(Error::InvalidOptions(format!("model `{}`: input size must be 16..=4096 px", self.name)));
        }
        if self.std.iter().any(|s| !s.is_finite() || *s == 0.0) || self.mean.iter().any(|m| !m.is_finite()) {
            return Err(Error::InvalidOptions(format!("model `{}`: mean must be finite and std non-zero", self.name)));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::ModelIntegrity { name: self.name.clone(), expected: self.sha256.clone(), actual: "(no valid sha256 was given)".into() });
        }
        verify(&self.name, &self.bytes, &self.sha256)
    }

    pub fn record(&self) -> ModelRecord {
        ModelRecord { name: self.name.clone(), purpose: self.purpose.clone(), sha256: self.sha256.to_ascii_lowercase(), licence: self.licence.clone(), source: "user" }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuses a model whose bytes do not hash to the pinned value.
pub fn verify(name: &str, bytes: &[u8], expected: &str) -> Result<()> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(Error::ModelIntegrity { name: name.into(), expected: expected.into(), actual })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_models_match_their_pins() {
        for m in ALL {
            verify(m.name, m.bytes, m.sha256).unwrap();
        }
        assert!(matches!(verify("x", b"tampered", DETECTOR.sha256), Err(Error::ModelIntegrity { .. })));
    }
}
