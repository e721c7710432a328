//! The CLI as a user runs it: real files in, real files out.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lichtbild"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name)
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lichtbild-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn single_photo_with_receipt() {
    let d = tmpdir("single");
    let out = d.join("headshot.jpg");
    let r = bin()
        .arg(fixture("grace_hopper.jpg"))
        .args(["-o", out.to_str().unwrap(), "--preset", "bewerbung-45x60", "--background", "studio-grey", "--consent", "face-geometry", "--receipt", "-"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (531, 709));
    let receipt: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(receipt["preset"], "bewerbung-45x60");
    assert_eq!(receipt["consent"][0], "face_geometry");
    assert!(String::from_utf8_lossy(&r.stderr).contains("wrote"));
    // Nothing but the output is left in the folder (no temp file).
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
}

#[test]
fn consent_has_no_default() {
    let d = tmpdir("consent");
    let r = bin().arg(fixture("grace_hopper.jpg")).args(["-o", d.join("x.jpg").to_str().unwrap()]).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--consent"));
    let r = bin().arg(fixture("grace_hopper.jpg")).args(["-o", d.join("x.jpg").to_str().unwrap(), "--consent", "none"]).output().unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("face_geometry"));
    assert!(!d.join("x.jpg").exists());
}

#[test]
fn failure_leaves_no_output_file() {
    let d = tmpdir("noface");
    let blank = d.join("blank.png");
    image::RgbImage::from_pixel(300, 300, image::Rgb([200, 200, 200])).save(&blank).unwrap();
    let out = d.join("out.jpg");
    let r = bin().arg(&blank).args(["-o", out.to_str().unwrap(), "--consent", "face-geometry"]).output().unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no face"));
    assert!(!out.exists());
}

#[test]
fn missing_runtime_lists_what_was_tried() {
    let d = tmpdir("nort");
    let r = bin()
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .arg(fixture("grace_hopper.jpg"))
        .args(["-o", d.join("x.jpg").to_str().unwrap(), "--consent", "face-geometry", "--ort-library", "/also/missing.so"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("ONNX Runtime could not be loaded"), "{err}");
    assert!(err.contains("/also/missing.so") && err.contains("/nonexistent/libonnxruntime.so"), "{err}");
}

#[test]
fn folder_batch_continues_past_bad_files() {
    let d = tmpdir("batch");
    let inp = d.join("in");
    std::fs::create_dir_all(&inp).unwrap();
    std::fs::copy(fixture("grace_hopper.jpg"), inp.join("a.jpg")).unwrap();
    std::fs::copy(fixture("astronaut.png"), inp.join("b.png")).unwrap();
    std::fs::write(inp.join("c.jpg"), b"not really a jpeg").unwrap();
    let out = d.join("out");
    let r = bin().arg(&inp).args(["-o", out.to_str().unwrap(), "--preset", "linkedin", "--consent", "face-geometry,appearance", "--retouch", "0.5"]).output().unwrap();
    assert_eq!(r.status.code(), Some(1), "one bad file makes the run fail");
    let mut names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["a.jpg", "b.jpg"]);
    for n in names {
        let img = image::open(out.join(n)).unwrap();
        assert_eq!((img.width(), img.height()), (800, 800));
    }
    assert!(String::from_utf8_lossy(&r.stderr).contains("c.jpg"));
}

#[test]
fn list_presets_is_json() {
    let r = bin().arg("--list-presets").output().unwrap();
    assert!(r.status.success());
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(v.as_array().unwrap().iter().any(|p| p["name"] == "biometric-35x45"));
}

#[test]
fn leaves_nothing_in_home() {
    // ONNX Runtime 1.32 writes telemetry files under $HOME/.cache when left to itself.
    let d = tmpdir("home");
    let home = d.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = d.join("x.jpg");
    let r = bin()
        .env_remove("ORT_DISABLE_TELEMETRY")
        .env("HOME", &home)
        .arg(fixture("grace_hopper.jpg"))
        .args(["-o", out.to_str().unwrap(), "--consent", "face-geometry"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let left: Vec<_> = std::fs::read_dir(&home).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "files created under HOME: {left:?}");
}
