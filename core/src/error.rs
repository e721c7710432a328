//! The one error type of lichtbild. Every binding maps [`ErrorKind`] once; the codes are stable.

use serde::Serialize;

/// Stable, machine-readable error kinds. Bindings map these one to one
/// (Python exception classes, JS `code`, C status enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidInput,
    UnsupportedFormat,
    TooLarge,
    NoFace,
    MultipleFaces,
    ConsentRequired,
    InvalidOptions,
    RuntimeNotFound,
    ModelIntegrity,
    Inference,
    Encode,
    /// The caller cancelled the job before a worker started it.
    Cancelled,
    /// The worker sandbox was asked for and could not be installed.
    Sandbox,
    /// Sealing failed, or a sealed result could not be opened (wrong key, corrupted bytes).
    Seal,
    Internal,
    /// The engine's queue is full (`max_queue` requests waiting): refused at once, try later.
    Busy,
    /// The request's time budget (`time_budget_ms`) ran out; no output was produced.
    Timeout,
}

impl ErrorKind {
    /// Every kind, for bindings that build their tables from it and tests that check them all.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::InvalidInput,
        ErrorKind::UnsupportedFormat,
        ErrorKind::TooLarge,
        ErrorKind::NoFace,
        ErrorKind::MultipleFaces,
        ErrorKind::ConsentRequired,
        ErrorKind::InvalidOptions,
        ErrorKind::RuntimeNotFound,
        ErrorKind::ModelIntegrity,
        ErrorKind::Inference,
        ErrorKind::Encode,
        ErrorKind::Cancelled,
        ErrorKind::Sandbox,
        ErrorKind::Seal,
        ErrorKind::Internal,
        ErrorKind::Busy,
        ErrorKind::Timeout,
    ];

    /// The stable code string (`"no_face"`, ...), identical in every binding.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::UnsupportedFormat => "unsupported_format",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::NoFace => "no_face",
            ErrorKind::MultipleFaces => "multiple_faces",
            ErrorKind::ConsentRequired => "consent_required",
            ErrorKind::InvalidOptions => "invalid_options",
            ErrorKind::RuntimeNotFound => "runtime_not_found",
            ErrorKind::ModelIntegrity => "model_integrity",
            ErrorKind::Inference => "inference",
            ErrorKind::Encode => "encode",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Sandbox => "sandbox",
            ErrorKind::Seal => "seal",
            ErrorKind::Internal => "internal",
            ErrorKind::Busy => "busy",
            ErrorKind::Timeout => "timeout",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input image: {0}")]
    InvalidInput(String),
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),
    /// `what` names the limit: an input's bytes or pixels, or the output's pixels.
    #[error("too large: {what} is {actual}, the limit is {limit}")]
    TooLarge { what: &'static str, actual: u64, limit: u64 },
    #[error("no face found in the photo (a frontal face of at least ~{min_px} px is needed)")]
    NoFace { min_px: u32 },
    #[error("{count} faces found and the options ask for exactly one")]
    MultipleFaces { count: usize },
    #[error("consent scope `{scope}` is required for {purpose} and was not given")]
    ConsentRequired { scope: &'static str, purpose: &'static str },
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    #[error("ONNX Runtime could not be loaded. Tried:\n{tried}\nInstall it with `pip install onnxruntime==1.32.0` or set ORT_DYLIB_PATH to libonnxruntime.so")]
    RuntimeNotFound { tried: String },
    #[error("model `{name}` failed its integrity check: expected sha256 {expected}, got {actual}")]
    ModelIntegrity { name: String, expected: String, actual: String },
    #[error("inference failed in {stage}: {message}")]
    Inference { stage: &'static str, message: String },
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("cancelled before processing started")]
    Cancelled,
    #[error("the worker sandbox could not be installed: {reason}. Refusing to process unconfined; turn the sandbox off explicitly (sandbox: false) only if you accept that")]
    Sandbox { reason: String },
    #[error("{0}")]
    Seal(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the engine has {waiting} requests waiting (max_queue); try again later")]
    Busy { waiting: usize },
    #[error("the time budget of {budget_ms} ms ran out {stage}; no output was produced")]
    Timeout { budget_ms: u64, stage: &'static str },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::UnsupportedFormat(_) => ErrorKind::UnsupportedFormat,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::NoFace { .. } => ErrorKind::NoFace,
            Error::MultipleFaces { .. } => ErrorKind::MultipleFaces,
            Error::ConsentRequired { .. } => ErrorKind::ConsentRequired,
            Error::InvalidOptions(_) => ErrorKind::InvalidOptions,
            Error::RuntimeNotFound { .. } => ErrorKind::RuntimeNotFound,
            Error::ModelIntegrity { .. } => ErrorKind::ModelIntegrity,
            Error::Inference { .. } => ErrorKind::Inference,
            Error::Encode(_) => ErrorKind::Encode,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Sandbox { .. } => ErrorKind::Sandbox,
            Error::Seal(_) => ErrorKind::Seal,
            Error::Internal(_) => ErrorKind::Internal,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Timeout { .. } => ErrorKind::Timeout,
        }
    }

    pub(crate) fn inference(stage: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Inference { stage, message: e.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
