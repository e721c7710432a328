//! Node.js binding of lichtbild (N-API via napi-rs). Argument conversion and error mapping only:
//! every decision is the core's. Jobs go to the engine's own worker threads with
//! `Engine::submit`; the completion settles the promise through a threadsafe function, so neither
//! the JS thread nor libuv's thread pool ever runs or waits for the pipeline.

use lichtbild::{CancelFlag, ErrorKind, Input, OptionsSpec, Output, OutputImage, PixelFormat, PixelsRef};
use napi::bindgen_prelude::*;
use napi::{Env, JsDeferred, ScopedTask};
use napi_derive::napi;
use serde::{Deserialize, Serialize};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type CoreResult<T> = std::result::Result<T, lichtbild::Error>;

// Every block freed on an engine worker thread is zeroed, decoders' buffers included: only the
// artifact (this addon) can choose the allocator for its Rust code, the core cannot.
#[global_allocator]
static ALLOC: lichtbild::WipeOnFree = lichtbild::WipeOnFree::system();

// ---------------------------------------------------------------------------------------------
// Errors: the one table. `code` is the core's stable string; only the JS `name` is chosen here.

/// JS `name` of the error for a kind: `AbortError` for a cancelled job (what `fetch` and the
/// platform use for an aborted signal), `TimeoutError` for a spent time budget (what
/// `AbortSignal.timeout()` uses), `LichtbildError` for everything else.
fn error_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Cancelled => "AbortError",
        ErrorKind::Timeout => "TimeoutError",
        _ => "LichtbildError",
    }
}

/// A JS `Error` carrying `code` (the core's stable code) and the core's message, as a napi error
/// that rejects or throws exactly this object.
fn js_error(env: &Env, e: &lichtbild::Error) -> napi::Error {
    let kind = e.kind();
    let mut message = e.to_string();
    if kind == ErrorKind::RuntimeNotFound {
        // The core's hint names the Python wheel; say what a Node user installs.
        message.push_str(
            "\nFor Node: `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0` next to lichtbild, \
             or pass `new Engine({ ortLibrary: '/path/to/libonnxruntime.so' })`.",
        );
    }
    let build = || -> napi::Result<Object<'_>> {
        let mut obj = env.create_error(napi::Error::new(Status::GenericFailure, message.clone()))?;
        obj.set_named_property("code", kind.code())?;
        obj.set_named_property("name", error_name(kind))?;
        Ok(obj)
    };
    match build() {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
        Err(e) => e,
    }
}

