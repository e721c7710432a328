//! Limits, back-pressure and time budgets on one engine (real ONNX Runtime, real models, real
//! photos): 64 simultaneous requests give identical outputs, a full queue refuses with `Busy`,
//! an exhausted budget gives `Timeout`, and the engine keeps working after each.
//! Needs ORT_DYLIB_PATH (the Makefile sets it from the venv's onnxruntime wheel).

use lichtbild::*;
use std::sync::{Arc, Barrier};

const ASTRONAUT: &[u8] = include_bytes!("../../tests/fixtures/astronaut.png");

fn opts() -> ProcessOptions {
    ProcessOptions::new(Preset::builtin("bewerbung-45x60").unwrap(), Consent::FACE_GEOMETRY)
}

fn engine(json: &str) -> Engine {
    Engine::new(EngineConfig::from_json(json).unwrap()).expect("engine (is ORT_DYLIB_PATH set?)")
}

fn jpeg(o: Output) -> Vec<u8> {
    match o.image {
        OutputImage::Encoded { bytes, .. } => bytes,
        OutputImage::Pixels { .. } => panic!("expected JPEG"),
    }
}

#[test]
fn sixty_four_simultaneous_requests_on_one_engine() {
    // The default max_queue (64) takes all of them even before a worker has picked one up.
    let engine = Arc::new(engine(r#"{"workers": 2}"#));
    assert_eq!(engine.config().max_queue, 64);
    let reference = jpeg(engine.process(Input::Encoded(ASTRONAUT), &opts()).unwrap());
    let start = Arc::new(Barrier::new(64));
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (engine, start) = (engine.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                engine.process(Input::Encoded(ASTRONAUT), &opts()).map(jpeg)
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let out = t.join().expect("no panic").unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert!(out == reference, "request {i} differs from the reference output");
    }
    assert_eq!(engine.queued(), 0);
}

#[test]
fn a_full_queue_refuses_with_busy_at_once() {
    let engine = engine(r#"{"workers": 1, "max_queue": 1}"#);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut busy = Vec::new();
    let mut accepted = 0;
    // A job takes tens of milliseconds, submitting one microseconds: one runs, one waits, the
    // rest find the queue full.
    for _ in 0..8 {
        let tx = tx.clone();
        match engine.submit(Input::Encoded(ASTRONAUT), &opts(), None, Box::new(move |r| tx.send(r.map(jpeg)).unwrap())) {
            Ok(()) => accepted += 1,
            Err(e) => busy.push(e),
        }
    }
    assert!(!busy.is_empty(), "8 submissions at once with max_queue 1 and one worker: some must be refused");
    assert!((1..=2).contains(&accepted), "{accepted} accepted");
    for e in &busy {
        assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
        assert_eq!(e.kind().code(), "busy");
        assert!(e.to_string().contains("requests waiting"), "{e}");
    }
    let outs: Vec<Vec<u8>> = (0..accepted).map(|_| rx.recv().unwrap().expect("accepted requests succeed")).collect();
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
    // Refused requests left nothing behind: the engine takes new work at once.
    assert_eq!(engine.queued(), 0);
    assert_eq!(jpeg(engine.process(Input::Encoded(ASTRONAUT), &opts()).unwrap()), outs[0]);
}

#[test]
fn a_time_budget_that_runs_out_gives_timeout_and_no_output() {
    let engine = engine(r#"{"workers": 1}"#);
    // 1 ms cannot cover decode, detection and landmarks of a 512x512 photo: the budget is
    // exhausted at one of the stage checks (or an inference is stopped) whatever the machine.
    let spec = OptionsSpec::from_json(r#"{"consent": {"face_geometry": true, "appearance": false}, "time_budget_ms": 1}"#).unwrap();
    let tight = spec.into_options(None).unwrap();
    let e = engine.process(Input::Encoded(ASTRONAUT), &tight).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(e.kind().code(), "timeout");
    assert!(e.to_string().contains("1 ms"), "{e}");
    // The engine keeps working, and a budget that suffices changes nothing.
    let mut ample = opts();
    ample.time_budget = Some(std::time::Duration::from_secs(600));
    let a = jpeg(engine.process(Input::Encoded(ASTRONAUT), &ample).unwrap());
    assert_eq!(a, jpeg(engine.process(Input::Encoded(ASTRONAUT), &opts()).unwrap()));
    // Zero is not a budget.
    let zero = OptionsSpec::from_json(r#"{"consent": {"face_geometry": true, "appearance": false}, "time_budget_ms": 0}"#).unwrap();
    assert_eq!(zero.into_options(None).unwrap_err().kind(), ErrorKind::InvalidOptions);
}

#[test]
fn limits_are_configurable_and_checked_before_queueing() {
    // Older configs without the new fields keep working, with the defaults.
    let c = EngineConfig::from_json(r#"{"limits": {"max_bytes": 1000}}"#).unwrap();
    assert_eq!(c.limits.max_bytes, 1000);
    assert_eq!(c.limits.max_output_pixels, lichtbild::decode::Limits::default().max_output_pixels);
    assert_eq!(c.max_queue, 64);
    assert!(EngineConfig::from_json(r#"{"limits": {"max_output_pixel": 1}}"#).is_err(), "typos are errors");

    let engine = engine(r#"{"workers": 1, "limits": {"max_output_pixels": 300000, "max_bytes": 1000000, "max_pixels": 1000000}}"#);
    // bewerbung-45x60 is 531x709 = 376,479 output pixels.
    let e = engine.process(Input::Encoded(ASTRONAUT), &opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert!(e.to_string().contains("output") && e.to_string().contains("376479"), "{e}");
    // A smaller custom preset passes the same engine.
    let mut small = opts();
    small.preset.width_px = 354;
    small.preset.height_px = 472;
    assert!(engine.process(Input::Encoded(ASTRONAUT), &small).is_ok());
    // Pixel input over max_pixels is refused before it is copied.
    let big = vec![0u8; 1001 * 1000 * 3];
    let px = PixelsRef { data: &big, width: 1001, height: 1000, stride: 1001 * 3, format: PixelFormat::Rgb8 };
    assert_eq!(engine.process(Input::Pixels(px), &small).unwrap_err().kind(), ErrorKind::TooLarge);
    assert_eq!(engine.queued(), 0);
    // A queue of zero could take nothing.
    let e = Engine::new(EngineConfig { max_queue: 0, ..EngineConfig::default() }).err().expect("max_queue 0 is refused");
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
}

#[test]
fn new_kinds_are_listed() {
    for (k, code) in [(ErrorKind::Busy, "busy"), (ErrorKind::Timeout, "timeout")] {
        assert!(ErrorKind::ALL.contains(&k));
        assert_eq!(k.code(), code);
    }
}
