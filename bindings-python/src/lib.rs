//! The Python binding of lichtbild (`lichtbild._native`): argument conversion and error mapping,
//! nothing else. Options become the core's `OptionsSpec` (as JSON, so the core parses and
//! validates them); the work runs on the engine's worker threads while the GIL is released.

use lichtbild::{EngineConfig, ErrorKind, Input, OptionsSpec, Output, OutputImage, PixelFormat, PixelsRef, Preset};
use numpy::{PyArray1, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyTuple, PyType};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

// Every block freed on an engine worker thread (decoders' row buffers, resize scratch, the
// encoder's output) is zeroed before it goes back to the system: a library cannot choose the
// allocator, the artifact must, and this extension module is one (its Rust allocations only).
#[global_allocator]
static ALLOC: lichtbild::WipeOnFree = lichtbild::WipeOnFree::system();

// ---------------------------------------------------------------------------------------------
// Errors: one table from the core's error codes to exception classes.

/// (core code, class name, a builtin exception it also is, docstring). Unknown future codes fall
/// back to `Error`.
const ERROR_TABLE: &[(&str, &str, Option<&str>, &str)] = &[
    ("invalid_input", "InvalidImageError", None, "The input is not a readable image (truncated, empty, corrupt or a bad pixel buffer)."),
    ("unsupported_format", "UnsupportedFormatError", None, "The input is an image format lichtbild does not read."),
    ("too_large", "TooLargeError", None, "The input exceeds the engine's max_pixels or max_bytes limit."),
    ("no_face", "NoFaceError", None, "No usable face was found in the photo."),
    ("multiple_faces", "MultipleFacesError", None, "Several faces were found and multi_face=\"error\" was asked for."),
    ("consent_required", "ConsentRequiredError", None, "The consent the operation needs was not given."),
    ("invalid_options", "InvalidOptionsError", Some("ValueError"), "An option or engine setting is invalid (also a ValueError)."),
    ("runtime_not_found", "RuntimeNotFoundError", None, "ONNX Runtime could not be loaded; the message lists every path tried."),
    ("model_integrity", "ModelIntegrityError", None, "An embedded model failed its integrity check."),
    ("inference", "InferenceError", None, "ONNX Runtime failed while running a model."),
    ("encode", "EncodeError", None, "The headshot could not be encoded (e.g. max_kb cannot be met)."),
    ("cancelled", "CancelledError", None, "The job was cancelled before a worker started it."),
    ("sandbox", "SandboxError", None, "The worker sandbox (seccomp, Landlock) could not be installed; Engine(sandbox=False) runs unconfined."),
    ("seal", "SealError", None, "Sealing failed, or a sealed result could not be opened (wrong key, corrupted bytes)."),
    ("internal", "InternalError", None, "A bug in lichtbild; please report it."),
    ("busy", "BusyError", None, "The engine already has max_queue requests waiting; try again later."),
    ("timeout", "TimeBudgetError", Some("TimeoutError"), "The request's time_budget_ms ran out; no output was produced (also a TimeoutError)."),
];

struct ErrorClasses {
    base: Py<PyType>,
    by_code: Vec<(&'static str, Py<PyType>)>,
}

static ERRORS: PyOnceLock<ErrorClasses> = PyOnceLock::new();

fn error_classes(py: Python<'_>) -> PyResult<&ErrorClasses> {
    ERRORS.get_or_try_init(py, || {
        // `type(...)` rather than `create_exception!`: InvalidOptionsError has two bases.
        let builtins = py.import("builtins")?;
        let type_ = builtins.getattr("type")?;
        let ns = |doc: &str, code: Option<&str>| -> PyResult<Bound<'_, PyDict>> {
            let d = PyDict::new(py);
            d.set_item("__doc__", doc)?;
            d.set_item("__module__", "lichtbild")?;
            if let Some(c) = code {
                d.set_item("code", c)?;
            }
            Ok(d)
        };
        let base_doc = "Base class of every lichtbild error. `code` is the stable machine-readable kind \
                        (\"no_face\", ...), the message is the core's.";
        let base = type_.call1(("Error", PyTuple::new(py, [py.get_type::<PyException>()])?, ns(base_doc, Some("error"))?))?;
        let mut by_code = Vec::with_capacity(ERROR_TABLE.len());
        for &(code, name, also, doc) in ERROR_TABLE {
            let bases = if let Some(builtin) = also {
                PyTuple::new(py, [base.clone(), builtins.getattr(builtin)?])?
            } else {
                PyTuple::new(py, [base.clone()])?
            };
            let cls = type_.call1((name, bases, ns(doc, Some(code))?))?;
            by_code.push((code, cls.cast_into::<PyType>()?.unbind()));
        }
        Ok(ErrorClasses { base: base.cast_into::<PyType>()?.unbind(), by_code })
    })
}

