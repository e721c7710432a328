//! Freed memory holds no photo bytes: a tracking global allocator looks into every block the
//! process frees while the engine works on a photo carrying a recognisable pattern, and counts
//! the blocks that still contain it. Its own test binary, because it replaces the allocator.
//!
//! The tracker sits *outside* lichtbild's `WipeOnFree` (as every shipped artifact installs it):
//! it inspects each block after `WipeOnFree` has had its chance to wipe it and before the system
//! allocator gets it back. Without `WipeOnFree` the PNG decoder's row buffer is caught here.

use lichtbild::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Grey levels that do not occur in this order by chance; repeated along the patch's rows.
const LEVELS: [u8; 12] = [17, 201, 43, 99, 250, 3, 128, 77, 190, 61, 222, 8];
const MAX_NEEDLES: usize = 8;
const NEEDLE_LEN: usize = 64;

static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
static LARGEST_HIT: AtomicUsize = AtomicUsize::new(0);
/// Blocks freed with any non-zero byte left, on any thread (the decoders' helper threads too).
static DIRTY: AtomicUsize = AtomicUsize::new(0);
static LARGEST_DIRTY: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    /// Set while a hit is being reported, so the report's own allocations are not inspected.
    static REPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
// Needles are written before arming and only read while armed.
static mut NEEDLES: [[u8; NEEDLE_LEN]; MAX_NEEDLES] = [[0; NEEDLE_LEN]; MAX_NEEDLES];
static mut NEEDLE_LENS: [usize; MAX_NEEDLES] = [0; MAX_NEEDLES];

/// `WipeOnFree` over an allocator that inspects blocks as they come back.
struct Inspect;

unsafe impl GlobalAlloc for Inspect {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if ARMED.load(Ordering::Acquire) && l.size() >= 16 {
            let block = std::slice::from_raw_parts(p, l.size());
            if block.iter().any(|&b| b != 0) {
                DIRTY.fetch_add(1, Ordering::Relaxed);
                LARGEST_DIRTY.fetch_max(l.size(), Ordering::Relaxed);
            }
            // SAFETY: written only while disarmed (see `arm`).
            let (needles, lens) = unsafe { (&*std::ptr::addr_of!(NEEDLES), &*std::ptr::addr_of!(NEEDLE_LENS)) };
            for i in 0..MAX_NEEDLES {
                let n = &needles[i][..lens[i]];
                if !n.is_empty() && !REPORTING.with(|r| r.get()) && memchr::memmem::find(block, n).is_some() {
                    HITS.fetch_add(1, Ordering::Relaxed);
                    LARGEST_HIT.fetch_max(l.size(), Ordering::Relaxed);
                    // LICHTBILD_TRACE_HITS=1 shows where the unwiped block was freed.
                    if std::env::var_os("LICHTBILD_TRACE_HITS").is_some() {
                        REPORTING.with(|r| r.set(true));
                        eprintln!("unwiped block of {} bytes freed at:\n{}", l.size(), std::backtrace::Backtrace::force_capture());
                        REPORTING.with(|r| r.set(false));
                    }
                    break;
                }
            }
        }
        System.dealloc(p, l)
    }
}

#[global_allocator]
static A: WipeOnFree<Inspect> = WipeOnFree(Inspect);

fn arm(needles: &[Vec<u8>]) {
    ARMED.store(false, Ordering::Release);
    // SAFETY: disarmed, and the tests in this file run one at a time (one test function).
    unsafe {
        let (ns, ls) = (&mut *std::ptr::addr_of_mut!(NEEDLES), &mut *std::ptr::addr_of_mut!(NEEDLE_LENS));
        for i in 0..MAX_NEEDLES {
            ls[i] = 0;
            if let Some(n) = needles.get(i) {
                ns[i][..n.len()].copy_from_slice(n);
                ls[i] = n.len();
            }
        }
    }
    HITS.store(0, Ordering::Relaxed);
    LARGEST_HIT.store(0, Ordering::Relaxed);
    DIRTY.store(0, Ordering::Relaxed);
    LARGEST_DIRTY.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Release);
}

/// The fixture portrait with a patch of the pattern in its top-left background.
fn patterned_photo() -> image::RgbImage {
    let mut img = image::load_from_memory(include_bytes!("../../tests/fixtures/grace_hopper.jpg")).unwrap().to_rgb8();
    for y in 0..60 {
        for x in 0..120 {
            let v = LEVELS[x as usize % LEVELS.len()];
            img.put_pixel(x, y, image::Rgb([v, v, v]));
        }
    }
    img
}

/// The pattern as the pipeline could hold it: RGB8, RGBA8, float RGB and RGBA in [0, 1].
fn pixel_needles() -> Vec<Vec<u8>> {
    let px = 12; // one full period
    let rgb: Vec<u8> = (0..px).flat_map(|i| [LEVELS[i]; 3]).collect();
    let rgba: Vec<u8> = (0..px).flat_map(|i| [LEVELS[i], LEVELS[i], LEVELS[i], 255]).collect();
    let f = |v: u8| (v as f32 * (1.0 / 255.0)).to_ne_bytes();
    let rgbf: Vec<u8> = (0..5).flat_map(|i| [f(LEVELS[i]), f(LEVELS[i]), f(LEVELS[i])].concat()).collect();
    let rgbaf: Vec<u8> = (0..4).flat_map(|i| [f(LEVELS[i]), f(LEVELS[i]), f(LEVELS[i]), 1f32.to_ne_bytes()].concat()).collect();
    vec![rgb, rgba, rgbf[..60].to_vec(), rgbaf[..64].to_vec()]
}