/// Every code this binding can reject with: the table above applied to every core kind.
#[napi(catch_unwind)]
pub fn error_codes() -> Vec<String> {
    ErrorKind::ALL.iter().map(|k| k.code().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Conversion helpers.

/// Through JSON text rather than `serde_json::Value`, so f32 values arrive as written (0.7, not
/// 0.699999988).
fn via_json<T: Serialize, U: serde::de::DeserializeOwned>(t: &T, what: &str) -> CoreResult<U> {
    let s = serde_json::to_string(t).map_err(|e| lichtbild::Error::Internal(format!("{what}: {e}")))?;
    serde_json::from_str(&s).map_err(|e| lichtbild::Error::InvalidOptions(format!("{what}: {e}")))
}

/// Converts a JS argument; a value of the wrong shape becomes the core error `wrong`.
fn from_js<T: FromNapiValue>(v: Unknown<'_>, wrong: impl Fn(String) -> lichtbild::Error) -> CoreResult<T> {
    let env = v.value().env;
    // SAFETY: `v` is a live value of the current call's env.
    unsafe { T::from_napi_value(env, v.raw()) }.map_err(|e| {
        clear_exception(env);
        wrong(e.reason.clone())
    })
}

/// Converts a JS object argument (objects only: property reads on `null` would throw).
fn object_from_js<T: FromNapiValue>(v: Unknown<'_>, what: &str, wrong: impl Fn(String) -> lichtbild::Error) -> CoreResult<T> {
    match v.get_type() {
        Ok(ValueType::Object) => from_js(v, wrong),
        Ok(t) => Err(wrong(format!("{what} must be an object, got {t}"))),
        Err(e) => Err(wrong(e.reason.clone())),
    }
}

/// A failed conversion can leave a JS exception pending (a throwing getter, say); the job's
/// coded error is what the caller gets instead.
fn clear_exception(env: napi::sys::napi_env) {
    let mut pending = false;
    // SAFETY: plain N-API calls on the current env, on its own thread.
    unsafe {
        if napi::sys::napi_is_exception_pending(env, &mut pending) == napi::sys::Status::napi_ok && pending {
            let mut exc = std::ptr::null_mut();
            napi::sys::napi_get_and_clear_last_exception(env, &mut exc);
        }
    }
}

fn is_nullish(v: &Unknown<'_>) -> bool {
    matches!(v.get_type(), Ok(ValueType::Undefined | ValueType::Null))
}

// ---------------------------------------------------------------------------------------------
// Engine configuration.

/// Engine settings; all optional.
#[napi(object, object_to_js = false)]
pub struct EngineOptions {
    /// Path of libonnxruntime. The package's JS entry fills it from `onnxruntime-node` when
    /// neither this nor `ORT_DYLIB_PATH` is set.
    pub ort_library: Option<String>,
    /// Worker threads, each with its own ONNX Runtime sessions. 0 or absent: one per core, at most 4.
    pub workers: Option<u32>,
    /// ONNX Runtime intra-op threads per worker (0 or absent: the cores shared out among the
    /// workers, at least 1).
    pub intra_threads: Option<u32>,
    /// Threads one request's pixel loops may use, the worker's own included (0 or absent: the
    /// cores shared out among the workers, at least 1).
    pub pixel_threads: Option<u32>,
    /// Confine each worker thread (seccomp) before ONNX Runtime starts on it (default true).
    pub sandbox: Option<bool>,
    /// Largest accepted width x height of an input (default 0x3FFF x 0x3FFF, about 268 MP).
    pub max_pixels: Option<f64>,
    /// Largest accepted encoded input in bytes (default 256 MiB).
    pub max_bytes: Option<f64>,
    /// Largest output width x height a preset may ask for (default 25,000,000); a larger
    /// `customPreset` is refused with `too_large` before any work.
    pub max_output_pixels: Option<f64>,
    /// Requests that may wait for a worker (default 64); one more is rejected at once with
    /// `busy`. Bounds the memory queued requests hold (each holds a copy of its input).
    pub max_queue: Option<u32>,
}

impl EngineOptions {
    fn into_config(self) -> CoreResult<lichtbild::EngineConfig> {
        let mut c = lichtbild::EngineConfig::default();
        let bad = |m: String| lichtbild::Error::InvalidOptions(m);
        let whole = |name: &str, v: f64| -> CoreResult<u64> {
            if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64 {
                Ok(v as u64)
            } else {
                Err(bad(format!("{name} must be a whole number >= 0, got {v}")))
            }
        };
        if let Some(p) = self.ort_library {
            c.ort_library = Some(PathBuf::from(p));
        }
        if let Some(w) = self.workers {
            c.workers = w as usize;
        }
        if let Some(t) = self.intra_threads {
            c.intra_threads = t as usize;
        }
        if let Some(t) = self.pixel_threads {
            c.pixel_threads = t as usize;
        }
        if let Some(s) = self.sandbox {
            c.sandbox = s;
        }
        if let Some(p) = self.max_pixels {
            c.limits.max_pixels = whole("maxPixels", p)?;
        }
        if let Some(b) = self.max_bytes {
            c.limits.max_bytes = whole("maxBytes", b)?;
        }
        if let Some(o) = self.max_output_pixels {
            c.limits.max_output_pixels = whole("maxOutputPixels", o)?;
        }
        if let Some(q) = self.max_queue {
            c.max_queue = q as usize;
        }
        Ok(c)
    }
}

// ---------------------------------------------------------------------------------------------
// Options: field names are the core's `OptionsSpec` names (napi shows them camelCase in JS,
// serde keeps them snake_case), so serde converts them and the core does all parsing.

/// The person's consent, per scope. Required: there is no default anywhere.
#[napi(object)]
#[derive(Serialize)]
pub struct Consent {
    /// Detect and measure the face to crop and level the photo. Needed for every headshot.
    pub face_geometry: bool,
    /// Retouching that changes how the person looks (needed when `retouch` > 0). Absent = not given.
    #[serde(serialize_with = "absent_is_false")]
    pub appearance: Option<bool>,
}

fn absent_is_false<S: serde::Serializer>(v: &Option<bool>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_bool(v.unwrap_or(false))
}

/// A target band as fractions of the frame height.
#[napi(object)]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub target: f64,
    pub min: f64,
    pub max: f64,
}

/// Output geometry: a built-in from `presets()` or your own (`customPreset`).
#[napi(object)]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub description: String,
    pub width_px: u32,
    pub height_px: u32,
    pub dpi: u32,
    /// Head height (crown to chin) as a fraction of the frame height.
    pub head_height: Band,
    /// Eye line, as a fraction of the frame height from the top.
    pub eye_line: Band,
    pub max_roll_deg: f64,
    pub max_yaw_deg: f64,
    pub max_pitch_deg: f64,
    pub default_background: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// What to make. `consent` is required and has no default.
#[napi(object, object_to_js = false)]
#[derive(Serialize)]
pub struct ProcessOptions<'a> {
    /// Built-in preset name (default `bewerbung-45x60`); see `presets()`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// A whole custom preset; wins over `preset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_preset: Option<Preset>,
    /// A name (`studio-grey`, `white`, ...), `#rrggbb`, `gradient:#a,#b`, `studio[:#rrggbb]`,
    /// `blur` or `transparent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    /// An encoded image (JPEG, PNG, WebP) to put behind the person, instead of `background`.
    #[serde(skip)]
    pub background_image: Option<Uint8ArraySlice<'a>>,
    pub consent: Consent,
    /// Retouch strength in [0, 1] (needs `consent.appearance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retouch: Option<f64>,
    /// Output format (default `jpeg`).
    #[napi(ts_type = "'jpeg' | 'png' | 'webp' | 'pixels'")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// JPEG quality 1..=100 (default 92).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<u32>,
    /// Largest acceptable output in KiB (JPEG quality is lowered to fit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_kb: Option<u32>,
    /// Several faces: use the largest (default) or reject with `multiple_faces`.
    #[napi(ts_type = "'largest' | 'error'")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_face: Option<String>,
    /// Return the 468 face-mesh points in output pixels (off unless asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_landmarks: Option<bool>,
    /// Seal (encrypt, age format) the encoded output to these age X25519 recipients (`age1…`)
    /// inside the engine: `image` is then the age file, and `receipt.output.sealed` says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_to: Option<Vec<String>>,
    /// Seal with this passphrase instead (age scrypt). Not together with `sealTo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_passphrase: Option<String>,
    /// Milliseconds the job may take from the call, queue wait included; past it the promise
    /// rejects with code `timeout` (never a partial result). Absent: no budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_budget_ms: Option<u32>,
    /// Cancels the job while it waits for a worker (a running job finishes).
    #[serde(skip)]
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'a>>,
}

