//! Bytes -> Engine::process, the whole pipeline (decode, detection, landmarks, matte, encode) on
//! one engine reused across iterations, with a tiny pixel limit so that each run stays short.
//! Findings: a panic (the worker's catch_unwind turns it into `Internal`, and libfuzzer-sys
//! aborts on the panic itself), an `Internal` error, a hang (libFuzzer's -timeout) or a crash.
//!
//! Needs ONNX Runtime: ORT_DYLIB_PATH (`make fuzz` sets it).
//!
//! The worker sandbox is OFF here (LICHTBILD_FUZZ_SANDBOX=1 turns it on): a crash on the worker
//! thread is reported by ASAN / libFuzzer from that same thread, and under Landlock the crashing
//! input cannot be written: libFuzzer says "Test unit written to crash-..." and no file exists
//! (tried: a SIGSEGV sent to the worker with tgkill; see FUZZING.md). The pipeline code is the
//! same either way; the sandbox itself is tested in core/tests/privacy.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lichtbild::decode::Limits;
use lichtbild::{Consent, Engine, EngineConfig, ErrorKind, Input, OutputImage, Preset, ProcessOptions};
use std::sync::OnceLock;

struct Fixture {
    engine: Engine,
    options: ProcessOptions,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let sandbox = std::env::var("LICHTBILD_FUZZ_SANDBOX").is_ok_and(|v| v == "1");
        let config = EngineConfig {
            workers: 1,
            sandbox,
            limits: Limits { max_pixels: 256 * 256, max_bytes: 1 << 20, ..Limits::default() },
            ..EngineConfig::default()
        };
        let engine = Engine::new(config).expect("engine (is ORT_DYLIB_PATH set?)");
        // A small output keeps matte, compose and encode cheap; the geometry is the real preset's.
        let mut preset = Preset::builtin("bewerbung-45x60").unwrap();
        preset.width_px = 60;
        preset.height_px = 80;
        preset.dpi = 100;
        Fixture { engine, options: ProcessOptions::new(preset, Consent::FACE_GEOMETRY) }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    match f.engine.process(Input::Encoded(data), &f.options) {
        Ok(out) => {
            let OutputImage::Encoded { bytes, .. } = &out.image else { panic!("JPEG output expected") };
            assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]), "not a JPEG");
        }
        Err(e) => assert_ne!(e.kind(), ErrorKind::Internal, "{e}"),
    }
});
