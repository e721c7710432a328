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
    sha256: "8c0836d16e931ed9864fa1c01863d370ed631ff9d074e810ee6cd77042e69afc",
    licence: "Apache-2.0",
    bytes: include_bytes!("../models/mp_face_landmark.onnx"),
};

pub const SEGMENTER: ModelInfo = ModelInfo {
    name: "mediapipe_selfie_segmentation",
    purpose: "matting",
    sha256: "ca864519d85138c92313271ec5485423bbbf1e336341303cf26be00dae47130d",
    licence: "Apache-2.0",
    bytes: include_bytes!("../models/mp_selfie_segmentation_fixed.onnx"),
};

pub const ALL: [ModelInfo; 3] = [DETECTOR, FACE_MESH, SEGMENTER];

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