impl ProcessOptions<'_> {
    fn to_core(&self) -> CoreResult<lichtbild::ProcessOptions> {
        let spec: OptionsSpec = via_json(self, "options")?;
        spec.into_options(self.background_image.as_ref().map(|b| b.to_vec()))
    }
}

/// A pixel buffer. 16-bit and float samples are native-endian, in [0, 65535] / [0, 1].
#[napi(object, object_to_js = false)]
pub struct PixelsInput<'a> {
    /// The samples: any typed array (or Buffer); its bytes are read as `format`.
    #[napi(ts_type = "Uint8Array | Uint8ClampedArray | Uint16Array | Float32Array")]
    pub data: TypedArray<'a>,
    pub width: u32,
    pub height: u32,
    /// Bytes from one row to the next (default: width x bytes per pixel).
    pub stride: Option<u32>,
    /// Sample layout (default `rgba8`).
    #[napi(ts_type = "'rgb8' | 'rgba8' | 'rgb16' | 'rgba16' | 'rgbf32' | 'rgbaf32'")]
    pub format: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Results.

/// Something the pipeline did or noticed about the photo.
#[napi(object)]
#[derive(Deserialize)]
pub struct Finding {
    /// Stable code, e.g. `roll_corrected`, `blurry`, `eyes_closed`.
    pub code: String,
    #[napi(ts_type = "'info' | 'warning' | 'critical'")]
    pub severity: String,
    pub message: String,
    /// The measured value behind the finding, when there is one.
    pub value: Option<f64>,
}

