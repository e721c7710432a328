//! Finding and starting ONNX Runtime without any download, and building sessions from bytes.

use crate::error::{Error, Result};
use ort::session::{RunOptions, Session};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Which ONNX Runtime library was loaded.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RuntimeInfo {
    pub library: PathBuf,
    pub version: String,
}

// One ORT environment per process, ever; it must stay alive because ort only keeps a weak ref.
static ENV: OnceLock<(ort::environment::Environment, RuntimeInfo)> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

const LIB_NAMES: &[&str] = &["libonnxruntime.so", "libonnxruntime.so.1", "libonnxruntime.dylib", "onnxruntime.dll"];

/// Where ONNX Runtime is looked for, in order: explicit path, `ORT_DYLIB_PATH`, next to the library
/// or executable holding lichtbild, then the system's loader path.
pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = explicit {
        v.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(p));
    }
    let mut dirs = Vec::new();
    if let Some(d) = own_library_dir() {
        dirs.push(d);
    }
    if let Some(d) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        dirs.push(d);
    }
    for d in dirs {
        if let Ok(rd) = std::fs::read_dir(&d) {
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so") || n == "libonnxruntime.dylib" || n == "onnxruntime.dll")
                })
                .collect();
            found.sort();
            v.extend(found);
        }
    }
    // Bare names: the dynamic loader's own search (LD_LIBRARY_PATH, system directories).
    v.extend(LIB_NAMES.iter().map(PathBuf::from));
    v.dedup();
    v
}

/// Directory of the shared object (or executable) that contains this code.
fn own_library_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(own_library_dir as *const libc::c_void, &mut info) != 0 && !info.dli_fname.is_null() {
            let p = std::ffi::CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned();
            return Path::new(&p).canonicalize().ok()?.parent().map(Path::to_path_buf);
        }
    }
    None
}

/// Loads ONNX Runtime (once per process) and creates the one environment. Call it on a worker
/// thread, after the sandbox: `sandboxed` says whether that thread is confined.
pub fn ensure_env(explicit: Option<&Path>, sandboxed: bool) -> Result<RuntimeInfo> {
    if let Some((_, info)) = ENV.get() {
        return Ok(info.clone());
    }
    let _g = INIT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, info)) = ENV.get() {
        return Ok(info.clone());
    }
    // ONNX Runtime 1.32 writes a telemetry database under ~/.cache/Microsoft when it starts unless
    // this is set; `with_telemetry(false)` does not stop it. Inside the sandbox those writes fail
    // harmlessly (and the privacy tests show it); without the sandbox this variable is all there is.
    if !sandboxed && std::env::var_os("ORT_DISABLE_TELEMETRY").is_none() {
        std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    }
    let mut tried = String::new();
    for cand in candidates(explicit) {
        // A bare name goes to the system loader; a path must exist to be worth trying.
        if cand.components().count() > 1 && !cand.exists() {
            tried.push_str(&format!("  - {}: no such file\n", cand.display()));
            continue;
        }
        match ort::init_from(&cand) {
            Ok(builder) => {
                let env = builder.with_name("lichtbild").with_telemetry(false).build().map_err(|e| Error::RuntimeNotFound {
                    tried: format!("{tried}  - {}: loaded, but creating the environment failed: {e}\n", cand.display()),
                })?;
                crate::privacy::ort_alloc::register(&env).map_err(|e| Error::RuntimeNotFound {
                    tried: format!("{tried}  - {}: loaded, but it refused lichtbild's wiping allocator: {e}\n", cand.display()),
                })?;
                let version = library_version(&cand).unwrap_or_else(|| ort::info().split(',').next().unwrap_or("").trim().to_string());
                let info = RuntimeInfo { library: cand.clone(), version };
                let _ = ENV.set((env, info.clone()));
                return Ok(info);
            }
            Err(e) => tried.push_str(&format!("  - {}: {e}\n", cand.display())),
        }
    }
    Err(Error::RuntimeNotFound { tried })
}

/// "1.32.0": the loaded library's own version string (its build-info string names no version).
#[cfg(unix)]
fn library_version(path: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: RTLD_NOLOAD only finds the library ort already loaded (no new load, no init code);
    // OrtGetApiBase is the C entry point every ONNX Runtime exports, and the string it returns is
    // static.
    unsafe {
        let h = libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD);
        if h.is_null() {
            return None;
        }
        let f = libc::dlsym(h, c"OrtGetApiBase".as_ptr());
        let v = (!f.is_null()).then(|| {
            let get: unsafe extern "C" fn() -> *const ort::sys::OrtApiBase = std::mem::transmute(f);
            let base = get();
            (!base.is_null()).then(|| std::ffi::CStr::from_ptr(((*base).GetVersionString)()).to_string_lossy().into_owned())
        });
        libc::dlclose(h);
        v.flatten()
    }
}

#[cfg(not(unix))]
fn library_version(_: &Path) -> Option<String> {
    None
}

/// A CPU session from model bytes: arena off (its memory cannot be wiped), own small thread pool.
pub fn session(stage: &'static str, model: &[u8], intra_threads: usize) -> Result<Session> {
    let e = |e: ort::Error| Error::inference(stage, e);
    let (env, _) = ENV.get().ok_or_else(|| Error::Internal("ONNX Runtime used before ensure_env".into()))?;
    Session::builder(env)
        .map_err(e)?
        .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
        .map_err(|x| Error::inference(stage, x))?
        .with_memory_pattern(false)
        .map_err(|x| Error::inference(stage, x))?
        .with_intra_threads(intra_threads)
        .map_err(|x| Error::inference(stage, x))?
        .with_inter_threads(1)
        .map_err(|x| Error::inference(stage, x))?
        // Each session has its own pool. Its threads spin while a run goes on (waking them per
        // operator costs more than these small models gain), but stop when it ends: left
        // spinning, they took the cores from the next stages (2 intra threads ran ~2x slower).
        .with_config_entry("session.force_spinning_stop", "1")
        .map_err(|x| Error::inference(stage, x))?
        // CPU memory from the environment's allocator: lichtbild's, which wipes what ORT frees.
        .with_config_entry("session.use_env_allocators", "1")
        .map_err(|x| Error::inference(stage, x))?
        .commit_from_memory(model)
        .map_err(e)
}

/// Initialises ORT from `ORT_DYLIB_PATH` for unit tests of single stages.
#[cfg(test)]
pub(crate) fn test_session(stage: &'static str, model: &[u8]) -> Session {
    ensure_env(None, false).expect("ONNX Runtime for tests: set ORT_DYLIB_PATH");
    session(stage, model, 1).unwrap()
}

thread_local! {
    static RUN_OPTIONS: std::cell::RefCell<Option<Arc<RunOptions>>> = const { std::cell::RefCell::new(None) };
}

/// This thread's `RunOptions`, passed to every inference run on it: the engine's watchdog sets its
/// terminate flag when a request's time budget runs out, which stops a running inference.
pub(crate) fn run_options() -> Result<Arc<RunOptions>> {
    RUN_OPTIONS.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some(r) = &*slot {
            return Ok(r.clone());
        }
        let r = Arc::new(RunOptions::new().map_err(|e| Error::Internal(format!("cannot create ONNX Runtime run options: {e}")))?);
        *slot = Some(r.clone());
        Ok(r)
    })
}
