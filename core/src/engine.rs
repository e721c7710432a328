//! The engine: models verified once, worker threads that own the ORT sessions, and `process`
//! callable from any thread. Bindings hand jobs to these workers; they never run the pipeline on
//! their own threads. The worker thread is where the sandbox is installed before ORT starts.

use crate::decode::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::models;
use crate::options::{Consent, Input, OutputFormat, ProcessOptions};
use crate::pipeline::{self, Analysis, Deadline, Job, JobInput, Sessions};
use crate::privacy::receipt::Receipt;
use crate::privacy::sandbox::{self, Probe, SandboxState};
use crate::privacy::secure_buffer::SecureBuf;
use crate::quality::Finding;
use crate::runtime::{self, RuntimeInfo};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
    /// 0 (default) = the cores shared out among the workers, at least 1: a single worker uses
    /// every core for one photo, one worker per core uses one each.
    pub intra_threads: usize,
    /// Threads one request's pixel loops may use (the worker's own included; they inherit its
    /// protections). 0 (default) = the cores shared out among the workers, at least 1.
    pub pixel_threads: usize,
    pub limits: Limits,
    /// Confine each worker thread (seccomp, Landlock) before ORT starts on it. Turn off only to
    /// debug; the receipt then says the sandbox was not enforced.
    pub sandbox: bool,
    /// A matting model of the user's in place of the embedded selfie segmenter.
    pub matting_model: Option<crate::models::UserModel>,
    /// Requests that may wait for a worker (64; at least 1). One more is refused at once with
    /// [`Error::Busy`], so the memory queued requests hold is bounded: each holds a copy of its
    /// input, at most `limits.max_bytes` encoded or `16 x limits.max_pixels` as pixels.
    pub max_queue: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            ort_library: None,
            workers: 0,
            intra_threads: 0,
            pixel_threads: 0,
            limits: Limits::default(),
            sandbox: true,
            matting_model: None,
            max_queue: 64,
        }
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
    /// Process and analyse requests sent and not yet picked up by a worker.
    queued: Arc<AtomicUsize>,
    watchdog: Arc<Watchdog>,
    watchdog_thread: Option<JoinHandle<()>>,
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
        if config.max_queue == 0 {
            return Err(Error::InvalidOptions("max_queue must be at least 1".into()));
        }
        let n = if config.workers == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4)
        } else {
            config.workers.min(64)
        };
        // Unbounded on purpose: `queued` (checked before sending) is the bound, so a full queue
        // refuses at once instead of blocking the caller.
        let (tx, rx) = crossbeam_channel::unbounded::<Request>();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<(RuntimeInfo, SandboxState)>>(n);
        let queued = Arc::new(AtomicUsize::new(0));
        let watchdog = Arc::new(Watchdog { state: Mutex::new(WatchState { slots: (0..n).map(|_| None).collect(), stop: false }), cv: Condvar::new() });
        let wd = watchdog.clone();
        let watchdog_thread = std::thread::Builder::new()
            .name("lichtbild-watchdog".into())
            .spawn(move || wd.run())
            .map_err(|e| Error::Internal(format!("cannot start the watchdog thread: {e}")))?;
        // Built first, so that an early return below stops (Drop) whatever was started.
        let mut engine = Engine {
            tx: Some(tx),
            workers: Vec::with_capacity(n),
            queued,
            watchdog,
            watchdog_thread: Some(watchdog_thread),
            config,
            runtime: RuntimeInfo { library: PathBuf::new(), version: String::new() },
            sandbox: SandboxState::off("not started"),
            startup_ms: 0.0,
        };
        let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
        let share = |asked: usize| threads_per_worker(asked, n, cores);
        for i in 0..n {
            let rx = rx.clone();
            let ready = ready_tx.clone();
            let mut cfg = engine.config.clone();
            (cfg.intra_threads, cfg.pixel_threads) = (share(cfg.intra_threads), share(cfg.pixel_threads));
            let ctx = WorkerCtx { slot: i, queued: engine.queued.clone(), watchdog: engine.watchdog.clone() };
            let h = std::thread::Builder::new()
                .name(format!("lichtbild-worker-{i}"))
                .spawn(move || worker_main(cfg, rx, ready, ctx))
                .map_err(|e| Error::Internal(format!("cannot start worker thread: {e}")))?;
            engine.workers.push(h);
        }
        drop((ready_tx, rx));
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
    /// was refused before queueing (consent, options, limits, [`Error::Busy`] when `max_queue`
    /// requests are already waiting) and `done` will not run. If `cancel` is set before a worker
    /// picks the job up, `done` gets [`Error::Cancelled`].
    pub fn submit(&self, input: Input<'_>, options: &ProcessOptions, cancel: Option<CancelFlag>, done: Completion) -> Result<()> {
        let (job, slot) = self.job(input, options)?;
        self.send(Request::Process(job, cancel, done))?;
        slot.handed_over();
        Ok(())
    }

    /// Measures the face in a photo (pose, eye line, head height as fractions of the picture)
    /// without composing anything: the checker behind the presets, and how tests verify outputs.
    pub fn analyse(&self, input: Input<'_>, consent: Consent) -> Result<Analysis> {
        let preset = crate::presets::Preset::builtin("bewerbung-45x60")?;
        let (job, slot) = self.job(input, &ProcessOptions::new(preset, consent))?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Request::Analyse(job, tx))?;
        slot.handed_over();
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
    /// Requests waiting for a worker right now (at most `max_queue`).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
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

    /// Copies the caller's input into a wiped buffer the worker owns; checks consent, options,
    /// limits and the queue first, so nothing is copied (or analysed) without them.
    fn job(&self, input: Input<'_>, options: &ProcessOptions) -> Result<(Job, QueueSlot<'_>)> {
        // The budget counts from here: queue wait included.
        let submitted = Instant::now();
        pipeline::check_consent(options)?;
        options.validate()?;
        let limits = &self.config.limits;
        let out_px = options.preset.width_px as u64 * options.preset.height_px as u64;
        if out_px > limits.max_output_pixels {
            return Err(Error::TooLarge { what: "the output (pixels, width x height of the preset)", actual: out_px, limit: limits.max_output_pixels });
        }
        let slot = self.reserve()?;
        let input = match input {
            Input::Encoded(b) => {
                if b.len() as u64 > limits.max_bytes {
                    return Err(Error::TooLarge { what: "encoded input (bytes)", actual: b.len() as u64, limit: limits.max_bytes });
                }
                JobInput::Encoded(SecureBuf::from_slice(b))
            }
            Input::Pixels(p) => {
                let need = p.required_len()?;
                // Checked before the copy, so a queued request never holds more than the limits.
                let px = p.width as u64 * p.height as u64;
                if px > limits.max_pixels {
                    return Err(Error::TooLarge { what: "pixel input (pixels, width x height)", actual: px, limit: limits.max_pixels });
                }
                let max_copy = limits.max_pixels.saturating_mul(16);
                if need as u64 > max_copy {
                    return Err(Error::TooLarge { what: "pixel input (bytes with its stride)", actual: need as u64, limit: max_copy });
                }
                JobInput::Pixels {
                    data: SecureBuf::from_slice(&p.data[..need]),
                    width: p.width,
                    height: p.height,
                    stride: p.stride,
                    format: p.format,
                }
            }
        };
        let deadline = options.time_budget.map(|b| Deadline { at: submitted + b, budget_ms: b.as_millis() as u64 });
        Ok((Job { input, options: options.clone(), limits: self.config.limits, deadline }, slot))
    }

    /// A place in the queue, or [`Error::Busy`] when `max_queue` requests are already waiting.
    fn reserve(&self) -> Result<QueueSlot<'_>> {
        let max = self.config.max_queue;
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .map_err(|waiting| Error::Busy { waiting })?;
        Ok(QueueSlot(&self.queued))
    }
}