/// An encoded headshot (or RGBA pixels for `format: 'pixels'`).
#[napi(object)]
pub struct ProcessResult {
    pub image: Buffer,
    #[napi(ts_type = "'jpeg' | 'png' | 'webp' | 'pixels'")]
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub findings: Vec<Finding>,
    /// What happened to the photo and under which protections: the receipt JSON document shared
    /// by every lichtbild binding (snake_case keys, `schema` versioned).
    #[napi(ts_type = "Record<string, any>")]
    pub receipt: serde_json::Value,
    /// Face-mesh points `[x, y]` in output pixels, only with `returnLandmarks`.
    #[napi(ts_type = "Array<[number, number]>")]
    pub landmarks: Option<Vec<Vec<f64>>>,
}

/// A headshot as straight (not premultiplied) RGBA8 pixels, rows packed.
#[napi(object)]
pub struct PixelsResult {
    pub pixels: Buffer,
    pub width: u32,
    pub height: u32,
    pub findings: Vec<Finding>,
    #[napi(ts_type = "Record<string, any>")]
    pub receipt: serde_json::Value,
    #[napi(ts_type = "Array<[number, number]>")]
    pub landmarks: Option<Vec<Vec<f64>>>,
}

struct Common {
    findings: Vec<Finding>,
    receipt: serde_json::Value,
    landmarks: Option<Vec<Vec<f64>>>,
}

fn common(out: &Output) -> CoreResult<Common> {
    Ok(Common {
        findings: via_json(&out.findings, "findings")?,
        receipt: via_json(&out.receipt, "receipt")?,
        landmarks: out.landmarks.as_ref().map(|l| l.iter().map(|p| vec![p[0] as f64, p[1] as f64]).collect()),
    })
}

fn process_result(out: Output) -> CoreResult<ProcessResult> {
    let c = common(&out)?;
    let (width, height) = (out.receipt.output.width, out.receipt.output.height);
    let (image, format) = match out.image {
        OutputImage::Encoded { format, bytes } => (bytes, via_json::<_, String>(&format, "format")?),
        OutputImage::Pixels { rgba, .. } => (rgba, "pixels".to_string()),
    };
    Ok(ProcessResult { image: image.into(), format, width, height, findings: c.findings, receipt: c.receipt, landmarks: c.landmarks })
}

fn pixels_result(out: Output) -> CoreResult<PixelsResult> {
    let c = common(&out)?;
    match out.image {
        OutputImage::Pixels { width, height, rgba } => {
            Ok(PixelsResult { pixels: rgba.into(), width, height, findings: c.findings, receipt: c.receipt, landmarks: c.landmarks })
        }
        OutputImage::Encoded { .. } => Err(lichtbild::Error::Internal("asked for pixels, got an encoded image".into())),
    }
}

// ---------------------------------------------------------------------------------------------
// The engine.

type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T>>;

/// `signal.addEventListener` / `removeEventListener` called with `('abort', listener)`.
type ListenerMethod<'a> = Function<'a, FnArgs<(&'static str, Function<'a, (), ()>)>, ()>;

/// The `abort` listener on the caller's signal, removed when the job settles.
struct AbortHook {
    signal: ObjectRef<false>,
    listener: FunctionRef<(), ()>,
}

