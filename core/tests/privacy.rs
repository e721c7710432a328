//! The privacy mechanisms, proven by behaviour on a real engine (real ONNX Runtime, real models).
//! Each test fails if its mechanism is removed. Needs ORT_DYLIB_PATH (the Makefile sets it).

use lichtbild::privacy::sandbox;
use lichtbild::*;
use std::sync::OnceLock;

const HOPPER: &[u8] = include_bytes!("../../tests/fixtures/grace_hopper.jpg");

fn sandboxed() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(EngineConfig { workers: 1, intra_threads: 2, ..Default::default() }).expect("engine (is ORT_DYLIB_PATH set?)"))
}

fn unsandboxed() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(EngineConfig { workers: 1, sandbox: false, ..Default::default() }).expect("engine"))
}

fn opts() -> ProcessOptions {
    ProcessOptions::new(Preset::builtin("bewerbung-45x60").unwrap(), Consent::FACE_GEOMETRY)
}

#[test]
fn a_write_inside_the_worker_fails_and_the_same_write_outside_succeeds() {
    let dir = std::env::temp_dir();
    let r = sandboxed().self_check(&dir).unwrap();
    assert!(r.sandbox.enforced, "{:?}", r.sandbox);
    assert!(r.passed, "{r:#?}");
    let find = |v: &[sandbox::Probe], op: &str| v.iter().find(|p| p.operation == op).unwrap().clone();
    for op in ["create a file", "make a directory", "open a TCP socket", "open a local socket", "run a program", "create a memory file", "io_uring", "ptrace", "connect", "unlink", "truncate"] {
        let w = find(&r.worker, op);
        assert_eq!(w.result, "EPERM", "{op} on the worker: {w:?}");
    }
    // The host's own thread keeps every right: the sandbox is per worker thread, not per process.
    assert_eq!(find(&r.caller, "create a file").result, "ok");
    assert_eq!(find(&r.caller, "make a directory").result, "ok");
    assert_eq!(find(&r.caller, "open a TCP socket").result, "ok");
    assert_eq!(find(&r.caller, "run a program").result, "ENOENT");
    // And it still processes photos inside the sandbox.
    let out = sandboxed().process(Input::Encoded(HOPPER), &opts()).unwrap();
    assert!(out.receipt.sandbox.enforced);
}

#[test]
fn onnx_runtime_threads_inherit_the_filter() {
    let _ = sandboxed().process(Input::Encoded(HOPPER), &opts()).unwrap();
    // Threads inherit their creator's name: the worker and every thread ORT started from it.
    let mut confined = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let p = task.unwrap().path();
        let status = std::fs::read_to_string(p.join("status")).unwrap_or_default();
        let name = status.lines().next().unwrap_or("").trim_start_matches("Name:").trim().to_string();
        let seccomp = status.lines().find(|l| l.starts_with("Seccomp:")).map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string());
        if name.starts_with("lichtbild-worke") {
            // The unsandboxed engine's worker is named the same; it has no filter.
            if seccomp.as_deref() == Some("2") {
                confined += 1;
            }
        } else if name.starts_with("privacy") || name.starts_with("main") {
            assert_ne!(seccomp.as_deref(), Some("2"), "a host thread ({name}) was confined: TSYNC must not be used");
        }
    }
    // One worker with intra_threads = 2: the worker plus ORT's pool threads for its sessions.
    assert!(confined >= 2, "only {confined} confined threads");
}

#[test]
fn onnx_runtime_tensors_are_zeroed_before_the_job_returns() {
    // ORT's tensors come from lichtbild's allocator; on a worker they are zeroed at the end of
    // each job, before process() returns (other tests running alongside can only add to this).
    let engine = sandboxed();
    let (w0, a0) = (lichtbild::privacy::ort_alloc::wiped_bytes(), lichtbild::privacy::ort_alloc::allocations());
    engine.process(Input::Encoded(HOPPER), &opts()).unwrap();
    assert!(lichtbild::privacy::ort_alloc::allocations() > a0 + 100, "ORT did not allocate through lichtbild");
    let wiped = lichtbild::privacy::ort_alloc::wiped_bytes() - w0;
    assert!(wiped > 4 << 20, "only {wiped} bytes of ORT tensors zeroed by the time the job returned");
}

