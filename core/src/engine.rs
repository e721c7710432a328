//! The engine: models verified once, worker threads that own the ORT sessions, and `process`
//! callable from any thread. Bindings hand jobs to these workers; they never run the pipeline on
//! their own threads. The worker thread is where the sandbox is installed before ORT starts.

use crate::decode::Limits;
use crate::error::{Error, Result};
use crate::models;
use crate::options::{Consent, Input, OutputFormat, ProcessOptions};
use crate::pipeline::{self, Analysis, Job, JobInput, Sessions};
use crate::privacy::receipt::Receipt;
use crate::privacy::sandbox::{self, Probe, SandboxState};
use crate::privacy::secure_buffer::SecureBuf;
use crate::quality::Finding;
use crate::runtime::{self, RuntimeInfo};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Instant;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Path to libonnxruntime; `None` searches (see [`runtime::candidates`]).
    pub ort_library: Option<PathBuf>,
    /// Worker threads (each with its own sessions). 0 = one per core, at most 4.
    pub workers: usize,
    /// ORT intra-op threads per worker session (they inherit the worker's protections).
    pub intra_threads: usize,
    pub limits: Limits,
    /// Confine each worker thread (seccomp, Landlock) before ORT starts on it. Turn off only to
    /// debug; the receipt then says the sandbox was not enforced.
    pub sandbox: bool,
    /// A matting model of the user's in place of the embedded selfie segmenter.
    pub matting_model: Option<crate::models::UserModel>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { ort_library: None, workers: 0, intra_threads: 1, limits: Limits::default(), sandbox: true, matting_model: None }
    }
}

impl EngineConfig {
    pub fn from_json(json: &str) -> Result<EngineConfig> {
        if !json.trim_start().starts_with('{') {
            return Err(Error::InvalidOptions("engine config JSON must be an object".into()));
        }
        serde_json::from_str(json).map_err(|e| Error::InvalidOptions(format!("engine config JSON: {e}")))
    }
}

/// The headshot and everything said about it.
#[derive(Debug)]
pub struct Output {
    pub image: OutputImage,
    pub findings: Vec<Finding>,
    pub receipt: Receipt,
    /// The 468 face-mesh points in output pixels, only when `return_landmarks` was set.
    pub landmarks: Option<Vec<[f32; 2]>>,
    /// With the landmarks: the map from full-resolution photo pixels to output pixels,
    /// `[a, b, c, d, tx, ty]` with `x' = a x + b y + tx`, `y' = c x + d y + ty` (pixel-edge
    /// coordinates: a pixel's centre is at +0.5). Lets an evaluation put reference mattes in the
    /// output frame.
    pub photo_to_frame: Option<[f32; 6]>,
}

#[derive(Debug)]
pub enum OutputImage {
    Encoded { format: OutputFormat, bytes: Vec<u8> },
    /// Straight (not premultiplied) RGBA8, rows packed.
    Pixels { width: u32, height: u32, rgba: Vec<u8> },
}

impl OutputImage {
    pub fn bytes(&self) -> &[u8] {
        match self {
            OutputImage::Encoded { bytes, .. } => bytes,
            OutputImage::Pixels { rgba, .. } => rgba,
        }
    }
}

/// Called on the worker thread with the result of [`Engine::submit`]; keep it short.
pub type Completion = Box<dyn FnOnce(Result<Output>) + Send + 'static>;

/// Set it to cancel a submitted job that no worker has started yet.
pub type CancelFlag = std::sync::Arc<std::sync::atomic::AtomicBool>;

pub(crate) enum Request {
    Process(Job, Option<CancelFlag>, Completion),
    Analyse(Job, crossbeam_channel::Sender<Result<Analysis>>),
    Probe(PathBuf, crossbeam_channel::Sender<Vec<Probe>>),
}

/// What [`Engine::self_check`] found: the same forbidden operations tried on a worker thread and
/// on the calling thread.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SelfCheck {
    pub sandbox: SandboxState,
    pub worker: Vec<Probe>,
    pub caller: Vec<Probe>,
    /// Every operation refused on the worker (and the sandbox on).
    pub passed: bool,
}