impl AbortHook {
    fn remove(self, env: &Env) {
        // Best effort: a signal whose listener cannot be removed only keeps a no-op closure.
        if let (Ok(signal), Ok(listener)) = (self.signal.get_value(env), self.listener.borrow_back(env)) {
            if let Ok(remove) = signal.get_named_property::<ListenerMethod>("removeEventListener") {
                let _ = remove.apply(signal, FnArgs::from(("abort", listener)));
            }
        }
        let _ = self.signal.unref(env);
        clear_exception(env.raw());
    }
}

/// Reads `signal.aborted` and hooks `abort` to the job's cancel flag.
fn hook_signal(env: &Env, signal: Option<&Object<'_>>) -> CoreResult<(Option<CancelFlag>, Option<AbortHook>)> {
    let Some(signal) = signal else { return Ok((None, None)) };
    let bad = |m: String| lichtbild::Error::InvalidOptions(format!("signal must be an AbortSignal: {m}"));
    let aborted: bool = signal.get_named_property("aborted").map_err(|e| bad(e.reason.clone()))?;
    if aborted {
        return Err(lichtbild::Error::Cancelled);
    }
    let flag: CancelFlag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let listener = env
        .create_function_from_closure::<(), (), _>("lichtbildAbort", move |_| {
            f.store(true, Ordering::Release);
            Ok(())
        })
        .map_err(|e| bad(e.reason.clone()))?;
    let add: ListenerMethod =
        signal.get_named_property("addEventListener").map_err(|e| bad(e.reason.clone()))?;
    add.apply(signal, FnArgs::from(("abort", listener))).map_err(|e| bad(e.reason.clone()))?;
    let hook = AbortHook {
        signal: signal.create_ref().map_err(|e| bad(e.reason.clone()))?,
        listener: listener.create_ref().map_err(|e| bad(e.reason.clone()))?,
    };
    Ok((Some(flag), Some(hook)))
}

/// Turns photos into headshots on the engine's own worker threads.
#[napi]
pub struct Engine {
    inner: Arc<lichtbild::Engine>,
}

#[napi]
impl Engine {
    /// Verifies the embedded models, loads ONNX Runtime and starts the worker threads
    /// (synchronously: create one engine at start-up and reuse it).
    #[napi(constructor, ts_args_type = "config?: EngineOptions")]
    pub fn new(env: Env, config: Option<Unknown>) -> napi::Result<Self> {
        let run = || -> CoreResult<Self> {
            let config = match config {
                Some(c) if !is_nullish(&c) => {
                    object_from_js::<EngineOptions>(c, "the engine config", |m| lichtbild::Error::InvalidOptions(format!("engine config: {m}")))?.into_config()?
                }
                _ => lichtbild::EngineConfig::default(),
            };
            Ok(Engine { inner: Arc::new(lichtbild::Engine::new(config)?) })
        };
        catch_unwind(AssertUnwindSafe(run))
            .unwrap_or_else(|_| Err(lichtbild::Error::Internal("panic while starting the engine".into())))
            .map_err(|e| js_error(&env, &e))
    }

