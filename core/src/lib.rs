//! lichtbild: a private, on-device application-headshot pipeline.
//!
//! Build an [`Engine`] once, then call [`Engine::process`] from any thread. Everything happens in
//! memory on the engine's own worker threads; the photo never touches a disk or a network.

pub mod background;
pub mod compose;
pub mod decode;
pub mod detect;
pub mod encode;
pub mod engine;
pub mod error;
pub mod filters;
pub mod geometry;
pub mod landmarks;
pub mod matte;
pub mod metadata;
pub mod models;
pub mod options;
pub mod parallel;
mod pipeline;
pub mod presets;
pub mod privacy;
pub mod quality;
pub mod raster;
pub mod retouch;
pub mod runtime;
pub mod seal;
#[cfg(test)]
mod test_data;

pub use engine::{CancelFlag, Completion, Engine, EngineConfig, Output, OutputImage, SelfCheck};
pub use error::{Error, ErrorKind, Result};
pub use options::{Background, Consent, Input, MultiFacePolicy, OptionsSpec, OutputFormat, PixelFormat, PixelsRef, ProcessOptions, Rgb};
pub use models::{Layout, UserModel};
pub use presets::Preset;
pub use privacy::wipe_alloc::WipeOnFree;
pub use quality::{Finding, FindingCode, Severity};
pub use seal::{OpenWith, Passphrase, Seal};
