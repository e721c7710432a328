//! End-to-end tests on real photos through the public API (real ONNX Runtime, real models).
//! Needs ORT_DYLIB_PATH (the Makefile sets it from the venv's onnxruntime wheel).

use lichtbild::compose::compose;
use lichtbild::geometry::{Affine, Point};
use lichtbild::privacy::secure_buffer::SecureBuf;
use lichtbild::raster::Image;
use lichtbild::*;
use std::sync::OnceLock;

const ASTRONAUT: &[u8] = include_bytes!("../../tests/fixtures/astronaut.png");
const HOPPER: &[u8] = include_bytes!("../../tests/fixtures/grace_hopper.jpg");

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(EngineConfig::default()).expect("engine (is ORT_DYLIB_PATH set?)"))
}

fn opts(preset: &str) -> ProcessOptions {
    ProcessOptions::new(Preset::builtin(preset).unwrap(), Consent::FACE_GEOMETRY)
}

fn rgb_of(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes).unwrap().to_rgb8()
}

fn png_of(img: &image::RgbImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png).unwrap();
    v
}

fn to_raster(img: &image::RgbImage) -> Image<u8> {
    Image::from_buf(img.width() as usize, img.height() as usize, 3, SecureBuf::from_vec(img.as_raw().clone()))
}

fn from_raster(img: &Image<u8>) -> image::RgbImage {
    image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.to_vec()).unwrap()
}

/// Rotates (degrees, counter-clockwise as seen) and scales a picture about its centre.
fn transformed(img: &image::RgbImage, deg: f32, scale: f32, out_w: u32, out_h: u32) -> image::RgbImage {
    let src = to_raster(img);
    let t = Affine::similarity(
        Point::new(img.width() as f32 / 2.0, img.height() as f32 / 2.0),
        Point::new(out_w as f32 / 2.0, out_h as f32 / 2.0),
        -deg.to_radians(),
        scale,
    );
    from_raster(&compose(&src, &t, out_w as usize, out_h as usize).frame.to_u8())
}

fn jpeg_density(bytes: &[u8]) -> (u8, u16, u16) {
    // JFIF APP0: FF D8 FF E0 len(2) "JFIF\0" ver(2) units(1) Xdensity(2) Ydensity(2)
    assert_eq!(&bytes[6..11], b"JFIF\0", "JFIF header expected");
    (bytes[13], u16::from_be_bytes([bytes[14], bytes[15]]), u16::from_be_bytes([bytes[16], bytes[17]]))
}

/// Checks the geometry of a finished headshot by measuring it again from scratch.
fn assert_geometry(bytes: &[u8], preset: &Preset) {
    let a = engine().analyse(Input::Encoded(bytes), Consent::FACE_GEOMETRY).expect("analyse output");
    assert_eq!(a.faces, 1, "one face in the output");
    assert!(a.roll_deg.abs() < 1.0, "eye line level within 1°, got {:.2}°", a.roll_deg);
    let (eb, hb) = (preset.eye_line, preset.head_height);
    assert!(a.eye_line >= eb.min && a.eye_line <= eb.max, "eye line {:.3} outside [{}, {}]", a.eye_line, eb.min, eb.max);
    assert!(a.head_height >= hb.min && a.head_height <= hb.max, "head height {:.3} outside [{}, {}]", a.head_height, hb.min, hb.max);
}

fn findings(o: &Output) -> Vec<FindingCode> {
    o.findings.iter().map(|f| f.code).collect()
}

#[test]
fn astronaut_to_application_photo() {
    let mut o = opts("bewerbung-45x60");
    o.background = Some(Background::parse("studio-grey").unwrap());
    let out = engine().process(Input::Encoded(ASTRONAUT), &o).unwrap();
    let OutputImage::Encoded { format: OutputFormat::Jpeg, bytes } = &out.image else { panic!("jpeg expected") };
    let img = rgb_of(bytes);
    assert_eq!((img.width(), img.height()), (531, 709));
    assert_eq!(jpeg_density(bytes), (1, 300, 300));
    assert_geometry(bytes, &o.preset);
    // Far from the face (top corners), the background is exactly the requested colour (± JPEG).
    let want = [0x8e, 0x92, 0x97];
    for (x, y) in [(8, 8), (522, 8), (265, 6)] {
        let p = img.get_pixel(x, y).0;
        for c in 0..3 {
            assert!((p[c] as i32 - want[c]).abs() <= 4, "background at ({x},{y}) is {p:?}, want {want:?}");
        }
    }
    assert_eq!(out.receipt.geometry.faces_found, 1);
    assert_eq!(out.receipt.consent, vec!["face_geometry"]);
    assert!(out.receipt.bytes_zeroised > 0);
    assert!(out.receipt.steps.iter().any(|s| s.name == "matte"));
    // The astronaut photo is small for 300 dpi: the engine must say so.
    assert!(findings(&out).contains(&FindingCode::FaceTooSmall));
}

