//! Bytes -> probe (limits) -> decode at full and at 1/8 scale, plus the metadata walkers.
//! Any panic is a finding (libfuzzer-sys aborts on panic, even one the core would catch), and so
//! is an `Internal` error or a decoded raster that disagrees with its own size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lichtbild::decode::{decode, probe, Limits};
use lichtbild::ErrorKind;

// Small enough that a declared size the fuzzer makes up cannot exhaust the fuzzer's RSS limit.
fn limits() -> Limits {
    Limits { max_pixels: 1 << 22, max_bytes: 4 << 20, ..Limits::default() }
}

fuzz_target!(|data: &[u8]| {
    let _ = lichtbild::metadata::inventory(data);
    let _ = lichtbild::metadata::orientation(data);
    let limits = limits();
    let p = match probe(data, &limits) {
        Ok(p) => p,
        Err(e) => {
            assert_ne!(e.kind(), ErrorKind::Internal, "probe: {e}");
            return;
        }
    };
    assert!(p.width > 0 && p.height > 0 && p.width as u64 * p.height as u64 <= limits.max_pixels);
    for scale in [1.0, 0.125] {
        match decode(data, &p, scale) {
            Ok(d) => {
                let (w, h) = (d.image.width, d.image.height);
                assert!(w >= 1 && h >= 1 && w <= p.width as usize && h <= p.height as usize, "{w}x{h} from {}x{}", p.width, p.height);
                assert_eq!(d.image.data.len(), w * h * 3);
                assert_eq!((d.full_width, d.full_height), (p.width, p.height));
            }
            Err(e) => assert_ne!(e.kind(), ErrorKind::Internal, "decode at {scale}: {e}"),
        }
    }
});
