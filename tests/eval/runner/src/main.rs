//! lichtbild in-process on evaluation photos (run by tests/eval/eval.py):
//!
//! `lichtbild-eval OUT_DIR N [--model MODEL.onnx SHA256 SIZE] PHOTO...`
//!
//! Per photo: one run with a transparent PNG and the landmarks (the matte, the foreground colours
//! and the photo->frame map for the harness; it is also the warm-up), then N timed runs of the real
//! job (default preset, default background, JPEG). With `--model`, that model replaces the
//! embedded segmenter: the user-model path (ISNet-style input: NCHW, (x - 128) / 256).
//! Writes OUT_DIR/STEM.jpg (the headshot) and OUT_DIR/STEM.png (RGBA: foreground + matte) and
//! prints one JSON object per photo on stdout.

use lichtbild::{Engine, EngineConfig, Input, Layout, OptionsSpec, OutputImage, UserModel};
use std::path::Path;
use std::time::Instant;

#[global_allocator]
static ALLOC: lichtbild::WipeOnFree = lichtbild::WipeOnFree::system();

fn encoded(out: &lichtbild::Output) -> &[u8] {
    match &out.image {
        OutputImage::Encoded { bytes, .. } => bytes,
        OutputImage::Pixels { .. } => panic!("encoded output expected"),
    }
}

fn usage() -> ! {
    eprintln!("usage: lichtbild-eval OUT_DIR N [--model MODEL.onnx SHA256 SIZE] PHOTO...");
    std::process::exit(2)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 4 {
        usage();
    }
    let out_dir = Path::new(&a[1]);
    let n: usize = a[2].parse().unwrap_or_else(|_| usage());
    let mut rest = &a[3..];
    // Photos go through one at a time, as a user runs them: one worker, with every core.
    let mut cfg = EngineConfig { workers: 1, ..EngineConfig::default() };
    if rest[0] == "--model" {
        if rest.len() < 5 {
            usage();
        }
        let size: u32 = rest[3].parse().unwrap_or_else(|_| usage());
        cfg.matting_model = Some(UserModel {
            name: "isnet (imgly 1.4.5 medium, evaluation only)".into(),
            purpose: "matting".into(),
            sha256: rest[2].clone(),
            licence: "AGPL-3.0 (evaluation only, never shipped)".into(),
            input_width: size,
            input_height: size,
            layout: Layout::Nchw,
            mean: [128.0 / 255.0; 3],
            std: [256.0 / 255.0; 3],
            logits: false,
            bytes: std::fs::read(&rest[1]).expect("read model"),
        });
        rest = &rest[4..];
    }
    let t0 = Instant::now();
    let engine = Engine::new(cfg).unwrap_or_else(|e| {
        eprintln!("engine: {e}");
        std::process::exit(1)
    });
    let startup_ms = t0.elapsed().as_secs_f64() * 1e3;
    let spec = |json: &str| OptionsSpec::from_json(json).unwrap().into_options(None).unwrap();
    let job = spec(r#"{"consent": {"face_geometry": true, "appearance": false}}"#);
    let matte = spec(
        r#"{"consent": {"face_geometry": true, "appearance": false}, "background": "transparent", "format": "png", "return_landmarks": true}"#,
    );
    for photo_path in rest {
        let photo = std::fs::read(photo_path).expect("read photo");
        let stem = Path::new(photo_path).file_stem().unwrap().to_string_lossy().into_owned();
        let m = match engine.process(Input::Encoded(&photo), &matte) {
            Ok(m) => m,
            Err(e) => {
                println!("{}", serde_json::json!({"photo": stem, "error": e.to_string(), "code": e.kind().code()}));
                continue;
            }
        };
        std::fs::write(out_dir.join(format!("{stem}.png")), encoded(&m)).expect("write png");
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..n.max(1) {
            let t = Instant::now();
            let out = engine.process(Input::Encoded(&photo), &job).expect("the matte run worked, the job must too");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            last = Some(out);
        }
        let out = last.expect("at least one run");
        std::fs::write(out_dir.join(format!("{stem}.jpg")), encoded(&out)).expect("write jpg");
        let steps: serde_json::Map<String, serde_json::Value> =
            out.receipt.steps.iter().map(|s| (s.name.to_string(), s.ms.into())).collect();
        println!(
            "{}",
            serde_json::json!({
                "photo": stem,
                "times_ms": times,
                "startup_ms": startup_ms,
                "steps_ms": steps,
                "photo_to_frame": m.photo_to_frame,
                "preset": job.preset,
                "geometry": out.receipt.geometry,
                "findings": out.findings.iter().map(|f| format!("{:?}", f.code)).collect::<Vec<_>>(),
                "models": out.receipt.models,
            })
        );
    }
}