#[test]
fn hopper_matte_is_soft_at_the_hair() {
    let mut o = opts("linkedin");
    o.background = Some(Background::Transparent);
    o.format = OutputFormat::Pixels;
    let out = engine().process(Input::Encoded(HOPPER), &o).unwrap();
    let OutputImage::Pixels { width, height, rgba } = &out.image else { panic!("pixels expected") };
    assert_eq!((*width, *height), (800, 800));
    let a = |x: u32, y: u32| rgba[((y * width + x) * 4 + 3) as usize];
    // Corners are background, the face centre (below the eye line, centred) is person.
    assert_eq!(a(5, 5), 0);
    assert_eq!(a(794, 5), 0);
    let eye_y = (0.42 * 800.0) as u32;
    assert_eq!(a(400, eye_y + 40), 255);
    // Along the head's outline (above the eye line), alpha must pass through soft values.
    let mut soft = 0;
    for y in 0..eye_y {
        for x in 0..*width {
            let v = a(x, y);
            if v > 12 && v < 243 {
                soft += 1;
            }
        }
    }
    assert!(soft > 300, "only {soft} soft alpha pixels around the head");
    // Each row through the head rises from 0 to 255 over more than one pixel somewhere.
    let row = eye_y - 60;
    let vals: Vec<u8> = (0..*width).map(|x| a(x, row)).collect();
    let first_in = vals.iter().position(|&v| v == 255).expect("head crosses this row");
    let last_out = vals[..first_in].iter().rposition(|&v| v == 0).expect("background left of the head");
    assert!(first_in - last_out > 1, "hard edge on row {row}: {:?}", &vals[last_out..=first_in]);
}

#[test]
fn photo_to_frame_maps_the_photo_onto_the_output() {
    let mut o = opts("bewerbung-45x60");
    o.background = Some(Background::Transparent);
    o.format = OutputFormat::Pixels;
    assert!(engine().process(Input::Encoded(ASTRONAUT), &o).unwrap().photo_to_frame.is_none(), "only when asked");
    o.return_landmarks = true;
    let out = engine().process(Input::Encoded(ASTRONAUT), &o).unwrap();
    let m = out.photo_to_frame.expect("asked with the landmarks");
    let OutputImage::Pixels { width, height, rgba } = &out.image else { panic!("pixels expected") };
    // Re-render the photo through the map: where the person is opaque it is the output.
    let t = Affine { a: m[0], b: m[1], c: m[2], d: m[3], tx: m[4], ty: m[5] };
    let again = compose(&to_raster(&rgb_of(ASTRONAUT)), &t, *width as usize, *height as usize).frame.to_u8();
    let (mut diff, mut n) = (0u64, 0u64);
    for (px, q) in rgba.chunks_exact(4).zip(again.data.chunks_exact(3)) {
        if px[3] == 255 {
            diff += (0..3).map(|c| px[c].abs_diff(q[c]) as u64).sum::<u64>();
            n += 3;
        }
    }
    assert!(n > 30_000, "too little opaque person: {n}");
    let mean = diff as f64 / n as f64;
    assert!(mean < 3.0, "the map does not reproduce the output: mean difference {mean}");
}

#[test]
fn rotated_photo_is_levelled() {
    let src = rgb_of(ASTRONAUT);
    let rot = transformed(&src, 10.0, 1.0, 600, 600);
    let bytes = png_of(&rot);
    // The astronaut's own head is tilted a little; the rotation adds 10° to that.
    let base = engine().analyse(Input::Encoded(ASTRONAUT), Consent::FACE_GEOMETRY).unwrap().roll_deg;
    let before = engine().analyse(Input::Encoded(&bytes), Consent::FACE_GEOMETRY).unwrap();
    assert!((before.roll_deg - (base - 10.0)).abs() < 1.0, "input roll {:.2}, upright {base:.2}", before.roll_deg);
    let o = opts("bewerbung-45x60");
    let out = engine().process(Input::Encoded(&bytes), &o).unwrap();
    assert!((out.receipt.geometry.roll_corrected_deg - before.roll_deg).abs() < 0.5);
    assert!(findings(&out).contains(&FindingCode::RollCorrected));
    assert_geometry(out.image.bytes(), &o.preset);
}

