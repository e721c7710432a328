//! End-to-end benchmark: engine start, then per-stage medians for a 12-MP and a 2-MP JPEG made by
//! upscaling a fixture (sizes `small` = the fixture itself, `1mp`, `2mp`, `12mp`), on 1 and 2 workers, with peak RSS. One process per configuration so peak
//! RSS belongs to it: `cargo run --release -p lichtbild --example e2e_bench -- 12mp 1 [iters] [intra] [pixel]`
//! (`intra`: ONNX Runtime threads per session; `pixel`: threads for the pixel loops; both default
//! to 1 here, while the engine's own default, 0, shares the cores out among the workers). `E2E_NO_SANDBOX=1` turns the worker sandbox off, for
//! `valgrind --tool=callgrind` (which cannot run seccomp) to count instructions per stage.
//! Without arguments it re-runs itself for every configuration and prints a markdown table.
//! `e2e_bench ab <size> <iters> <intra>,<pixel> <intra>,<pixel>` compares two engine
//! configurations in one process, alternating photo by photo, so both see the same machine
//! (this VM's speed drifts by 2x between minutes; separate runs cannot resolve a few percent).

use lichtbild::{Consent, Engine, EngineConfig, Input, Preset, ProcessOptions};
use std::collections::BTreeMap;
use std::time::Instant;

const HOPPER: &[u8] = include_bytes!("../../tests/fixtures/grace_hopper.jpg");

fn make_jpeg(w: u32, h: u32) -> Vec<u8> {
    let src = image::load_from_memory(HOPPER).unwrap().to_rgb8();
    let big = image::imageops::resize(&src, w, h, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&big).unwrap();
    out
}

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn size_of(size: &str) -> (u32, u32) {
    match size {
        "12mp" => (3000, 4000),
        "2mp" => (1224, 1632),
        "1mp" => (866, 1155),
        _ => (512, 600), // "small": the fixture itself, 0.3 MP
    }
}

fn run(size: &str, workers: usize, iters: usize, intra_threads: usize, pixel_threads: usize) {
    let sandbox = std::env::var_os("E2E_NO_SANDBOX").is_none();
    let (w, h) = size_of(size);
    let input = make_jpeg(w, h);
    // Making the test JPEG is not lichtbild's work: reset the peak-RSS mark (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = peak_rss_mb();
    let t = Instant::now();
    let engine = Engine::new(EngineConfig { workers, intra_threads, pixel_threads, sandbox, ..Default::default() }).expect("engine");
    let start_ms = t.elapsed().as_secs_f64() * 1e3;
    let o = ProcessOptions::new(Preset::builtin("bewerbung-45x60").unwrap(), Consent::FACE_GEOMETRY);
    engine.process(Input::Encoded(&input), &o).expect("warm-up");
    let mut stages: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut totals = Vec::new();
    let t_all = Instant::now();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    (0..iters / workers)
                        .map(|_| {
                            let t = Instant::now();
                            let out = engine.process(Input::Encoded(&input), &o).unwrap();
                            (t.elapsed().as_secs_f64() * 1e3, out.receipt.steps)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in hs {
            for (ms, steps) in h.join().unwrap() {
                totals.push(ms);
                for st in steps {
                    stages.entry(st.name).or_default().push(st.ms);
                }
            }
        }
    });
    let per_sec = totals.len() as f64 / t_all.elapsed().as_secs_f64();
    let head = format!("{size} ({w}x{h}, {} KB) workers={workers} intra={intra_threads} pixel={pixel_threads}: start {start_ms:.0} ms, median {:.1} ms, {per_sec:.1} photos/s, peak RSS {:.0} MB (at start {rss_before:.0} MB) |", input.len() / 1024, median(&mut totals), peak_rss_mb());
    println!("{head}{}", stage_medians(&mut stages));
}

/// " name median" for every stage, in name order.
fn stage_medians(stages: &mut BTreeMap<&'static str, Vec<f64>>) -> String {
    stages.iter_mut().map(|(name, v)| format!(" {name} {:.1}", median(v))).collect()
}

// Measured as shipped: every artifact wipes freed worker memory with this allocator.
#[global_allocator]
static ALLOC: lichtbild::WipeOnFree = lichtbild::WipeOnFree::system();

/// Two engines in one process, photo by photo in turn; per-stage medians for each.
fn ab(size: &str, iters: usize, configs: &[(usize, usize); 2]) {
    let sandbox = std::env::var_os("E2E_NO_SANDBOX").is_none();
    let (w, h) = size_of(size);
    let input = make_jpeg(w, h);
    let o = ProcessOptions::new(Preset::builtin("bewerbung-45x60").unwrap(), Consent::FACE_GEOMETRY);
    let engines: Vec<Engine> = configs
        .iter()
        .map(|&(intra_threads, pixel_threads)| Engine::new(EngineConfig { workers: 1, intra_threads, pixel_threads, sandbox, ..Default::default() }).expect("engine"))
        .collect();
    type Stats = (Vec<f64>, BTreeMap<&'static str, Vec<f64>>);
    let mut stats: Vec<Stats> = vec![Default::default(), Default::default()];
    for i in 0..iters + 2 {
        for (k, e) in engines.iter().enumerate() {
            let t = Instant::now();
            let out = e.process(Input::Encoded(&input), &o).unwrap();
            if i >= 2 {
                stats[k].0.push(t.elapsed().as_secs_f64() * 1e3);
                for st in out.receipt.steps {
                    stats[k].1.entry(st.name).or_default().push(st.ms);
                }
            }
        }
    }
    for ((intra, pixel), (totals, stages)) in configs.iter().zip(stats.iter_mut()) {
        println!("{size} intra={intra} pixel={pixel}: median {:.1} ms |{}", median(totals), stage_medians(stages));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("ab") && args.len() == 5 {
        let cfg = |s: &str| {
            let (a, b) = s.split_once(',').expect("<intra>,<pixel>");
            (a.parse().unwrap(), b.parse().unwrap())
        };
        ab(&args[1], args[2].parse().unwrap(), &[cfg(&args[3]), cfg(&args[4])]);
        return;
    }
    if args.len() >= 2 {
        let iters = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
        let intra = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
        let pixel = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
        run(&args[0], args[1].parse().unwrap(), iters, intra, pixel);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for (size, workers) in [("12mp", 1), ("12mp", 2), ("2mp", 1), ("2mp", 2), ("small", 1)] {
        let out = std::process::Command::new(&exe).args([size, &workers.to_string()]).output().unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
}
