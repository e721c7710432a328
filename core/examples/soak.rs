//! Soak: 2,000 headshots on one engine (2 workers, 4 requests in flight), RSS sampled every 100
//! runs. Flat means: after a warm-up of 200 runs, the median of the last 5 samples is at most
//! 5 % above the median of the first 5 (medians, because one sample catches the workers at any
//! stage of their jobs: +-5 % from one sample to the next is normal; only growth is a leak).
//! Every output must equal the first. `make soak` runs it (and the same soak through the C,
//! Python and Node bindings); ROBUSTNESS.md records the numbers.
//!
//!   cargo run --release -p lichtbild --example soak [RUNS]

use lichtbild::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

// Like every shipped artifact (the C library, the Python and Node modules, the CLI).
#[global_allocator]
static ALLOC: WipeOnFree = WipeOnFree::system();

const RUNS: usize = 2000;
const IN_FLIGHT: usize = 4;
const EVERY: usize = 100;
const WARM_UP: usize = 200;
const TOLERANCE: f64 = 0.05;
/// Samples per median: the start and the end of the run after the warm-up.
const WINDOW: usize = 5;

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("statm");
    pages * 4096.0 / (1 << 20) as f64
}

fn main() {
    let runs: usize = std::env::args().nth(1).map_or(RUNS, |a| a.parse().expect("RUNS"));
    let photo = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/astronaut.png")).expect("fixture");
    let engine = Arc::new(Engine::new(EngineConfig { workers: 2, ..Default::default() }).expect("engine (is ORT_DYLIB_PATH set?)"));
    // The smallest application photo (413x531): the soak is about memory, not pixels.
    let options = ProcessOptions::new(Preset::builtin("bewerbung-35x45").unwrap(), Consent::FACE_GEOMETRY);

    let done = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Vec::<(usize, f64)>::new()));
    let first: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let t0 = std::time::Instant::now();
    let threads: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (engine, photo, options, done, samples, first) = (engine.clone(), photo.clone(), options.clone(), done.clone(), samples.clone(), first.clone());
            std::thread::spawn(move || loop {
                let out = engine.process(Input::Encoded(&photo), &options).expect("process");
                let OutputImage::Encoded { bytes, .. } = out.image else { panic!("expected JPEG") };
                {
                    let mut f = first.lock().unwrap();
                    assert!(f.get_or_insert_with(|| bytes.clone()) == &bytes, "an output differs from the first");
                }
                let n = done.fetch_add(1, Ordering::AcqRel) + 1;
                if n > runs {
                    return;
                }
                if n % EVERY == 0 {
                    let rss = rss_mib();
                    println!("rust soak: run {n:5}  rss {rss:7.1} MiB  ({:.0} s)", t0.elapsed().as_secs_f64());
                    samples.lock().unwrap().push((n, rss));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("soak thread");
    }
    let mut s = samples.lock().unwrap().clone();
    s.sort_by_key(|x| x.0);
    let series: Vec<String> = s.iter().map(|x| format!("{:.1}", x.1)).collect();
    println!("rust soak: RSS series (MiB, every {EVERY} runs): {}", series.join(" "));
    let after: Vec<f64> = s.iter().filter(|x| x.0 > WARM_UP).map(|x| x.1).collect();
    assert!(after.len() >= 2 * WINDOW, "too few samples: run at least {} runs", WARM_UP + 2 * WINDOW * EVERY);
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (start, end) = (median(&after[..WINDOW]), median(&after[after.len() - WINDOW..]));
    let (lo, hi) = after.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let drift = end / start - 1.0;
    println!(
        "rust soak: {runs} runs in {:.0} s; after the {WARM_UP}-run warm-up: median of the first {WINDOW} samples {start:.1} MiB, \
         of the last {WINDOW} {end:.1} MiB ({:+.1} %, limit +{:.0} %); range {lo:.1}..{hi:.1} MiB",
        t0.elapsed().as_secs_f64(),
        drift * 100.0,
        TOLERANCE * 100.0
    );
    if drift > TOLERANCE {
        eprintln!("rust soak: FAILED: RSS grew after the warm-up");
        std::process::exit(1);
    }
    println!("rust soak: ok");
}