#[test]
fn mirrored_photo_works() {
    let src = rgb_of(ASTRONAUT);
    let m = image::imageops::flip_horizontal(&src);
    let o = opts("bewerbung-35x45");
    let out = engine().process(Input::Encoded(&png_of(&m)), &o).unwrap();
    assert_eq!(rgb_of(out.image.bytes()).dimensions(), (413, 531));
    assert_geometry(out.image.bytes(), &o.preset);
}

#[test]
fn dark_photo_is_reported() {
    let mut src = rgb_of(HOPPER);
    for p in src.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (*c as f32 * 0.22) as u8;
        }
    }
    let out = engine().process(Input::Encoded(&png_of(&src)), &opts("bewerbung-45x60")).unwrap();
    assert!(findings(&out).contains(&FindingCode::Underexposed), "{:?}", findings(&out));
}

#[test]
fn tiny_photo_still_works_with_a_finding() {
    let src = rgb_of(HOPPER);
    let small = image::imageops::resize(&src, 200, 234, image::imageops::FilterType::Triangle);
    let out = engine().process(Input::Encoded(&png_of(&small)), &opts("bewerbung-45x60")).unwrap();
    let f = out.findings.iter().find(|f| f.code == FindingCode::FaceTooSmall).expect("face too small");
    assert!(f.severity >= Severity::Warning);
    assert_eq!(rgb_of(out.image.bytes()).dimensions(), (531, 709));
}

fn two_faces() -> Vec<u8> {
    let a = rgb_of(ASTRONAUT);
    let mut canvas = image::RgbImage::new(1024, 512);
    image::imageops::replace(&mut canvas, &a, 0, 0);
    image::imageops::replace(&mut canvas, &image::imageops::flip_horizontal(&a), 512, 0);
    png_of(&canvas)
}

#[test]
fn two_faces_default_and_strict_policy() {
    let bytes = two_faces();
    let out = engine().process(Input::Encoded(&bytes), &opts("linkedin")).unwrap();
    assert!(findings(&out).contains(&FindingCode::MultipleFaces));
    assert_eq!(out.receipt.geometry.faces_found, 2);
    let mut o = opts("linkedin");
    o.multi_face = MultiFacePolicy::Error;
    let e = engine().process(Input::Encoded(&bytes), &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MultipleFaces, "{e}");
}

