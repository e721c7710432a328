//! The engine: models verified once, worker threads that own the ORT sessions, `process` from any thread.
pub struct Engine;
pub struct EngineConfig;
pub struct Output;
pub struct OutputImage;