/// A reserved place in the queue: released on drop (the request was refused after all) unless it
/// was handed over with the request, whose worker then releases it when it picks it up.
struct QueueSlot<'a>(&'a AtomicUsize);

impl QueueSlot<'_> {
    fn handed_over(self) {
        std::mem::forget(self);
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.tx.take();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        self.watchdog.state.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        self.watchdog.cv.notify_all();
        if let Some(h) = self.watchdog_thread.take() {
            let _ = h.join();
        }
    }
}

/// Stops a running inference when its request's time budget runs out: ONNX Runtime's terminate
/// flag on the worker's `RunOptions` (set from this thread; the inference then fails at once).
/// Stage boundaries are checked by the pipeline itself; this covers the long calls in between.
struct Watchdog {
    state: Mutex<WatchState>,
    cv: Condvar,
}

struct WatchState {
    /// Per worker: the deadline of the job it runs and that worker's run options.
    slots: Vec<Option<(Instant, Arc<ort::session::RunOptions>)>>,
    stop: bool,
}

impl Watchdog {
    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by worker `slot` when it starts a job with a deadline. Under the lock, so a
    /// terminate meant for an earlier job can never reach this one.
    fn arm(&self, slot: usize, at: Instant, ro: Arc<ort::session::RunOptions>) {
        let mut st = self.lock();
        let _ = ro.unterminate();
        st.slots[slot] = Some((at, ro));
        self.cv.notify_all();
    }