/// A large face beside a bystander at half its size, whose face spans about 1/15 of the photo's
/// long side: too small for the detector's quick 160 px pass, seen at 320.
fn face_and_bystander() -> Vec<u8> {
    let a = rgb_of(ASTRONAUT);
    let big = image::imageops::resize(&a, 1024, 1024, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(1536, 1024, image::Rgb([90, 90, 90]));
    image::imageops::replace(&mut canvas, &big, 0, 0);
    image::imageops::replace(&mut canvas, &image::imageops::flip_horizontal(&a), 1024, 256);
    png_of(&canvas)
}

#[test]
fn a_small_bystander_still_counts_under_the_strict_policy() {
    let bytes = face_and_bystander();
    // The default policy uses the large face (whether or not its quick pass saw the bystander).
    let out = engine().process(Input::Encoded(&bytes), &opts("linkedin")).unwrap();
    assert_geometry(out.image.bytes(), &Preset::builtin("linkedin").unwrap());
    let mut o = opts("linkedin");
    o.multi_face = MultiFacePolicy::Error;
    let e = engine().process(Input::Encoded(&bytes), &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MultipleFaces, "{e}");
}

#[test]
fn no_face_is_a_typed_error() {
    let img = image::RgbImage::from_fn(400, 300, |x, y| image::Rgb([(x / 2) as u8, (y / 2) as u8, 128]));
    let e = engine().process(Input::Encoded(&png_of(&img)), &opts("linkedin")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoFace, "{e}");
}

#[test]
fn consent_is_required_before_anything() {
    let mut o = opts("linkedin");
    o.consent = Consent::NONE;
    // Even garbage input reports the missing consent: nothing was looked at.
    let e = engine().process(Input::Encoded(b"not an image"), &o).unwrap_err();
    assert!(matches!(e, Error::ConsentRequired { scope: "face_geometry", .. }), "{e}");
    let mut o = opts("linkedin");
    o.retouch = Some(0.5);
    let e = engine().process(Input::Encoded(ASTRONAUT), &o).unwrap_err();
    assert!(matches!(e, Error::ConsentRequired { scope: "appearance", .. }), "{e}");
    o.consent = Consent::ALL;
    let out = engine().process(Input::Encoded(ASTRONAUT), &o).unwrap();
    assert!(out.receipt.retouched);
    assert!(out.receipt.steps.iter().any(|s| s.name == "retouch"));
}

#[test]
fn pixels_in_equals_bytes_in() {
    let img = rgb_of(ASTRONAUT);
    let mut o = opts("linkedin");
    o.format = OutputFormat::Pixels;
    let a = engine().process(Input::Encoded(ASTRONAUT), &o).unwrap();
    // RGBA with a padded stride.
    let (w, h) = img.dimensions();
    let stride = w as usize * 4 + 16;
    let mut buf = vec![0u8; stride * h as usize];
    for (x, y, p) in img.enumerate_pixels() {
        let i = y as usize * stride + x as usize * 4;
        buf[i..i + 4].copy_from_slice(&[p[0], p[1], p[2], 255]);
    }
    let px = PixelsRef { data: &buf, width: w, height: h, stride, format: PixelFormat::Rgba8 };
    let b = engine().process(Input::Pixels(px), &o).unwrap();
    assert_eq!(a.image.bytes(), b.image.bytes());
}

#[test]
fn bad_inputs_get_typed_errors() {
    let o = opts("linkedin");
    let cases: Vec<(&str, Vec<u8>, ErrorKind)> = vec![
        ("empty", vec![], ErrorKind::InvalidInput),
        ("text", b"hello, this is not a photo at all".to_vec(), ErrorKind::UnsupportedFormat),
        ("truncated jpeg", HOPPER[..HOPPER.len() / 3].to_vec(), ErrorKind::InvalidInput),
        ("truncated png", ASTRONAUT[..2000].to_vec(), ErrorKind::InvalidInput),
    ];
    for (name, bytes, kind) in cases {
        let e = engine().process(Input::Encoded(&bytes), &o).unwrap_err();
        assert_eq!(e.kind(), kind, "{name}: {e}");
    }
    let px = PixelsRef { data: &[0u8; 10], width: 10, height: 10, stride: 30, format: PixelFormat::Rgb8 };
    assert_eq!(engine().process(Input::Pixels(px), &o).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn many_threads_one_engine_same_result() {
    let o = opts("bewerbung-40x50");
    let reference = engine().process(Input::Encoded(HOPPER), &o).unwrap();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..8).map(|_| s.spawn(|| engine().process(Input::Encoded(HOPPER), &o).unwrap())).collect();
        for h in hs {
            assert_eq!(h.join().unwrap().image.bytes(), reference.image.bytes());
        }
    });
}

#[test]
fn biometric_preset_carries_its_notice() {
    let out = engine().process(Input::Encoded(HOPPER), &opts("biometric-35x45")).unwrap();
    let n = out.findings.iter().find(|f| f.code == FindingCode::PresetNotice).expect("notice");
    assert!(n.message.contains("May 2025"));
    assert_geometry(out.image.bytes(), &Preset::builtin("biometric-35x45").unwrap());
}

/// JPEG `body` with `segments` (complete marker segments) inserted right after SOI.
fn with_segments(body: &[u8], segments: &[u8]) -> Vec<u8> {
    assert_eq!(&body[..2], &[0xFF, 0xD8]);
    let mut v = body[..2].to_vec();
    v.extend_from_slice(segments);
    v.extend_from_slice(&body[2..]);
    v
}

/// A minimal EXIF APP1 segment holding only the orientation tag.
fn exif_orientation(o: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]); // Orientation, SHORT, count 1
    tiff.extend_from_slice(&o.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding + next IFD = 0
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&tiff);
    seg
}

fn jpeg_of(img: &image::RgbImage) -> Vec<u8> {
    let mut v = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut v, 95).encode_image(img).unwrap();
    v
}