pub struct Engine {
    tx: Option<crossbeam_channel::Sender<Request>>,
    workers: Vec<JoinHandle<()>>,
    config: EngineConfig,
    runtime: RuntimeInfo,
    sandbox: SandboxState,
    startup_ms: f64,
}

impl Engine {
    /// Verifies the embedded models, loads ONNX Runtime and starts the workers.
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let t0 = Instant::now();
        for m in models::ALL {
            models::verify(m.name, m.bytes, m.sha256)?;
        }
        if let Some(m) = &config.matting_model {
            m.check("matting")?;
        }
        let n = if config.workers == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4)
        } else {
            config.workers.min(64)
        };
        let (tx, rx) = crossbeam_channel::unbounded::<Request>();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<(RuntimeInfo, SandboxState)>>(n);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let rx = rx.clone();
            let ready = ready_tx.clone();
            let cfg = config.clone();
            let h = std::thread::Builder::new()
                .name(format!("lichtbild-worker-{i}"))
                .spawn(move || worker_main(cfg, rx, ready))
                .map_err(|e| Error::Internal(format!("cannot start worker thread: {e}")))?;
            workers.push(h);
        }
        drop(ready_tx);
        let mut engine = Engine {
            tx: Some(tx),
            workers,
            config,
            runtime: RuntimeInfo { library: PathBuf::new(), version: String::new() },
            sandbox: SandboxState::off("not started"),
            startup_ms: 0.0,
        };
        for _ in 0..n {
            match ready_rx.recv() {
                Ok(Ok((info, sb))) => (engine.runtime, engine.sandbox) = (info, sb),
                Ok(Err(e)) => return Err(e), // Drop joins the workers.
                Err(_) => return Err(Error::Internal("a worker thread stopped during start-up".into())),
            }
        }
        engine.startup_ms = t0.elapsed().as_secs_f64() * 1e3;
        Ok(engine)
    }

    /// Turns a photo into a headshot. Blocks until a worker has finished; safe from any thread.
    pub fn process(&self, input: Input<'_>, options: &ProcessOptions) -> Result<Output> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.submit(input, options, None, Box::new(move |r| {
            let _ = tx.send(r);
        }))?;
        rx.recv().map_err(|_| Error::Internal("worker stopped while processing".into()))?
    }

    /// Queues a job and returns at once; `done` runs on the worker thread with the result. For
    /// bindings with their own event loop (Node), so no thread of theirs waits or does the work.
    /// The input is copied into a wiped buffer before this returns. An `Err` here means the job
    /// was refused before queueing (consent, options, limits) and `done` will not run. If `cancel`
    /// is set before a worker picks the job up, `done` gets [`Error::Cancelled`].
    pub fn submit(&self, input: Input<'_>, options: &ProcessOptions, cancel: Option<CancelFlag>, done: Completion) -> Result<()> {
        let job = self.job(input, options)?;
        self.send(Request::Process(job, cancel, done))
    }

    /// Measures the face in a photo (pose, eye line, head height as fractions of the picture)
    /// without composing anything: the checker behind the presets, and how tests verify outputs.
    pub fn analyse(&self, input: Input<'_>, consent: Consent) -> Result<Analysis> {
        let preset = crate::presets::Preset::builtin("bewerbung-45x60")?;
        let job = self.job(input, &ProcessOptions::new(preset, consent))?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Request::Analyse(job, tx))?;
        rx.recv().map_err(|_| Error::Internal("worker stopped while analysing".into()))?
    }

    /// Tries every operation the sandbox forbids on a worker thread and on the calling thread,
    /// with harmless arguments, and reports what the kernel answered. `scratch_dir` is where the
    /// file and directory probes try to create something (removed again at once if they can).
    pub fn self_check(&self, scratch_dir: &std::path::Path) -> Result<SelfCheck> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Request::Probe(scratch_dir.to_path_buf(), tx))?;
        let worker = rx.recv().map_err(|_| Error::Internal("worker stopped during the self-check".into()))?;
        let caller = sandbox::probe(scratch_dir);
        let passed = self.sandbox.enforced && !worker.is_empty() && worker.iter().all(|p| p.blocked);
        Ok(SelfCheck { sandbox: self.sandbox.clone(), worker, caller, passed })
    }

    /// The protections the workers run under (also in every receipt).
    pub fn sandbox(&self) -> &SandboxState {
        &self.sandbox
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
    pub fn runtime(&self) -> &RuntimeInfo {
        &self.runtime
    }
    pub fn workers(&self) -> usize {
        self.workers.len()
    }
    /// Time `new` took: model checks, ORT start, sessions on every worker.
    pub fn startup_ms(&self) -> f64 {
        self.startup_ms
    }

    fn send(&self, r: Request) -> Result<()> {
        self.tx
            .as_ref()
            .ok_or_else(|| Error::Internal("engine is shut down".into()))?
            .send(r)
            .map_err(|_| Error::Internal("all workers have stopped".into()))
    }

    /// Copies the caller's input into a wiped buffer the worker owns; checks consent and options
    /// first, so nothing is copied (or analysed) without them.
    fn job(&self, input: Input<'_>, options: &ProcessOptions) -> Result<Job> {
        pipeline::check_consent(options)?;
        options.validate()?;
        let input = match input {
            Input::Encoded(b) => {
                if b.len() as u64 > self.config.limits.max_bytes {
                    return Err(Error::TooLarge { what: "input bytes", actual: b.len() as u64, limit: self.config.limits.max_bytes });
                }
                JobInput::Encoded(SecureBuf::from_slice(b))
            }
            Input::Pixels(p) => {
                let need = p.required_len()?;
                JobInput::Pixels {
                    data: SecureBuf::from_slice(&p.data[..need]),
                    width: p.width,
                    height: p.height,
                    stride: p.stride,
                    format: p.format,
                }
            }
        };
        Ok(Job { input, options: options.clone(), limits: self.config.limits })
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.tx.take();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker_main(cfg: EngineConfig, rx: crossbeam_channel::Receiver<Request>, ready: crossbeam_channel::Sender<Result<(RuntimeInfo, SandboxState)>>) {
    // The sandbox comes first, so that ORT (its telemetry included) and every thread it spawns
    // start inside it. A sandbox that was asked for and cannot be installed stops the engine.
    let started = catch_unwind(AssertUnwindSafe(|| -> Result<(Sessions, RuntimeInfo, SandboxState)> {
        let sb = if cfg.sandbox {
            sandbox::enter().map_err(|reason| Error::Sandbox { reason })?
        } else {
            SandboxState::off("turned off in the engine configuration (sandbox: false)")
        };
        let info = runtime::ensure_env(cfg.ort_library.as_deref(), sb.enforced)?;
        Ok((Sessions::new(cfg.intra_threads.max(1), cfg.matting_model.as_ref())?, info, sb))
    }))
    .unwrap_or_else(|_| Err(Error::Internal("worker panicked while starting ONNX Runtime".into())));
    let (mut sessions, info, sb) = match started {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok((info.clone(), sb.clone())));
    drop(ready);
    for req in rx.iter() {
        match req {
            Request::Process(job, cancel, done) => {
                if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Acquire)) {
                    let _ = catch_unwind(AssertUnwindSafe(move || done(Err(Error::Cancelled))));
                    continue;
                }
                let r = catch_unwind(AssertUnwindSafe(|| pipeline::process(&mut sessions, &info, &sb, job)))
                    .unwrap_or_else(|p| Err(panic_error(p)));
                // A panicking callback must not take the worker down with it.
                let _ = catch_unwind(AssertUnwindSafe(move || done(r)));
            }
            Request::Probe(dir, reply) => {
                let _ = reply.send(sandbox::probe(&dir));
            }
            Request::Analyse(job, reply) => {
                let r = catch_unwind(AssertUnwindSafe(|| pipeline::analyse(&mut sessions, job)))
                    .unwrap_or_else(|p| Err(panic_error(p)));
                let _ = reply.send(r);
            }
        }
    }
}

fn panic_error(p: Box<dyn std::any::Any + Send>) -> Error {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::Internal(format!("the pipeline panicked (a bug; please report): {msg}"))
}