/// The Python exception for a core error: the class from the table, the core's message, `.code`.
fn to_pyerr(py: Python<'_>, e: &lichtbild::Error) -> PyErr {
    let code = e.kind().code();
    let make = || -> PyResult<PyErr> {
        let classes = error_classes(py)?;
        let cls = classes.by_code.iter().find(|(c, _)| *c == code).map(|(_, t)| t).unwrap_or(&classes.base);
        let inst = cls.bind(py).call1((e.to_string(),))?;
        inst.setattr("code", code)?;
        Ok(PyErr::from_value(inst))
    };
    make().unwrap_or_else(|err| err)
}

// ---------------------------------------------------------------------------------------------
// Plain value classes.

/// Explicit consent of the person in the photo, per scope. There is no default: state it.
///
/// face_geometry: detect and measure the face to level and crop the photo (needed for every
/// headshot). appearance: retouching that changes how the person looks (needed for `retouch`).
#[pyclass(module = "lichtbild", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Consent {
    /// Consent to detect and measure the face (required for every headshot).
    #[pyo3(get)]
    face_geometry: bool,
    /// Consent to retouching that changes how the person looks.
    #[pyo3(get)]
    appearance: bool,
}

#[pymethods]
impl Consent {
    #[new]
    #[pyo3(signature = (face_geometry, appearance = false))]
    fn new(face_geometry: bool, appearance: bool) -> Self {
        Consent { face_geometry, appearance }
    }

    fn __repr__(&self) -> String {
        let b = |v: bool| if v { "True" } else { "False" };
        format!("Consent(face_geometry={}, appearance={})", b(self.face_geometry), b(self.appearance))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyType>, (bool, bool))> {
        let c = slf.get();
        Ok((slf.get_type(), (c.face_geometry, c.appearance)))
    }
}

/// One quality finding about the headshot (pose, exposure, framing, ...).
#[pyclass(module = "lichtbild", frozen)]
struct Finding {
    /// Stable code, e.g. "roll_corrected", "blurry", "preset_notice".
    #[pyo3(get)]
    code: String,
    /// "info", "warning" or "critical".
    #[pyo3(get)]
    severity: String,
    /// A sentence for the user.
    #[pyo3(get)]
    message: String,
    /// The measured value behind the finding (degrees, ratio, ...), when there is one.
    #[pyo3(get)]
    value: Option<f64>,
}

#[pymethods]
impl Finding {
    fn __repr__(&self) -> String {
        format!("Finding(code={:?}, severity={:?}, message={:?}, value={:?})", self.code, self.severity, self.message, self.value)
    }

    /// Pickles field by field (results travel back from process pools).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, FindingFields)> {
        Ok((native_attr(py, "_finding")?, (self.code.clone(), self.severity.clone(), self.message.clone(), self.value)))
    }
}

type FindingFields = (String, String, String, Option<f64>);

/// Rebuilds a pickled Finding.
#[pyfunction]
fn _finding(code: String, severity: String, message: String, value: Option<f64>) -> Finding {
    Finding { code, severity, message, value }
}

fn native_attr<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("lichtbild._native")?.getattr(name)
}

/// The headshot and everything said about it, returned by `Engine.process`.
#[pyclass(module = "lichtbild", frozen)]
struct Result {
    /// The encoded headshot (JPEG, PNG or WebP), or None for format="pixels".
    #[pyo3(get)]
    image: Option<Py<PyBytes>>,
    /// For format="pixels": a numpy array (height, width, 4) of straight RGBA uint8; else None.
    #[pyo3(get)]
    pixels: Option<Py<PyAny>>,
    /// Output width in pixels.
    #[pyo3(get)]
    width: u32,
    /// Output height in pixels.
    #[pyo3(get)]
    height: u32,
    /// Pixel density of the preset, written into the file.
    #[pyo3(get)]
    dpi: u32,
    /// "jpeg", "png", "webp" or "pixels".
    #[pyo3(get)]
    format: String,
    /// Quality findings (list of Finding).
    #[pyo3(get)]
    findings: Py<PyList>,
    /// What happened to the photo and under which protections (a JSON-like dict).
    #[pyo3(get)]
    receipt: Py<PyDict>,
    /// The 468 face-mesh points as (x, y) in output pixels when return_landmarks=True, else None.
    #[pyo3(get)]
    landmarks: Option<Py<PyList>>,
}

