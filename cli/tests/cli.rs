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

/// A bare environment like an ordinary desktop's. ONNX Runtime skips its telemetry when it sees a
/// CI marker (`CI`, `GITHUB_ACTIONS`, ...) and writes under XDG_CACHE_HOME instead of HOME when that
/// is set; the telemetry tests need the attempt to happen, under HOME, wherever they run.
fn desktop_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear();
    for keep in ["PATH", "ORT_DYLIB_PATH", "LD_LIBRARY_PATH", "LANG"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd
}

#[test]
fn leaves_nothing_in_home() {
    // ONNX Runtime 1.32 writes telemetry files under $HOME/.cache when left to itself.
    let d = tmpdir("home");
    let home = d.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = d.join("x.jpg");
    let r = desktop_env(&mut bin())
        .env("HOME", &home)
        .arg(fixture("grace_hopper.jpg"))
        .args(["-o", out.to_str().unwrap(), "--consent", "face-geometry"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let left: Vec<_> = std::fs::read_dir(&home).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "files created under HOME: {left:?}");
}

/// Runs the CLI under `strace -f` with a fresh, empty HOME and ORT_DISABLE_TELEMETRY unset, and
/// returns (exit ok, the trace, HOME, the output path).
fn traced_run(name: &str, extra: &[&str], telemetry_env: Option<&str>) -> (bool, String, PathBuf, PathBuf) {
    let d = tmpdir(name);
    let home = d.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (out, log) = (d.join("out").join("headshot.jpg"), d.join("strace.log"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut cmd = Command::new("strace");
    desktop_env(&mut cmd);
    match telemetry_env {
        Some(v) => cmd.env("ORT_DISABLE_TELEMETRY", v),
        None => cmd.env_remove("ORT_DISABLE_TELEMETRY"),
    };
    let status = cmd
        // -ff: one file per thread, so no call is split into "unfinished ... resumed" halves.
        .args(["-ff", "-qq", "-s", "256", "-o"])
        .arg(&log)
        .args(["-e", "trace=open,openat,openat2,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,truncate,socket,connect,bind,sendto,execve"])
        .arg(env!("CARGO_BIN_EXE_lichtbild"))
        .arg(fixture("grace_hopper.jpg"))
        .args(["-o", out.to_str().unwrap(), "--consent", "face-geometry", "--workers", "2"])
        .args(extra)
        .env("HOME", &home)
        .status()
        .expect("strace is needed for this test (make test installs it)");
    let mut trace = String::new();
    for e in std::fs::read_dir(&d).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_str().unwrap().starts_with("strace.log.") {
            let tid = p.extension().unwrap().to_str().unwrap().to_string();
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                trace.push_str(&format!("{tid} {line}\n"));
            }
        }
    }
    (status.success(), trace, home, out)
}

/// Every traced call that wrote, created, removed or connected something, except writing the
/// output (its temporary name and the rename onto the final name) and the program's own start.
fn violations(trace: &str, out: &Path) -> Vec<String> {
    let part = out.with_file_name(format!(".{}.part", out.file_name().unwrap().to_str().unwrap()));
    let allowed = [out.to_str().unwrap().to_string(), part.to_str().unwrap().to_string()];
    let write_flags = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"];
    let mut bad = Vec::new();
    for line in trace.lines() {
        let call = line.split_once(' ').map(|(_, c)| c.trim_start()).unwrap_or(line);
        let Some(name) = call.split('(').next() else { continue };
        let ok = call.rsplit_once(" = ").map(|(_, rc)| !rc.starts_with('-')).unwrap_or(false);
        if !ok {
            continue; // refused or failed: nothing happened
        }
        let mentions_output = allowed.iter().any(|a| call.contains(&format!("\"{a}\"")));
        let bad_call = match name {
            "open" | "openat" | "openat2" | "creat" => name == "creat" || write_flags.iter().any(|f| call.contains(f)),
            "rename" | "renameat" | "renameat2" => true,
            "execve" => !call.contains(env!("CARGO_BIN_EXE_lichtbild")),
            "socket" | "connect" | "bind" | "sendto" => {
                bad.push(line.to_string());
                continue;
            }
            _ => true,
        };
        if bad_call && !mentions_output {
            bad.push(line.to_string());
        }
    }
    bad
}

#[test]
fn strace_shows_no_file_and_no_socket_but_the_output() {
    let (ok, trace, home, out) = traced_run("strace", &[], None);
    assert!(ok, "run failed:\n{trace}");
    assert_eq!(image::open(&out).unwrap().width(), 531);
    let bad = violations(&trace, &out);
    assert!(bad.is_empty(), "writes or sockets outside the output:\n{}", bad.join("\n"));
    // ONNX Runtime did try to write its telemetry under HOME, inside the sandbox, and was refused.
    let home_s = home.to_str().unwrap();
    let refused: Vec<&str> = trace.lines().filter(|l| l.contains(home_s) && l.contains("EPERM")).collect();
    assert!(!refused.is_empty(), "no refused write under HOME seen; ONNX Runtime's telemetry attempt is expected:\n{trace}");
    let left: Vec<_> = std::fs::read_dir(&home).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "files created under HOME: {left:?}");
}