#[test]
fn turning_the_sandbox_off_is_said_in_the_receipt() {
    let r = unsandboxed().self_check(&std::env::temp_dir()).unwrap();
    assert!(!r.passed);
    assert_eq!(r.worker.iter().find(|p| p.operation == "create a file").unwrap().result, "ok");
    let out = unsandboxed().process(Input::Encoded(HOPPER), &opts()).unwrap();
    assert!(!out.receipt.sandbox.enforced);
    assert!(out.receipt.sandbox.reason.as_deref().unwrap().contains("sandbox: false"), "{:?}", out.receipt.sandbox);
}

#[test]
fn receipt_states_every_protection_and_nothing_about_the_person() {
    let out = sandboxed().process(Input::Encoded(HOPPER), &opts()).unwrap();
    let r = &out.receipt;
    assert!(r.sandbox.mechanisms.iter().any(|m| m.starts_with("seccomp")), "{:?}", r.sandbox);
    if std::path::Path::new("/sys/kernel/security/landlock").exists() || r.sandbox.reason.is_none() {
        assert!(r.sandbox.mechanisms.iter().any(|m| m.starts_with("landlock")), "{:?}", r.sandbox);
    }
    assert_eq!((r.network, r.disk, r.cpu_arena), ("none", "none", "disabled"));
    assert!(r.ort_memory.starts_with("tensors wiped before each job returns"), "{}", r.ort_memory);
    assert!(r.bytes_zeroised > 1_000_000, "{}", r.bytes_zeroised);
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    if lim.rlim_cur == libc::RLIM_INFINITY || lim.rlim_cur > 64 << 20 {
        assert!(r.bytes_locked > 1_000_000, "nothing locked with RLIMIT_MEMLOCK {}", lim.rlim_cur);
    }
    assert_eq!(r.consent, vec!["face_geometry"]);
    assert_eq!(r.models.len(), 3);
    assert!(r.runtime.version.starts_with("1."), "runtime version {:?}", r.runtime.version);
    assert!(r.models.iter().all(|m| m.sha256.len() == 64 && !m.licence.is_empty()));
    // The documented schema, key by key (PRIVACY.md): a change here is a schema change.
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = [
            "schema", "version", "preset", "output", "geometry", "steps", "models", "runtime", "consent", "sandbox", "network", "disk",
        "metadata_removed", "bytes_zeroised", "bytes_locked", "freed_memory", "cpu_arena", "ort_memory", "retouched",
    ];
    keys.sort();
    want.sort();
    assert_eq!(keys, want);
    // Landmarks leave the engine only when asked for.
    assert!(out.landmarks.is_none());
    let mut o = opts();
    o.return_landmarks = true;
    assert_eq!(sandboxed().process(Input::Encoded(HOPPER), &o).unwrap().landmarks.unwrap().len(), 468);
}

#[test]
fn no_identification_model_is_embedded() {
    // Only detection, landmarks and matting: no embedding, recognition or attribute model.
    let purposes: Vec<&str> = lichtbild::models::ALL.iter().map(|m| m.purpose).collect();
    assert_eq!(purposes, ["detection", "landmarks", "matting"]);
}

const LANDSCAPE: &[u8] = include_bytes!("data/mp_selfie_segmentation_landscape_fixed.onnx");
const LANDSCAPE_SHA: &str = "b4a07d621c1d136ca17eda02232c579e4b3ce390e526f3fc82f07f0cb6c6732c";

fn user_model(purpose: &str, sha256: &str) -> UserModel {
    UserModel {
        name: "selfie-landscape".into(),
        purpose: purpose.into(),
        sha256: sha256.into(),
        licence: "Apache-2.0".into(),
        input_width: 256,
        input_height: 144,
        layout: Layout::Nhwc,
        mean: [0.0; 3],
        std: [1.0; 3],
        logits: false,
        bytes: LANDSCAPE.to_vec(),
    }
}