#[pymethods]
impl Result {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Result(format={:?}, width={}, height={}, dpi={}, findings={})",
            self.format,
            self.width,
            self.height,
            self.dpi,
            self.findings.bind(py).len()
        )
    }

    /// Pickles field by field (results travel back from process pools).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let r = |o: &Option<Py<PyBytes>>| o.as_ref().map(|x| x.clone_ref(py));
        let args = (
            r(&self.image),
            self.pixels.as_ref().map(|x| x.clone_ref(py)),
            self.width,
            self.height,
            self.dpi,
            self.format.clone(),
            self.findings.clone_ref(py),
            self.receipt.clone_ref(py),
            self.landmarks.as_ref().map(|x| x.clone_ref(py)),
        );
        Ok((native_attr(py, "_result")?, args.into_pyobject(py)?))
    }
}

/// Rebuilds a pickled Result.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _result(
    image: Option<Py<PyBytes>>,
    pixels: Option<Py<PyAny>>,
    width: u32,
    height: u32,
    dpi: u32,
    format: String,
    findings: Py<PyList>,
    receipt: Py<PyDict>,
    landmarks: Option<Py<PyList>>,
) -> Result {
    Result { image, pixels, width, height, dpi, format, findings, receipt, landmarks }
}

// ---------------------------------------------------------------------------------------------
// Conversion helpers.

fn json_loads<'py>(py: Python<'py>, s: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (s,))
}

fn to_py<'py, T: serde::Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    let s = serde_json::to_string(v).map_err(|e| PyValueError::new_err(e.to_string()))?;
    json_loads(py, &s)
}

/// A dict (custom preset) as JSON, via Python's own json module.
fn py_to_json(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Value> {
    let s: String = py.import("json")?.call_method1("dumps", (v,))?.extract()?;
    serde_json::from_str(&s).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The keyword arguments shared by every `process*` method, as the core's `OptionsSpec` JSON.
#[allow(clippy::too_many_arguments)]
fn options_json(
    py: Python<'_>,
    consent: &Consent,
    preset: Option<&str>,
    custom_preset: Option<&Bound<'_, PyAny>>,
    background: Option<&str>,
    retouch: Option<f64>,
    format: &str,
    quality: i64,
    max_kb: Option<i64>,
    multi_face: &str,
    return_landmarks: bool,
    seal_to: Option<Vec<String>>,
    seal_passphrase: Option<String>,
    time_budget_ms: Option<i64>,
) -> PyResult<String> {
    let custom = match custom_preset {
        Some(d) if !d.is_none() => Some(py_to_json(py, d)?),
        _ => None,
    };
    let spec = json!({
        "preset": preset,
        "custom_preset": custom,
        "background": background,
        "consent": {"face_geometry": consent.face_geometry, "appearance": consent.appearance},
        "retouch": retouch,
        "format": format,
        "quality": quality,
        "max_kb": max_kb,
        "multi_face": multi_face,
        "return_landmarks": return_landmarks,
        "seal_to": seal_to,
        "seal_passphrase": seal_passphrase,
        "time_budget_ms": time_budget_ms,
    });
    Ok(spec.to_string())
}

fn build_options(py: Python<'_>, json: &str, background_image: Option<&Bound<'_, PyAny>>) -> PyResult<lichtbild::ProcessOptions> {
    let image = match background_image {
        Some(b) if !b.is_none() => Some(bytes_of(py, b)?.as_bytes().to_vec()),
        _ => None,
    };
    OptionsSpec::from_json(json).and_then(|s| s.into_options(image)).map_err(|e| to_pyerr(py, &e))
}

/// bytes, bytearray or memoryview as bytes (the latter two copied once).
fn bytes_of<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(b.clone());
    }
    if data.is_instance_of::<PyByteArray>() || data.is_instance_of::<PyMemoryView>() {
        return Ok(py.get_type::<PyBytes>().call1((data,))?.cast_into::<PyBytes>()?);
    }
    Err(PyTypeError::new_err(format!(
        "expected the encoded image as bytes, bytearray or memoryview, got {}",
        data.get_type().name()?
    )))
}