    /// Under the lock, so no terminate can follow; the flag is cleared for the worker's next
    /// inference, budgeted or not.
    fn disarm(&self, slot: usize, ro: &ort::session::RunOptions) {
        let mut st = self.lock();
        st.slots[slot] = None;
        let _ = ro.unterminate();
    }

    fn run(&self) {
        let mut st = self.lock();
        while !st.stop {
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            for slot in st.slots.iter_mut() {
                if let Some((at, ro)) = slot {
                    if *at <= now {
                        let _ = ro.terminate();
                        *slot = None;
                    } else {
                        next = Some(next.map_or(*at, |n| n.min(*at)));
                    }
                }
            }
            st = match next {
                Some(at) => self.cv.wait_timeout(st, at - now).unwrap_or_else(|p| p.into_inner()).0,
                None => self.cv.wait(st).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

struct WorkerCtx {
    slot: usize,
    queued: Arc<AtomicUsize>,
    watchdog: Arc<Watchdog>,
}

/// The watchdog watches a worker while this lives (disarmed on drop, panics included).
struct Armed<'a> {
    ctx: &'a WorkerCtx,
    ro: Arc<ort::session::RunOptions>,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.ctx.watchdog.disarm(self.ctx.slot, &self.ro);
    }
}

/// Runs one job under its time budget (if any): refused if the budget ran out in the queue; an
/// inference the watchdog stopped is reported as the timeout it is.
fn run_budgeted<T>(ctx: &WorkerCtx, deadline: Option<Deadline>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let Some(d) = deadline else { return f() };
    d.check("while the request waited in the queue")?;
    let ro = runtime::run_options()?;
    ctx.watchdog.arm(ctx.slot, d.at, ro.clone());
    let armed = Armed { ctx, ro };
    let r = f();
    drop(armed);
    match r {
        Err(e) if e.kind() == ErrorKind::Inference && d.expired() => Err(d.error("during an inference (stopped)")),
        r => r,
    }
}

/// Threads each of `workers` workers gets: `asked`, or for 0 the cores shared out among them
/// (at least 1), so one worker uses every core for its photo and one worker per core does not
/// oversubscribe.
fn threads_per_worker(asked: usize, workers: usize, cores: usize) -> usize {
    if asked == 0 {
        (cores / workers.max(1)).max(1)
    } else {
        asked
    }
}

fn worker_main(
    cfg: EngineConfig,
    rx: crossbeam_channel::Receiver<Request>,
    ready: crossbeam_channel::Sender<Result<(RuntimeInfo, SandboxState)>>,
    ctx: WorkerCtx,
) {
    // The sandbox comes first, so that ORT (its telemetry included) and every thread it spawns
    // start inside it. A sandbox that was asked for and cannot be installed stops the engine.
    let started = catch_unwind(AssertUnwindSafe(|| -> Result<(Sessions, RuntimeInfo, SandboxState)> {
        let sb = if cfg.sandbox {
            sandbox::enter().map_err(|reason| Error::Sandbox { reason })?
        } else {
            SandboxState::off("turned off in the engine configuration (sandbox: false)")
        };
        let info = runtime::ensure_env(cfg.ort_library.as_deref(), sb.enforced)?;
        // Pixel loops split into bands on threads spawned from this (already confined) thread;
        // `Engine::new` resolved both thread counts.
        crate::privacy::secure_buffer::keep_wiped_buffers(crate::privacy::secure_buffer::WORKER_KEPT_BYTES);
        crate::parallel::set_threads(cfg.pixel_threads.max(1));
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
    // ORT's tensors freed on this thread wait for the end of the job to be zeroed (end_job,
    // called by the pipeline before its receipt and here after every request, errors included).
    crate::privacy::ort_alloc::defer_wiping();
    crate::privacy::ort_alloc::end_job();
    let _ = ready.send(Ok((info.clone(), sb.clone())));
    drop(ready);
    for req in rx.iter() {
        match req {
            Request::Process(job, cancel, done) => {
                ctx.queued.fetch_sub(1, Ordering::AcqRel);
                if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Acquire)) {
                    let _ = catch_unwind(AssertUnwindSafe(move || done(Err(Error::Cancelled))));
                    continue;
                }
                let deadline = job.deadline;
                let r = catch_unwind(AssertUnwindSafe(|| run_budgeted(&ctx, deadline, || pipeline::process(&mut sessions, &info, &sb, job))))
                    .unwrap_or_else(|p| Err(panic_error(p)));
                crate::privacy::ort_alloc::end_job();
                // A panicking callback must not take the worker down with it.
                let _ = catch_unwind(AssertUnwindSafe(move || done(r)));
            }
            Request::Probe(dir, reply) => {
                let _ = reply.send(sandbox::probe(&dir));
            }
            Request::Analyse(job, reply) => {
                ctx.queued.fetch_sub(1, Ordering::AcqRel);
                let r = catch_unwind(AssertUnwindSafe(|| pipeline::analyse(&mut sessions, job)))
                    .unwrap_or_else(|p| Err(panic_error(p)));
                crate::privacy::ort_alloc::end_job();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unset_thread_counts_share_the_cores_among_the_workers() {
        // (asked, workers, cores) -> threads per worker
        for (asked, workers, cores, want) in [(0, 1, 2, 2), (0, 2, 2, 1), (0, 4, 2, 1), (0, 1, 8, 8), (0, 3, 8, 2), (3, 2, 2, 3), (1, 1, 8, 1), (0, 0, 2, 2)] {
            assert_eq!(threads_per_worker(asked, workers, cores), want, "asked {asked}, {workers} workers, {cores} cores");
        }
    }

    /// The watchdog's terminate really stops an ONNX Runtime run, and the next job on the same
    /// worker (same run options) runs normally again.
    #[test]
    fn watchdog_stops_an_inference_past_its_deadline() {
        let mut session = runtime::test_session("detect", models::DETECTOR.bytes);
        let img = crate::detect::tests::fixture("astronaut.png");
        let watchdog = Arc::new(Watchdog { state: Mutex::new(WatchState { slots: vec![None], stop: false }), cv: Condvar::new() });
        let wd = watchdog.clone();
        let thread = std::thread::spawn(move || wd.run());
        let ctx = WorkerCtx { slot: 0, queued: Arc::new(AtomicUsize::new(0)), watchdog: watchdog.clone() };

        let d = Deadline { at: Instant::now() + Duration::from_millis(30), budget_ms: 30 };
        let mut inner = None;
        let r = run_budgeted(&ctx, Some(d), || {
            // The deadline passes with the job running: wait until the watchdog has fired, then
            // run an inference (no stage check in `detect`: only ORT's terminate flag can stop it).
            while watchdog.lock().slots[0].is_some() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let r = crate::detect::detect(&mut session, &img);
            inner = Some(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            r
        });
        let inner = inner.unwrap().unwrap_err();
        assert!(inner.contains("terminate"), "the inference was stopped by ONNX Runtime: {inner}");
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Timeout);

        // The next job without a budget is not hit by the flag the last one left.
        assert_eq!(run_budgeted(&ctx, None, || crate::detect::detect(&mut session, &img)).unwrap().len(), 1);
        let later = Deadline { at: Instant::now() + Duration::from_secs(600), budget_ms: 600_000 };
        let faces = run_budgeted(&ctx, Some(later), || crate::detect::detect(&mut session, &img)).unwrap();
        assert_eq!(faces.len(), 1);

        watchdog.lock().stop = true;
        watchdog.cv.notify_all();
        thread.join().unwrap();
    }
}
