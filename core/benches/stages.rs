//! Criterion benches for the stages that do not need ONNX Runtime (the end-to-end bench,
//! `examples/e2e_bench.rs`, covers the whole pipeline): `cargo bench -p lichtbild --bench stages`.

use criterion::{criterion_group, criterion_main, Criterion};
use lichtbild::compose::compose;
use lichtbild::decode::{decode, probe, Limits};
use lichtbild::encode::encode;
use lichtbild::geometry::{Affine, Point};
use lichtbild::matte::refine;
use lichtbild::raster::{Image, Plane};
use lichtbild::OutputFormat;
use std::hint::black_box;

const HOPPER: &[u8] = include_bytes!("../../tests/fixtures/grace_hopper.jpg");

fn jpeg_12mp() -> Vec<u8> {
    let src = image::load_from_memory(HOPPER).unwrap().to_rgb8();
    let big = image::imageops::resize(&src, 3000, 4000, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&big).unwrap();
    out
}

fn stages(c: &mut Criterion) {
    let big = jpeg_12mp();
    let p = probe(&big, &Limits::default()).unwrap();
    let mut g = c.benchmark_group("decode_12mp");
    g.sample_size(10);
    for s in [0.125f32, 0.25, 0.5] {
        g.bench_function(format!("scale_{s}"), |b| b.iter(|| decode(black_box(&big), &p, s).unwrap()));
    }
    g.finish();

    let raster = decode(&big, &p, 0.5).unwrap().image;
    let t = Affine::similarity(Point::new(750.0, 900.0), Point::new(265.0, 283.0), 0.05, 0.4);
    // Band threads: 1 = the calling thread only; 2 = as an engine worker on this 2-core machine.
    // With buffers kept as on a worker (`keep_wiped_buffers`) and without.
    for keep in [false, true] {
        if keep {
            lichtbild::privacy::secure_buffer::keep_wiped_buffers(lichtbild::privacy::secure_buffer::WORKER_KEPT_BYTES);
        }
        for n in [1, 2] {
            lichtbild::parallel::set_threads(n);
            let kept = if keep { "_kept" } else { "" };
            c.bench_function(&format!("compose_1500x2000_to_531x709_threads{n}{kept}"), |b| b.iter(|| compose(black_box(&raster), &t, 531, 709)));
        }
    }
    lichtbild::parallel::set_threads(1);
    // The 0.3 MP fixture's case: enlarged a little, no pre-reduction, all sampling.
    let small = decode(&big, &p, 0.125).unwrap().image;
    let ts = Affine::similarity(Point::new(190.0, 220.0), Point::new(265.0, 283.0), 0.05, 1.4);
    c.bench_function("compose_375x500_to_531x709_kept", |b| b.iter(|| compose(black_box(&small), &ts, 531, 709)));

    let comp = compose(&raster, &t, 531, 709);
    let mut coarse = Plane::new(531, 709, 1);
    for y in 0..709 {
        for x in 0..531 {
            let d = (((x as f32 - 265.0) / 180.0).powi(2) + ((y as f32 - 330.0) / 260.0).powi(2)).sqrt();
            coarse.data[y * 531 + x] = (1.5 - d).clamp(0.0, 1.0);
        }
    }
    for n in [1, 2] {
        lichtbild::parallel::set_threads(n);
        c.bench_function(&format!("matte_refine_531x709_threads{n}_kept"), |b| b.iter(|| refine(black_box(&comp.frame), &coarse, &comp.coverage)));
    }
    lichtbild::parallel::set_threads(1);

    let out: Image<u8> = comp.frame.to_u8();
    c.bench_function("encode_jpeg_531x709", |b| b.iter(|| encode(black_box(&out), OutputFormat::Jpeg, 92, 300, None).unwrap()));
}

criterion_group!(benches, stages);
criterion_main!(benches);