fn format_name(f: lichtbild::OutputFormat) -> String {
    serde_json::to_value(f).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn make_result(py: Python<'_>, out: Output) -> PyResult<Result> {
    let findings = PyList::empty(py);
    for f in &out.findings {
        let v = serde_json::to_value(f).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        findings.append(Finding { code: s("code"), severity: s("severity"), message: f.message.clone(), value: f.value.map(f64::from) })?;
    }
    let receipt = to_py(py, &out.receipt)?.cast_into::<PyDict>()?.unbind();
    let landmarks = match &out.landmarks {
        Some(pts) => Some(PyList::new(py, pts.iter().map(|p| (p[0] as f64, p[1] as f64)))?.unbind()),
        None => None,
    };
    let info = &out.receipt.output;
    let (image, pixels) = match out.image {
        OutputImage::Encoded { bytes, .. } => (Some(PyBytes::new(py, &bytes).unbind()), None),
        OutputImage::Pixels { width, height, rgba } => (None, Some(rgba_array(py, rgba, width, height)?.unbind())),
    };
    Ok(Result {
        image,
        pixels,
        width: info.width,
        height: info.height,
        dpi: info.dpi,
        format: format_name(info.format),
        findings: findings.unbind(),
        receipt,
        landmarks,
    })
}

/// The output RGBA as a (height, width, 4) uint8 array, without copying the buffer.
fn rgba_array(py: Python<'_>, rgba: Vec<u8>, width: u32, height: u32) -> PyResult<Bound<'_, PyAny>> {
    Ok(PyArray1::from_vec(py, rgba).reshape([height as usize, width as usize, 4])?.into_any())
}

// ---------------------------------------------------------------------------------------------
// The engine.

/// The engine: embedded models, ONNX Runtime and worker threads. Build it once, share it between
/// threads (it is thread-safe and releases the GIL while working), pickle it to send it to other
/// processes (it pickles as its configuration and rebuilds itself there).
///
/// ort_library: path to libonnxruntime; by default ORT_DYLIB_PATH or else the library inside the
/// installed `onnxruntime` wheel. workers: worker threads (0 = one per core, at most 4).
/// intra_threads: ONNX Runtime threads per worker; pixel_threads: threads one request's pixel
/// loops may use (both 0 = the cores shared out among the workers, at least 1). sandbox: confine the workers (turn off only
/// to debug). max_pixels / max_bytes: limits for untrusted input; max_output_pixels: the largest
/// output (width x height) a preset may ask for; max_queue: requests that may wait for a worker
/// before process() raises BusyError at once (None = the core's defaults: 268 MP, 256 MiB,
/// 25 MP, 64).
#[pyclass(module = "lichtbild", frozen)]
struct Engine {
    inner: lichtbild::Engine,
    /// The arguments as given (not the discovered library), so a pickled engine rediscovers it.
    args: Py<PyDict>,
}

/// Borrowed encoded bytes or pixels of a Python object, alive while the job is submitted.
enum Source<'py> {
    Encoded(Bound<'py, PyBytes>),
    Pixels { array: Bound<'py, PyUntypedArray>, width: u32, height: u32, stride: usize, format: PixelFormat },
}

impl Engine {
    /// Queues the job (the core copies the input before `submit` returns, under the GIL, so no
    /// Python thread changes it meanwhile), then waits for the worker with the GIL released.
    fn run(&self, py: Python<'_>, src: &Source<'_>, options: &lichtbild::ProcessOptions) -> PyResult<Output> {
        let input = match src {
            Source::Encoded(b) => Input::Encoded(b.as_bytes()),
            Source::Pixels { array, width, height, stride, format } => {
                let len = stride * (*height as usize - 1) + *width as usize * format.bytes_per_pixel();
                // SAFETY: `array` is alive and attached for this whole call; its strides were checked
                // (rows of `stride` bytes, pixels packed) so these `len` bytes lie inside its buffer.
                let data = unsafe { std::slice::from_raw_parts((*array.as_array_ptr()).fields.data as *const u8, len) };
                Input::Pixels(PixelsRef { data, width: *width, height: *height, stride: *stride, format: *format })
            }
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let cancel = Arc::new(AtomicBool::new(false));
        self.inner
            .submit(input, options, Some(cancel.clone()), Box::new(move |r| {
                let _ = tx.send(r);
            }))
            .map_err(|e| to_pyerr(py, &e))?;
        loop {
            // Wake up now and then so Ctrl-C (KeyboardInterrupt) is not held up by a long job.
            match py.detach(|| rx.recv_timeout(Duration::from_millis(200))) {
                Ok(r) => return r.map_err(|e| to_pyerr(py, &e)),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals() {
                        cancel.store(true, Ordering::Release);
                        return Err(e);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(to_pyerr(py, &lichtbild::Error::Internal("the worker dropped the job".into())))
                }
            }
        }
    }

    /// A numpy array as a pixel source: (H, W, 3|4) of uint8, uint16 or float32. Arrays whose
    /// pixels are not packed within rows are made contiguous first (one copy).
    fn pixels_source<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Source<'py>> {
        let mut array = obj
            .cast::<PyUntypedArray>()
            .map_err(|_| PyTypeError::new_err(format!("expected a numpy.ndarray, got {}", obj.get_type().name().map(|n| n.to_string()).unwrap_or_default())))?
            .clone();
        let shape = array.shape().to_vec();
        if shape.len() != 3 || !(shape[2] == 3 || shape[2] == 4) {
            return Err(PyValueError::new_err(format!("expected an array of shape (height, width, 3 or 4), got {shape:?}")));
        }
        let dt = array.dtype();
        let rgba = shape[2] == 4;
        let format = if dt.is_equiv_to(&numpy::dtype::<u8>(py)) {
            if rgba { PixelFormat::Rgba8 } else { PixelFormat::Rgb8 }
        } else if dt.is_equiv_to(&numpy::dtype::<u16>(py)) {
            if rgba { PixelFormat::Rgba16 } else { PixelFormat::Rgb16 }
        } else if dt.is_equiv_to(&numpy::dtype::<f32>(py)) {
            if rgba { PixelFormat::RgbaF32 } else { PixelFormat::RgbF32 }
        } else {
            return Err(PyTypeError::new_err(format!("expected dtype uint8, uint16 or float32 (native byte order), got {dt}")));
        };
        let e = format.bytes_per_channel() as isize;
        let packed = |a: &Bound<'py, PyUntypedArray>| {
            let s = a.strides();
            s[2] == e && s[1] == e * shape[2] as isize && s[0] >= s[1] * shape[1] as isize
        };
        if !packed(&array) {
            array = py.import("numpy")?.call_method1("ascontiguousarray", (&array,))?.cast_into::<PyUntypedArray>()?;
        }
        let (width, height) = (u32::try_from(shape[1]), u32::try_from(shape[0]));
        let (Ok(width), Ok(height)) = (width, height) else {
            return Err(PyValueError::new_err("array dimensions exceed 2^32"));
        };
        if width == 0 || height == 0 {
            let e = lichtbild::Error::InvalidInput(format!("pixel buffer has an empty size ({width}x{height})"));
            return Err(to_pyerr(py, &e));
        }
        let stride = array.strides()[0] as usize;
        Ok(Source::Pixels { array, width, height, stride, format })
    }
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (*, ort_library = None, workers = 0, intra_threads = 0, pixel_threads = 0, sandbox = true, max_pixels = None, max_bytes = None, max_output_pixels = None, max_queue = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        ort_library: Option<PathBuf>,
        workers: i64,
        intra_threads: i64,
        pixel_threads: i64,
        sandbox: bool,
        max_pixels: Option<i64>,
        max_bytes: Option<i64>,
        max_output_pixels: Option<i64>,
        max_queue: Option<i64>,
    ) -> PyResult<Self> {
        let args = PyDict::new(py);
        args.set_item("ort_library", ort_library.as_ref())?;
        args.set_item("workers", workers)?;
        args.set_item("intra_threads", intra_threads)?;
        args.set_item("pixel_threads", pixel_threads)?;
        args.set_item("sandbox", sandbox)?;
        args.set_item("max_pixels", max_pixels)?;
        args.set_item("max_bytes", max_bytes)?;
        args.set_item("max_output_pixels", max_output_pixels)?;
        args.set_item("max_queue", max_queue)?;
        let mut limits = serde_json::Map::new();
        for (key, v) in [("max_pixels", max_pixels), ("max_bytes", max_bytes), ("max_output_pixels", max_output_pixels)] {
            if let Some(v) = v {
                limits.insert(key.into(), v.into());
            }
        }
        let mut json = json!({"workers": workers, "intra_threads": intra_threads, "pixel_threads": pixel_threads, "sandbox": sandbox, "limits": limits});
        if let Some(q) = max_queue {
            json["max_queue"] = q.into();
        }
        let mut config = EngineConfig::from_json(&json.to_string()).map_err(|e| to_pyerr(py, &e))?;
        config.ort_library = match ort_library {
            Some(p) => Some(p),
            // The onnxruntime wheel's library, unless ORT_DYLIB_PATH says otherwise.
            None if std::env::var_os("ORT_DYLIB_PATH").is_some_and(|v| !v.is_empty()) => None,
            None => py.import("lichtbild")?.getattr("_onnxruntime_library")?.call0()?.extract::<Option<PathBuf>>()?,
        };
        let inner = py.detach(|| lichtbild::Engine::new(config)).map_err(|e| to_pyerr(py, &e))?;
        Ok(Engine { inner, args: args.unbind() })
    }

    /// Turns an encoded photo (JPEG, PNG, WebP, GIF bytes) into a headshot.
    ///
    /// consent (required, keyword-only): a Consent stating what the person agreed to.
    /// preset: a built-in preset name (see lichtbild.presets()); custom_preset: a preset dict
    /// that replaces it. background: a colour name ("studio-grey", "white", ...), "#rrggbb",
    /// "gradient:#top,#bottom", "studio[:#rrggbb]", "blur" or "transparent"; None = the
    /// preset's; background_image: encoded image bytes instead. retouch: strength 0..1 (needs
    /// appearance consent). format: "jpeg", "png", "webp" or "pixels" (then Result.pixels is a
    /// numpy array). quality: 1..100. max_kb: largest encoded size. multi_face: "largest" or
    /// "error". return_landmarks: include the face-mesh points in the result.
    /// seal_to: age X25519 recipients ("age1…"), or seal_passphrase: a passphrase (age scrypt),
    /// not both: Result.image is then an age file, encrypted inside the engine, and
    /// receipt["output"]["sealed"] says how; lichtbild.open_sealed opens it.
    /// time_budget_ms: milliseconds the request may take from submission, queue wait included;
    /// past it TimeBudgetError (also a builtin TimeoutError) is raised, never a partial result.
    ///
    /// The GIL is released while the engine's worker processes the photo. Raises a subclass of
    /// lichtbild.Error (NoFaceError, InvalidImageError, ...) on failure; BusyError at once when
    /// the engine already has max_queue requests waiting.
    #[pyo3(signature = (data, *, consent, preset = Some("bewerbung-45x60".to_owned()), custom_preset = None, background = None, background_image = None, retouch = None, format = "jpeg".to_owned(), quality = 92, max_kb = None, multi_face = "largest".to_owned(), return_landmarks = false, seal_to = None, seal_passphrase = None, time_budget_ms = None))]
    #[pyo3(text_signature = "(self, data, *, consent, preset='bewerbung-45x60', custom_preset=None, background=None, background_image=None, retouch=None, format='jpeg', quality=92, max_kb=None, multi_face='largest', return_landmarks=False, seal_to=None, seal_passphrase=None, time_budget_ms=None)")]
    #[allow(clippy::too_many_arguments)]
    fn process(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        consent: PyRef<'_, Consent>,
        preset: Option<String>,
        custom_preset: Option<&Bound<'_, PyAny>>,
        background: Option<String>,
        background_image: Option<&Bound<'_, PyAny>>,
        retouch: Option<f64>,
        format: String,
        quality: i64,
        max_kb: Option<i64>,
        multi_face: String,
        return_landmarks: bool,
        seal_to: Option<Vec<String>>,
        seal_passphrase: Option<String>,
        time_budget_ms: Option<i64>,
    ) -> PyResult<Result> {
        let json = options_json(py, &consent, preset.as_deref(), custom_preset, background.as_deref(), retouch, &format, quality, max_kb, &multi_face, return_landmarks, seal_to, seal_passphrase, time_budget_ms)?;
        let options = build_options(py, &json, background_image)?;
        let src = Source::Encoded(bytes_of(py, data)?);
        let out = self.run(py, &src, &options)?;
        make_result(py, out)
    }

    /// Turns a numpy image (height, width, 3 or 4) of uint8, uint16 or float32 (0..1) into a
    /// headshot, returned as a (height, width, 4) uint8 RGBA array.
    ///
    /// The array is read in place when its rows are packed (C-contiguous or row-strided views);
    /// other layouts are copied once. Keyword arguments as for Engine.process (no format,
    /// quality or max_kb: the output is always pixels; time_budget_ms as for Engine.process).
    #[pyo3(signature = (array, *, consent, preset = Some("bewerbung-45x60".to_owned()), custom_preset = None, background = None, background_image = None, retouch = None, multi_face = "largest".to_owned(), time_budget_ms = None))]
    #[pyo3(text_signature = "(self, array, *, consent, preset='bewerbung-45x60', custom_preset=None, background=None, background_image=None, retouch=None, multi_face='largest', time_budget_ms=None)")]
    #[allow(clippy::too_many_arguments)]
    fn process_array<'py>(
        &self,
        py: Python<'py>,
        array: &Bound<'py, PyAny>,
        consent: PyRef<'_, Consent>,
        preset: Option<String>,
        custom_preset: Option<&Bound<'_, PyAny>>,
        background: Option<String>,
        background_image: Option<&Bound<'_, PyAny>>,
        retouch: Option<f64>,
        multi_face: String,
        time_budget_ms: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let json = options_json(py, &consent, preset.as_deref(), custom_preset, background.as_deref(), retouch, "pixels", 92, None, &multi_face, false, None, None, time_budget_ms)?;
        let options = build_options(py, &json, background_image)?;
        let src = Self::pixels_source(py, array)?;
        let out = self.run(py, &src, &options)?;
        match out.image {
            OutputImage::Pixels { width, height, rgba } => rgba_array(py, rgba, width, height),
            OutputImage::Encoded { .. } => Err(to_pyerr(py, &lichtbild::Error::Internal("pixels were asked for, an encoded image came back".into()))),
        }
    }

    /// Turns a Pillow image into a headshot, returned as an RGBA PIL.Image with the preset's dpi
    /// in `.info["dpi"]`. Needs Pillow (optional dependency). Images in modes other than RGB and
    /// RGBA are converted to RGBA first. Keyword arguments as for Engine.process_array.
    #[pyo3(signature = (image, *, consent, preset = Some("bewerbung-45x60".to_owned()), custom_preset = None, background = None, background_image = None, retouch = None, multi_face = "largest".to_owned(), time_budget_ms = None))]
    #[pyo3(text_signature = "(self, image, *, consent, preset='bewerbung-45x60', custom_preset=None, background=None, background_image=None, retouch=None, multi_face='largest', time_budget_ms=None)")]
    #[allow(clippy::too_many_arguments)]
    fn process_pil<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
        consent: PyRef<'_, Consent>,
        preset: Option<String>,
        custom_preset: Option<&Bound<'_, PyAny>>,
        background: Option<String>,
        background_image: Option<&Bound<'_, PyAny>>,
        retouch: Option<f64>,
        multi_face: String,
        time_budget_ms: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pil = py.import("PIL.Image").map_err(|e| {
            let err = PyErr::new::<pyo3::exceptions::PyImportError, _>("Engine.process_pil needs Pillow: pip install pillow");
            err.set_cause(py, Some(e));
            err
        })?;
        if !image.is_instance(&pil.getattr("Image")?)? {
            return Err(PyTypeError::new_err(format!("expected a PIL.Image.Image, got {}", image.get_type().name()?)));
        }
        let mode: String = image.getattr("mode")?.extract()?;
        let image = if mode == "RGB" || mode == "RGBA" { image.clone() } else { image.call_method1("convert", ("RGBA",))? };
        let array = py.import("numpy")?.call_method1("asarray", (image,))?;
        let json = options_json(py, &consent, preset.as_deref(), custom_preset, background.as_deref(), retouch, "pixels", 92, None, &multi_face, false, None, None, time_budget_ms)?;
        let options = build_options(py, &json, background_image)?;
        let src = Self::pixels_source(py, &array)?;
        let out = self.run(py, &src, &options)?;
        let dpi = out.receipt.output.dpi;
        let OutputImage::Pixels { width, height, rgba } = out.image else {
            return Err(to_pyerr(py, &lichtbild::Error::Internal("pixels were asked for, an encoded image came back".into())));
        };
        let img = pil.call_method1("frombytes", ("RGBA", (width, height), PyBytes::new(py, &rgba)))?;
        img.getattr("info")?.set_item("dpi", (dpi, dpi))?;
        Ok(img)
    }

    /// The arguments the engine was built with (what pickling sends to another process).
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.args.bind(py).copy()
    }

    /// The ONNX Runtime in use: {"library": path, "version": str}.
    #[getter]
    fn runtime<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self.inner.runtime())
    }

    /// Number of worker threads.
    #[getter]
    fn workers(&self) -> usize {
        self.inner.workers()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Engine(workers={}, config={})", self.inner.workers(), self.args.bind(py).repr()?))
    }

    /// Pickles as its configuration: unpickling builds a new engine in the receiving process.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyDict>,))> {
        Ok((native_attr(py, "_engine_from_config")?, (self.args.bind(py).copy()?,)))
    }
}

