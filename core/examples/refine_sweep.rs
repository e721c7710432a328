//! Runs the matte refinement with given parameters on frames prepared by the evaluation
//! (tests/eval/sweep.py), so refinement changes can be scored against reference and true mattes
//! in seconds instead of a whole `make eval`.
//!
//! `refine_sweep JOBS.json` where JOBS.json is a list of
//! `{"w", "h", "frame", "coarse", "coverage", "out_alpha", "out_fg", "params": {..RefineParams}}`;
//! the images are raw little-endian f32 files (frame and fg RGB in [0, 1], the others one plane).

use lichtbild::matte::{refine_with, RefineParams};
use lichtbild::raster::Image;
use std::path::PathBuf;

#[derive(serde::Deserialize)]
struct Job {
    w: usize,
    h: usize,
    frame: PathBuf,
    coarse: PathBuf,
    coverage: PathBuf,
    out_alpha: PathBuf,
    out_fg: PathBuf,
    #[serde(default)]
    params: RefineParams,
}

fn read(path: &PathBuf, w: usize, h: usize, c: usize) -> Image<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len(), w * h * c * 4, "{}: expected {w}x{h}x{c} f32", path.display());
    let mut img = Image::<f32>::new(w, h, c);
    for (d, b) in img.data.iter_mut().zip(bytes.chunks_exact(4)) {
        *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    img
}

fn write(path: &PathBuf, img: &Image<f32>) {
    let bytes: Vec<u8> = img.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn main() {
    let jobs = std::env::args().nth(1).expect("usage: refine_sweep JOBS.json");
    let jobs: Vec<Job> = serde_json::from_slice(&std::fs::read(&jobs).expect("jobs file")).expect("jobs JSON");
    for j in &jobs {
        let frame = read(&j.frame, j.w, j.h, 3);
        let coarse = read(&j.coarse, j.w, j.h, 1);
        let coverage = read(&j.coverage, j.w, j.h, 1);
        let (alpha, fg) = refine_with(&frame, &coarse, &coverage, &j.params);
        write(&j.out_alpha, &alpha);
        write(&j.out_fg, &fg);
    }
    println!("{} jobs", jobs.len());
}