    /// Turns an encoded photo (JPEG, PNG, WebP, GIF) into a headshot.
    #[napi(ts_args_type = "input: Uint8Array, options: ProcessOptions", ts_return_type = "Promise<ProcessResult>")]
    pub fn process<'env>(&self, env: &'env Env, input: Unknown<'env>, options: Unknown<'env>) -> napi::Result<Object<'env>> {
        self.run(env, options, false, |o| {
            let bytes: Uint8ArraySlice = from_js(input, |m| lichtbild::Error::InvalidInput(format!("input must be a Buffer or Uint8Array: {m}")))?;
            let input_ref = Input::Encoded(&bytes);
            o(input_ref)
        }, process_result)
    }

    /// Turns a pixel buffer into a headshot, returned as RGBA8 pixels.
    #[napi(ts_args_type = "input: PixelsInput, options: ProcessOptions", ts_return_type = "Promise<PixelsResult>")]
    pub fn process_pixels<'env>(&self, env: &'env Env, input: Unknown<'env>, options: Unknown<'env>) -> napi::Result<Object<'env>> {
        self.run(env, options, true, |o| {
            let p: PixelsInput = object_from_js(input, "the pixels input", |m| lichtbild::Error::InvalidInput(format!("pixels: {m}")))?;
            let format: PixelFormat = match &p.format {
                Some(f) => via_json(f, "pixels.format")?,
                None => PixelFormat::Rgba8,
            };
            let stride = match p.stride {
                Some(s) => s as usize,
                None => (p.width as usize).saturating_mul(format.bytes_per_pixel()),
            };
            o(Input::Pixels(PixelsRef { data: p.data.arraybuffer.as_ref(), width: p.width, height: p.height, stride, format }))
        }, pixels_result)
    }

    /// Number of worker threads.
    #[napi(getter, catch_unwind)]
    pub fn workers(&self) -> u32 {
        self.inner.workers() as u32
    }

    /// The ONNX Runtime library in use and its version.
    #[napi(getter, catch_unwind, ts_return_type = "{ library: string, version: string }")]
    pub fn runtime(&self) -> serde_json::Value {
        serde_json::json!({ "library": self.inner.runtime().library.display().to_string(), "version": self.inner.runtime().version })
    }

    /// A plain-JS caller who leaves `consent` out has given none: that is the core's
    /// `consent_required` (its consent check runs before any input is looked at), not a
    /// conversion error.
    fn no_consent(&self, options: Unknown<'_>) -> Option<lichtbild::Error> {
        let obj: Object = object_from_js(options, "options", lichtbild::Error::InvalidOptions).ok()?;
        if !matches!(obj.get_named_property::<Unknown>("consent").ok()?.get_type().ok()?, ValueType::Undefined) {
            return None;
        }
        self.inner.analyse(Input::Encoded(&[]), lichtbild::Consent::NONE).err()
    }

    /// Converts the arguments, submits the job and returns its promise. Every failure, early or
    /// late, rejects the promise with a coded error.
    fn run<'env, T: ToNapiValue + Send + 'static>(
        &self,
        env: &'env Env,
        options: Unknown<'env>,
        pixels_out: bool,
        with_input: impl FnOnce(&mut dyn FnMut(Input<'_>) -> CoreResult<()>) -> CoreResult<()>,
        convert: fn(Output) -> CoreResult<T>,
    ) -> napi::Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
        // Whoever settles first takes it: the completion on the worker, or this thread when the
        // job is refused before queueing (then the completion never runs).
        let pending = Arc::new(Mutex::new(Some(Pending { deferred, hook: None, engine: self.inner.clone() })));
        let submitted = catch_unwind(AssertUnwindSafe(|| -> CoreResult<()> {
            let opts: ProcessOptions = object_from_js(options, "options", lichtbild::Error::InvalidOptions).map_err(|e| self.no_consent(options).unwrap_or(e))?;
            if pixels_out && opts.format.as_deref().is_some_and(|f| f != "pixels") {
                return Err(lichtbild::Error::InvalidOptions("processPixels returns pixels: leave `format` out or use process()".into()));
            }
            let mut core_opts = opts.to_core()?;
            if pixels_out {
                core_opts.format = lichtbild::OutputFormat::Pixels;
            }
            let (cancel, hook) = hook_signal(env, opts.signal.as_ref())?;
            if let Some(p) = lock(&pending).as_mut() {
                p.hook = hook;
            }
            with_input(&mut |input| {
                let slot = pending.clone();
                let done: lichtbild::Completion = Box::new(move |r: CoreResult<Output>| {
                    if let Some(p) = lock(&slot).take() {
                        // Converted here, on the worker; only the resolver touches JS.
                        p.settle(r.and_then(convert));
                    }
                });
                self.inner.submit(input, &core_opts, cancel.clone(), done)
            })
        }))
        .unwrap_or_else(|_| Err(lichtbild::Error::Internal("panic while submitting the job".into())));
        if let Err(e) = submitted {
            clear_exception(env.raw());
            if let Some(p) = lock(&pending).take() {
                p.settle(Err(e));
            }
        }
        Ok(promise)
    }
}