/// Rebuilds a pickled Engine from its configuration (used by pickle; call Engine(...) instead).
#[pyfunction]
fn _engine_from_config(py: Python<'_>, config: &Bound<'_, PyDict>) -> PyResult<Py<Engine>> {
    Ok(py.get_type::<Engine>().call((), Some(config))?.cast_into::<Engine>()?.unbind())
}

/// The built-in presets as dicts (name, description, width_px, height_px, dpi, head_height,
/// eye_line, pose limits, default_background, notice). A copy, modified, is a valid
/// custom_preset.
#[pyfunction]
fn presets(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &Preset::builtins())
}

/// Opens a sealed result (Engine.process with seal_to or seal_passphrase) in this process.
///
/// identity: the age secret key text ("AGE-SECRET-KEY-1…"; a whole identity file's text works),
/// or passphrase: the seal passphrase; exactly one. Returns the encoded headshot. The core
/// decrypts into a wiped buffer; the returned bytes are Python's and are not wiped. Raises
/// SealError for a wrong key or corrupted bytes, InvalidOptionsError for a malformed identity.
/// The GIL is released while decrypting (the passphrase mode's scrypt takes a moment).
#[pyfunction]
#[pyo3(signature = (data, *, identity = None, passphrase = None))]
fn open_sealed<'py>(py: Python<'py>, data: &Bound<'py, PyAny>, identity: Option<String>, passphrase: Option<String>) -> PyResult<Bound<'py, PyBytes>> {
    let with = match (identity, passphrase) {
        (Some(i), None) => lichtbild::OpenWith::Identity(lichtbild::Passphrase::new(i)),
        (None, Some(p)) => lichtbild::OpenWith::Passphrase(lichtbild::Passphrase::new(p)),
        (i, p) => {
            let what = if i.is_some() && p.is_some() { "not both" } else { "one is needed" };
            return Err(to_pyerr(py, &lichtbild::Error::InvalidOptions(format!("open_sealed takes identity= or passphrase=, {what}"))));
        }
    };
    let data = bytes_of(py, data)?;
    let sealed = data.as_bytes();
    let plain = py.detach(|| lichtbild::seal::open(sealed, &with)).map_err(|e| to_pyerr(py, &e))?;
    Ok(PyBytes::new(py, &plain))
}

/// Every error code of the core, in order (for tests that check the exception table covers all).
#[pyfunction]
fn _error_codes() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.code()).collect()
}

/// The exception class for a core error code (lichtbild.Error for an unknown code).
#[pyfunction]
fn _error_class(py: Python<'_>, code: &str) -> PyResult<Py<PyType>> {
    let c = error_classes(py)?;
    Ok(c.by_code.iter().find(|(k, _)| *k == code).map(|(_, t)| t).unwrap_or(&c.base).clone_ref(py))
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Engine>()?;
    m.add_class::<Consent>()?;
    m.add_class::<Result>()?;
    m.add_class::<Finding>()?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(open_sealed, m)?)?;
    m.add_function(wrap_pyfunction!(_engine_from_config, m)?)?;
    m.add_function(wrap_pyfunction!(_finding, m)?)?;
    m.add_function(wrap_pyfunction!(_result, m)?)?;
    m.add_function(wrap_pyfunction!(_error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(_error_class, m)?)?;
    let classes = error_classes(py)?;
    m.add("Error", classes.base.bind(py))?;
    for (_, cls) in &classes.by_code {
        m.add(cls.bind(py).name()?, cls.bind(py))?;
    }
    Ok(())
}