fn engine_with(m: UserModel) -> Result<Engine> {
    Engine::new(EngineConfig { workers: 1, matting_model: Some(m), ..Default::default() })
}

#[test]
fn a_user_matting_model_runs_only_with_its_sha256_and_an_allowed_purpose() {
    // Accepted with the right hash and purpose, and it is what runs: the receipt names it.
    let e = engine_with(user_model("matting", LANDSCAPE_SHA)).unwrap();
    let out = e.process(Input::Encoded(HOPPER), &opts()).unwrap();
    let m = out.receipt.models.iter().find(|m| m.purpose == "matting").unwrap();
    assert_eq!((m.name.as_str(), m.source, m.sha256.as_str()), ("selfie-landscape", "user", LANDSCAPE_SHA));
    // A different model gives a (slightly) different result than the embedded one.
    let embedded = sandboxed().process(Input::Encoded(HOPPER), &opts()).unwrap();
    assert_ne!(out.image.bytes(), embedded.image.bytes());

    // No hash, a wrong hash: refused at engine start.
    let e = engine_with(user_model("matting", "")).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ModelIntegrity, "{e}");
    let e = engine_with(user_model("matting", &"0".repeat(64))).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ModelIntegrity, "{e}");
    // Identification and attribute purposes are refused whatever the hash.
    for purpose in ["face_recognition", "embedding", "age_gender", "emotion", "ethnicity"] {
        let e = engine_with(user_model(purpose, LANDSCAPE_SHA)).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{purpose}");
        assert!(e.to_string().contains("never recognition"), "{e}");
    }
    // An allowed purpose in the wrong slot is refused too.
    let e = engine_with(user_model("detection", LANDSCAPE_SHA)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
}

#[test]
fn sealed_output_is_ciphertext_that_opens_to_the_unsealed_headshot() {
    let id = age::x25519::Identity::generate();
    let key = {
        use age::secrecy::ExposeSecret;
        id.to_string().expose_secret().to_string()
    };
    let plain = sandboxed().process(Input::Encoded(HOPPER), &opts()).unwrap();
    let mut o = opts();
    o.seal = Some(Seal::Recipients(vec![id.to_public().to_string()]));
    let sealed = sandboxed().process(Input::Encoded(HOPPER), &o).unwrap();
    let bytes = sealed.image.bytes();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    assert!(!bytes.windows(3).any(|w| w == [0xFF, 0xD8, 0xFF]), "a JPEG marker in the sealed bytes");
    let info = sealed.receipt.output.sealed.as_ref().unwrap();
    assert_eq!((info.method, info.recipients), ("x25519", 1));
    let opened = lichtbild::seal::open(bytes, &OpenWith::Identity(Passphrase::new(key))).unwrap();
    assert_eq!(&opened[..], plain.image.bytes());
    // Passphrase mode.
    o.seal = Some(Seal::Passphrase(Passphrase::new("correct horse")));
    let sealed = sandboxed().process(Input::Encoded(HOPPER), &o).unwrap();
    assert_eq!(sealed.receipt.output.sealed.as_ref().unwrap().method, "scrypt");
    let e = lichtbild::seal::open(sealed.image.bytes(), &OpenWith::Passphrase(Passphrase::new("wrong"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Seal);
    let opened = lichtbild::seal::open(sealed.image.bytes(), &OpenWith::Passphrase(Passphrase::new("correct horse"))).unwrap();
    assert_eq!(&opened[..], plain.image.bytes());
    // Bad recipients and pixel output are refused before anything is analysed.
    o.seal = Some(Seal::Recipients(vec!["age1notakey".into()]));
    assert_eq!(sandboxed().process(Input::Encoded(b"junk"), &o).unwrap_err().kind(), ErrorKind::InvalidOptions);
    o.seal = Some(Seal::Passphrase(Passphrase::new("p")));
    o.format = OutputFormat::Pixels;
    assert_eq!(sandboxed().process(Input::Encoded(HOPPER), &o).unwrap_err().kind(), ErrorKind::InvalidOptions);
}