/// A submitted job's promise and what must live until it settles.
struct Pending<T: ToNapiValue + 'static> {
    deferred: JsDeferred<T, Resolver<T>>,
    hook: Option<AbortHook>,
    /// The engine lives until its last promise settles, and is dropped on the JS thread (never
    /// on a worker, which could not join itself).
    engine: Arc<lichtbild::Engine>,
}

impl<T: ToNapiValue + 'static> Pending<T> {
    fn settle(self, r: CoreResult<T>) {
        let Pending { deferred, hook, engine } = self;
        deferred.resolve(Box::new(move |env: Env| {
            if let Some(h) = hook {
                h.remove(&env);
            }
            drop(engine);
            r.map_err(|e| js_error(&env, &e))
        }));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The built-in presets.
#[napi(catch_unwind)]
pub fn presets() -> napi::Result<Vec<Preset>> {
    via_json(&lichtbild::Preset::builtins(), "presets").map_err(|e| napi::Error::from_reason(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Opening a sealed result.

/// The key of `openSealed`: exactly one of the two.
#[napi(object, object_to_js = false)]
pub struct OpenKey {
    /// An age X25519 secret key (`AGE-SECRET-KEY-1…`) or a whole identity file's text.
    pub identity: Option<String>,
    /// The passphrase given as `sealPassphrase`.
    pub passphrase: Option<String>,
}

/// Decrypts on a libuv thread (a passphrase costs age's scrypt, about a second, too long for the
/// JS thread). Argument errors are carried in too, so every failure rejects the promise.
pub struct OpenTask(Option<CoreResult<(Vec<u8>, lichtbild::OpenWith)>>);

impl<'env> ScopedTask<'env> for OpenTask {
    type Output = CoreResult<lichtbild::privacy::secure_buffer::SecureBuf<u8>>;
    type JsValue = BufferSlice<'env>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let job = self.0.take().unwrap_or_else(|| Err(lichtbild::Error::Internal("openSealed ran twice".into())));
        Ok(job.and_then(|(sealed, with)| {
            catch_unwind(AssertUnwindSafe(|| lichtbild::seal::open(&sealed, &with)))
                .unwrap_or_else(|_| Err(lichtbild::Error::Internal("panic while opening a sealed result".into())))
        }))
    }

    fn resolve(&mut self, env: &'env Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        // Copied straight into JS memory; the wiped buffer is zeroed when it drops here.
        output.map_err(|e| js_error(env, &e)).and_then(|plain| BufferSlice::copy_from(env, &plain[..]))
    }
}

/// Opens a result sealed with `sealTo` (give the matching `identity`) or `sealPassphrase`.
#[napi(catch_unwind, ts_args_type = "sealed: Uint8Array, key: { identity: string } | { passphrase: string }", ts_return_type = "Promise<Buffer>")]
pub fn open_sealed(sealed: Unknown<'_>, key: Unknown<'_>) -> AsyncTask<OpenTask> {
    AsyncTask::new(OpenTask(Some(open_args(sealed, key))))
}

fn open_args(sealed: Unknown<'_>, key: Unknown<'_>) -> CoreResult<(Vec<u8>, lichtbild::OpenWith)> {
    let bytes: Uint8ArraySlice = from_js(sealed, |m| lichtbild::Error::InvalidInput(format!("sealed must be a Buffer or Uint8Array: {m}")))?;
    let key: OpenKey = object_from_js(key, "the key", |m| lichtbild::Error::InvalidOptions(format!("openSealed key: {m}")))?;
    let with = match (key.identity, key.passphrase) {
        (Some(i), None) => lichtbild::OpenWith::Identity(lichtbild::Passphrase::new(i)),
        (None, Some(p)) => lichtbild::OpenWith::Passphrase(lichtbild::Passphrase::new(p)),
        _ => return Err(lichtbild::Error::InvalidOptions("openSealed key: give { identity } or { passphrase }, exactly one".into())),
    };
    Ok((bytes.to_vec(), with))
}