#[test]
fn strace_check_catches_a_write_when_the_sandbox_is_off() {
    // The same check on a run whose workers are not confined and whose ONNX Runtime is told to
    // keep its telemetry on (an unconfined engine otherwise switches it off): the telemetry write
    // under HOME now succeeds, and the check must say so (else it proves nothing).
    let (ok, trace, home, out) = traced_run("strace-off", &["--no-sandbox"], Some("0"));
    assert!(ok, "run failed:\n{trace}");
    let bad = violations(&trace, &out);
    assert!(bad.iter().any(|l| l.contains(home.to_str().unwrap())), "the check missed the telemetry write:\n{}", bad.join("\n"));
}

#[test]
fn self_check_passes_and_is_json() {
    let r = bin().arg("--self-check").output().unwrap();
    assert!(r.status.success(), "{}{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["passed"], true);
    assert!(v["worker"].as_array().unwrap().iter().all(|p| p["result"] == "EPERM"));
    let r = bin().args(["--self-check", "--no-sandbox"]).output().unwrap();
    assert_eq!(r.status.code(), Some(2), "an unconfined self-check must fail");
}

fn age_keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key.txt");
    let r = Command::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen (the `age` Debian package; make test installs it)");
    assert!(r.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().to_string();
    (key, public)
}

#[test]
fn sealed_output_opens_with_the_standalone_age_tool_and_equals_the_unsealed_output() {
    let d = tmpdir("seal");
    let (key, public) = age_keygen(&d);
    let (_, other) = age_keygen(&tmpdir("seal2"));
    let recipients = d.join("recipients.txt");
    std::fs::write(&recipients, format!("# team\n{other}\n")).unwrap();
    let (sealed, plain) = (d.join("h.jpg.age"), d.join("h.jpg"));
    let r = bin()
        .arg(fixture("grace_hopper.jpg"))
        .args(["-o", sealed.to_str().unwrap(), "--consent", "face-geometry", "--seal-to", &public, "--seal-to-file", recipients.to_str().unwrap(), "--receipt", "-"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let receipt: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(receipt["output"]["sealed"]["recipients"], 2);
    assert!(!receipt.to_string().contains(&public), "the receipt must not name recipients");
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    assert!(!bytes.windows(3).any(|w| w == [0xFF, 0xD8, 0xFF]), "a JPEG marker in the sealed output");
    let r = bin().arg(fixture("grace_hopper.jpg")).args(["-o", plain.to_str().unwrap(), "--consent", "face-geometry"]).output().unwrap();
    assert!(r.status.success());
    let opened = Command::new("age").arg("-d").arg("-i").arg(&key).arg(&sealed).output().unwrap();
    assert!(opened.status.success(), "{}", String::from_utf8_lossy(&opened.stderr));
    assert_eq!(opened.stdout, std::fs::read(&plain).unwrap(), "age -d gives exactly the unsealed headshot");
    // A bad recipient is a typed error, and nothing is written.
    let bad = d.join("bad.jpg.age");
    let r = bin().arg(fixture("grace_hopper.jpg")).args(["-o", bad.to_str().unwrap(), "--consent", "face-geometry", "--seal-to", "age1nope"]).output().unwrap();
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("not an age X25519 recipient"), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(!bad.exists());
}