fn check(engine: &Engine, what: &str, input: Input<'_>, needles: &[Vec<u8>]) {
    let o = ProcessOptions::new(Preset::builtin("bewerbung-45x60").unwrap(), Consent::FACE_GEOMETRY);
    arm(needles);
    let out = engine.process(input, &o);
    ARMED.store(false, Ordering::Release);
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.receipt.bytes_zeroised > 0);
    assert!(out.receipt.freed_memory.starts_with("all wiped"), "{}", out.receipt.freed_memory);
    let (hits, largest) = (HITS.load(Ordering::Relaxed), LARGEST_HIT.load(Ordering::Relaxed));
    assert_eq!(hits, 0, "{what}: {hits} freed block(s) still held the photo's bytes (largest {largest} bytes)");
    // Beyond the recognisable bytes: nothing freed during the run, on any thread (jpeg-decoder
    // spawns its own per-component threads for coefficient rows), kept any content at all.
    let (dirty, largest) = (DIRTY.load(Ordering::Relaxed), LARGEST_DIRTY.load(Ordering::Relaxed));
    assert_eq!(dirty, 0, "{what}: {dirty} freed block(s) were not wiped (largest {largest} bytes)");
}

#[test]
fn freed_blocks_hold_no_photo_bytes() {
    let engine = Engine::new(EngineConfig { workers: 1, ..Default::default() }).expect("engine (is ORT_DYLIB_PATH set?)");
    let img = patterned_photo();
    let (w, h) = img.dimensions();

    // The tracker must see a plain buffer that held the pattern (else a pass would mean nothing).
    let needles = pixel_needles();
    // (Straight through the tracker: WipeOnFree wipes every block freed on every thread.)
    arm(&needles);
    unsafe {
        let raw = img.as_raw();
        let l = Layout::from_size_align(raw.len(), 1).unwrap();
        let p = Inspect.alloc(l);
        std::ptr::copy_nonoverlapping(raw.as_ptr(), p, raw.len());
        Inspect.dealloc(p, l);
    }
    ARMED.store(false, Ordering::Release);
    assert_eq!(HITS.load(Ordering::Relaxed), 1, "the tracker does not see freed blocks");
    assert_eq!(DIRTY.load(Ordering::Relaxed), 1, "the tracker does not see unwiped blocks");

    // Raw pixels in: the input copy, the decoded raster and every derived full-size buffer.
    let px = PixelsRef { data: img.as_raw(), width: w, height: h, stride: w as usize * 3, format: PixelFormat::Rgb8 };
    check(&engine, "RGB8 pixels", Input::Pixels(px), &pixel_needles());

    // JPEG: the encoded stream (decoded pixels are lossy, so only the bytes are recognisable).
    let mut jpg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 95).encode_image(&img).unwrap();
    let needles: Vec<Vec<u8>> = (1..=6).map(|k| jpg[jpg.len() * k / 7..][..NEEDLE_LEN].to_vec()).collect();
    check(&engine, "JPEG", Input::Encoded(&jpg), &needles);
    // Encoded in (lossless, so decoded pixels carry the pattern): also samples of the encoded
    // stream itself, which only the input copy holds.
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let mut needles = pixel_needles();
    for k in 1..=4 {
        let at = png.len() * k / 5;
        needles.push(png[at..at + NEEDLE_LEN].to_vec());
    }
    check(&engine, "PNG", Input::Encoded(&png), &needles);


    // Opening a sealed result on the caller's own thread: the decryptor's scratch memory and the
    // plaintext are wiped too.
    let id = age::x25519::Identity::generate();
    let key = {
        use age::secrecy::ExposeSecret;
        id.to_string().expose_secret().to_string()
    };
    let mut o = ProcessOptions::new(Preset::builtin("bewerbung-45x60").unwrap(), Consent::FACE_GEOMETRY);
    o.seal = Some(Seal::Recipients(vec![id.to_public().to_string()]));
    let sealed = engine.process(Input::Encoded(&jpg), &o).unwrap();
    let with = OpenWith::Identity(Passphrase::new(key));
    let reference = lichtbild::seal::open(sealed.image.bytes(), &with).unwrap().to_vec();
    let needles: Vec<Vec<u8>> = (1..=6).map(|k| reference[reference.len() * k / 7..][..NEEDLE_LEN].to_vec()).collect();
    arm(&needles);
    let opened = lichtbild::seal::open(sealed.image.bytes(), &with).unwrap();
    drop(opened);
    ARMED.store(false, Ordering::Release);
    assert_eq!(HITS.load(Ordering::Relaxed), 0, "opening a sealed result left plaintext in freed memory");
}