#[test]
fn every_exif_orientation_comes_out_upright() {
    use image::imageops::{flip_horizontal, flip_vertical, rotate180, rotate270, rotate90};
    let upright = rgb_of(HOPPER);
    let o = opts("bewerbung-45x60");
    for orientation in 1..=8u16 {
        // Store the pixels the way a camera would for this tag, so that applying it restores them.
        let stored = match orientation {
            1 => upright.clone(),
            2 => flip_horizontal(&upright),
            3 => rotate180(&upright),
            4 => flip_vertical(&upright),
            5 => flip_horizontal(&rotate90(&upright)),
            6 => rotate270(&upright),
            7 => flip_horizontal(&rotate270(&upright)),
            _ => rotate90(&upright),
        };
        let bytes = with_segments(&jpeg_of(&stored), &exif_orientation(orientation));
        let out = engine().process(Input::Encoded(&bytes), &o).unwrap_or_else(|e| panic!("orientation {orientation}: {e}"));
        assert_geometry(out.image.bytes(), &o.preset);
        assert!(out.receipt.metadata_removed.contains(&lichtbild::metadata::MetadataKind::Exif));
    }
}

#[test]
fn metadata_never_reaches_the_output() {
    // Lift every metadata segment of the synthetic "everything" JPEG into the real portrait.
    let meta = include_bytes!("data/meta_full.jpg");
    let mut segs = Vec::new();
    let mut i = 2;
    while i + 4 <= meta.len() && meta[i] == 0xFF {
        let m = meta[i + 1];
        let len = u16::from_be_bytes([meta[i + 2], meta[i + 3]]) as usize;
        if (0xE1..=0xEF).contains(&m) || m == 0xFE {
            segs.extend_from_slice(&meta[i..i + 2 + len]);
        }
        if m == 0xDA {
            break;
        }
        i += 2 + len;
    }
    let input = with_segments(HOPPER, &segs);
    let out = engine().process(Input::Encoded(&input), &opts("bewerbung-45x60")).unwrap();
    use lichtbild::metadata::MetadataKind as K;
    for k in [K::Exif, K::GpsLocation, K::CameraSerial, K::OwnerName, K::Timestamps, K::Xmp, K::Iptc, K::Comment] {
        assert!(out.receipt.metadata_removed.contains(&k), "{k:?} not inventoried: {:?}", out.receipt.metadata_removed);
    }
    let b = out.image.bytes();
    let has = |needle: &[u8]| b.windows(needle.len()).any(|w| w == needle);
    assert!(!has(b"Exif\0"), "EXIF in output");
    assert!(!has(b"http://ns.adobe.com/xap"), "XMP in output");
    assert!(!has(b"Photoshop 3.0"), "IPTC in output");
    assert!(!b.windows(2).any(|w| w == [0xFF, 0xFE]), "COM marker in output");
    // The receipt names kinds, never values.
    let json = out.receipt.to_json();
    assert!(!json.contains("Jane Example"), "{json}");
}

#[test]
fn blurred_photo_is_reported_and_sharp_one_is_not() {
    let o = opts("bewerbung-45x60");
    let sharp = engine().process(Input::Encoded(HOPPER), &o).unwrap();
    assert!(!findings(&sharp).contains(&FindingCode::Blurry), "{:?}", sharp.findings);
    let blurred = image::imageops::blur(&rgb_of(HOPPER), 3.0);
    let out = engine().process(Input::Encoded(&png_of(&blurred)), &o).unwrap();
    assert!(findings(&out).contains(&FindingCode::Blurry), "{:?}", out.findings);
}

#[test]
fn submit_returns_at_once_and_completes_on_a_worker() {
    let (tx, rx) = std::sync::mpsc::channel();
    let caller = std::thread::current().id();
    engine()
        .submit(Input::Encoded(HOPPER), &opts("linkedin"), None, Box::new(move |r| {
            tx.send((r.map(|o| o.image.bytes().len()), std::thread::current().id(), std::thread::current().name().map(String::from))).unwrap();
        }))
        .unwrap();
    let (len, tid, name) = rx.recv().unwrap();
    assert!(len.unwrap() > 1000);
    assert_ne!(tid, caller);
    assert!(name.unwrap().starts_with("lichtbild-worker-"));
    // Refused jobs fail synchronously and never call back.
    let r = engine().submit(Input::Encoded(HOPPER), &ProcessOptions::new(Preset::builtin("linkedin").unwrap(), Consent::NONE), None, Box::new(|_| panic!("must not run")));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::ConsentRequired);
    // Cancelled before a worker starts it: the callback gets the typed error.
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = CancelFlag::default();
    flag.store(true, std::sync::atomic::Ordering::Release);
    engine().submit(Input::Encoded(HOPPER), &opts("linkedin"), Some(flag), Box::new(move |r| tx.send(r.map(|_| ())).unwrap())).unwrap();
    assert_eq!(rx.recv().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
}
