//! The C ABI of lichtbild (liblichtbild.so / liblichtbild.a, header `include/lichtbild.h`, generated
//! from this file by cbindgen: the doc comments here are the header's documentation).
//!
//! Argument conversion and error mapping only: options become the core's `OptionsSpec`, the
//! engine config the core's `EngineConfig`, every core `ErrorKind` one `lb_status` (one table,
//! [`STATUS_TABLE`]). Every exported function runs inside `catch_unwind`: a panic becomes
//! `LB_INTERNAL`, never an abort across the boundary.

// C names on purpose: these types and constants are what the header shows.
#![allow(non_camel_case_types)]
// The ownership rule in each function's doc comment is its safety contract; cbindgen copies it
// into the header, where C programmers read it.
#![allow(clippy::missing_safety_doc)]

use lichtbild_core::privacy::secure_buffer::SecureBuf;
use lichtbild_core::{Consent, Engine, EngineConfig, Error, ErrorKind, Input, MultiFacePolicy, OpenWith, OptionsSpec, OutputImage, Passphrase, PixelFormat, PixelsRef, Preset};
use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use zeroize::Zeroize;

// A library cannot rely on its host to pick the allocator: this one zeroes every block freed on an
// engine worker (decoders' and the resizer's buffers too), which the receipt reports as "all wiped".
#[global_allocator]
static ALLOC: lichtbild_core::WipeOnFree = lichtbild_core::WipeOnFree::system();

/// Status returned by every lichtbild function that can fail. `LB_OK` (0) is success; every
/// other value mirrors one error kind of the lichtbild core (the same kinds the Python and Node
/// bindings report), plus two for misuse of the C API itself. `lb_status_name()` gives the stable
/// code string (`"no_face"`, ...), `lb_last_error_message()` the human-readable message.
/// New values may be added in later versions: treat unknown values like `LB_INTERNAL`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum lb_status {
    /// Success.
    LB_OK = 0,
    /// The input bytes or pixel buffer are not a usable image (truncated, corrupt, empty, a pixel
    /// buffer shorter than width, height and stride say).
    LB_INVALID_INPUT = 1,
    /// The input is an image format lichtbild does not read (supported: JPEG, PNG, WebP, GIF).
    LB_UNSUPPORTED_FORMAT = 2,
    /// The input exceeds the engine's limits (encoded bytes or pixel count), or the preset's
    /// output exceeds `limits.max_output_pixels`.
    LB_TOO_LARGE = 3,
    /// No face was found in the photo.
    LB_NO_FACE = 4,
    /// Several faces were found and the options ask for exactly one (`LB_MULTI_FACE_ERROR`).
    LB_MULTIPLE_FACES = 5,
    /// A consent scope the request needs was not given (see `LB_CONSENT_*`). Nothing was analysed.
    LB_CONSENT_REQUIRED = 6,
    /// The options or the engine config are invalid (bad JSON, unknown key or value, out of range).
    LB_INVALID_OPTIONS = 7,
    /// ONNX Runtime could not be loaded; the message lists every path that was tried.
    LB_RUNTIME_NOT_FOUND = 8,
    /// An embedded model failed its sha256 check.
    LB_MODEL_INTEGRITY = 9,
    /// ONNX Runtime failed while running a model.
    LB_INFERENCE = 10,
    /// Encoding the output image failed.
    LB_ENCODE = 11,
    /// The job was cancelled before processing started.
    LB_CANCELLED = 12,
    /// A bug in lichtbild (including a caught panic). The message says more.
    LB_INTERNAL = 13,
    /// The worker sandbox (seccomp, Landlock) could not be installed, so the engine refuses to
    /// run unconfined. Pass `"sandbox": false` in the engine config only if you accept that.
    LB_SANDBOX = 14,
    /// Sealing the output failed, or a sealed result could not be opened (wrong identity or
    /// passphrase, corrupted or not an age file).
    LB_SEAL = 15,
    /// The engine already has `max_queue` requests waiting (engine config, default 64): the
    /// call was refused at once, nothing was queued. Try again later.
    LB_BUSY = 16,
    /// The request's time budget (`"time_budget_ms"` in `options_json`) ran out, counted from
    /// the call (queue wait included). No output was produced.
    LB_TIMEOUT = 17,
    /// A required pointer argument was NULL. (C API misuse, no core equivalent.)
    LB_NULL_POINTER = 100,
    /// An argument is invalid for the C API itself: a string that is not UTF-8, an unknown
    /// `LB_PIXEL_*` constant, a length beyond the address space. (C API misuse.)
    LB_INVALID_ARGUMENT = 101,
}

use lb_status::*;

/// THE mapping between the core's error kinds and C status codes, with the names
/// `lb_status_name()` returns (the core's stable codes). A kind missing here (added to the core
/// later) falls back to `LB_INTERNAL`; the unit test below fails until it is added.
const STATUS_TABLE: &[(lb_status, Option<ErrorKind>, &CStr)] = &[
    (LB_OK, None, c"ok"),
    (LB_INVALID_INPUT, Some(ErrorKind::InvalidInput), c"invalid_input"),
    (LB_UNSUPPORTED_FORMAT, Some(ErrorKind::UnsupportedFormat), c"unsupported_format"),
    (LB_TOO_LARGE, Some(ErrorKind::TooLarge), c"too_large"),
    (LB_NO_FACE, Some(ErrorKind::NoFace), c"no_face"),
    (LB_MULTIPLE_FACES, Some(ErrorKind::MultipleFaces), c"multiple_faces"),
    (LB_CONSENT_REQUIRED, Some(ErrorKind::ConsentRequired), c"consent_required"),
    (LB_INVALID_OPTIONS, Some(ErrorKind::InvalidOptions), c"invalid_options"),
    (LB_RUNTIME_NOT_FOUND, Some(ErrorKind::RuntimeNotFound), c"runtime_not_found"),
    (LB_MODEL_INTEGRITY, Some(ErrorKind::ModelIntegrity), c"model_integrity"),
    (LB_INFERENCE, Some(ErrorKind::Inference), c"inference"),
    (LB_ENCODE, Some(ErrorKind::Encode), c"encode"),
    (LB_CANCELLED, Some(ErrorKind::Cancelled), c"cancelled"),
    (LB_INTERNAL, Some(ErrorKind::Internal), c"internal"),
    (LB_SANDBOX, Some(ErrorKind::Sandbox), c"sandbox"),
    (LB_SEAL, Some(ErrorKind::Seal), c"seal"),
    (LB_BUSY, Some(ErrorKind::Busy), c"busy"),
    (LB_TIMEOUT, Some(ErrorKind::Timeout), c"timeout"),
    (LB_NULL_POINTER, None, c"null_pointer"),
    (LB_INVALID_ARGUMENT, None, c"invalid_argument"),
];

fn status_of(kind: ErrorKind) -> lb_status {
    STATUS_TABLE.iter().find(|(_, k, _)| *k == Some(kind)).map_or(LB_INTERNAL, |(s, _, _)| *s)
}

/// Consent scope: detect and measure the face to crop and level the photo. Required for every
/// headshot.
pub const LB_CONSENT_FACE_GEOMETRY: u32 = 1;
/// Consent scope: retouching that changes how the person looks (white balance, exposure, skin
/// smoothing). Required when `retouch` > 0.
pub const LB_CONSENT_APPEARANCE: u32 = 2;

/// Output format of a result (`lb_options.format`, `lb_result_format()`): one of `LB_FORMAT_*`.
pub type lb_format = u32;
/// A JPEG file (the default).
pub const LB_FORMAT_JPEG: lb_format = 0;
/// A PNG file.
pub const LB_FORMAT_PNG: lb_format = 1;
/// A WebP file.
pub const LB_FORMAT_WEBP: lb_format = 2;
/// Raw pixels, no encoding: straight (not premultiplied) RGBA8, rows packed (stride = width * 4).
pub const LB_FORMAT_PIXELS: lb_format = 3;

/// What to do when a photo shows several faces (`lb_options.multi_face`): one of `LB_MULTI_FACE_*`.
pub type lb_multi_face = u32;
/// Use the largest, most central face and report the others as a finding (the default).
pub const LB_MULTI_FACE_LARGEST: lb_multi_face = 0;
/// Fail with `LB_MULTIPLE_FACES`.
pub const LB_MULTI_FACE_ERROR: lb_multi_face = 1;

/// Layout of a pixel buffer given to `lb_process_pixels()`: one of `LB_PIXEL_*`. Channels are in
/// R, G, B(, A) order; 16-bit and float samples are in the machine's native byte order; float
/// samples are in [0, 1]; alpha is straight (not premultiplied).
pub type lb_pixel_format = u32;
/// 4 x 8-bit: R, G, B, A (GIMP's and Krita's "RGBA 8-bit").
pub const LB_PIXEL_RGBA8: lb_pixel_format = 0;
/// 3 x 8-bit: R, G, B.
pub const LB_PIXEL_RGB8: lb_pixel_format = 1;
/// 4 x 16-bit unsigned: R, G, B, A.
pub const LB_PIXEL_RGBA16: lb_pixel_format = 2;
/// 3 x 16-bit unsigned: R, G, B.
pub const LB_PIXEL_RGB16: lb_pixel_format = 3;
/// 4 x 32-bit float: R, G, B, A.
pub const LB_PIXEL_RGBA_F32: lb_pixel_format = 4;
/// 3 x 32-bit float: R, G, B.
pub const LB_PIXEL_RGB_F32: lb_pixel_format = 5;

/// What to make of the photo. Get one from `lb_options_default()`, then set what you need; a
/// zero / NULL field means "the core's default". Consent has no default: `consent` is 0 until you
/// set it, and a call without `LB_CONSENT_FACE_GEOMETRY` fails with `LB_CONSENT_REQUIRED`.
///
/// Ownership: every pointer in this struct is borrowed for the duration of the call it is passed
/// to and never kept; strings are NUL-terminated UTF-8.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lb_options {
    /// Built-in preset name (see `lb_presets_json()`), NULL = `"bewerbung-45x60"` (45x60 mm, 531x709 px).
    pub preset: *const c_char,
    /// Background: a name (`"studio-grey"`, `"light-grey"`, `"white"`, `"blue-grey"`,
    /// `"anthracite"`), `"#rrggbb"`, `"gradient:#top,#bottom"`, `"studio"` / `"studio:#rrggbb"`,
    /// `"blur"` or `"transparent"` (not with JPEG). NULL = the preset's default.
    pub background: *const c_char,
    /// Bitwise OR of `LB_CONSENT_*`. 0 = no consent (the call fails with `LB_CONSENT_REQUIRED`).
    pub consent: u32,
    /// One of `LB_FORMAT_*`; default `LB_FORMAT_JPEG`.
    pub format: lb_format,
    /// JPEG / WebP quality 1..100; 0 = the default (92).
    pub quality: u8,
    /// Retouch strength in [0, 1]; 0 = off. Needs `LB_CONSENT_APPEARANCE`.
    pub retouch: f32,
    /// Largest acceptable encoded size in KiB (JPEG quality is lowered to fit); 0 = no limit.
    pub max_kb: u32,
    /// One of `LB_MULTI_FACE_*`; default `LB_MULTI_FACE_LARGEST`.
    pub multi_face: lb_multi_face,
    /// Return the face landmarks in the result (`lb_result_landmarks()`). Off by default.
    pub return_landmarks: bool,
    /// An encoded image (JPEG, PNG, ...) to use as the background, or NULL. Not together with
    /// `background`.
    pub background_image: *const u8,
    /// Length of `background_image` in bytes.
    pub background_image_len: usize,
    /// NULL, or a JSON object of the options every lichtbild binding takes, for settings this
    /// struct has no field for, such as a whole custom preset: keys `preset`, `custom_preset`,
    /// `background`, `consent` (`{"face_geometry": true, "appearance": false}`), `retouch`,
    /// `format`, `quality`, `max_kb`, `multi_face`, `return_landmarks`, `seal_to`,
    /// `seal_passphrase`, `time_budget_ms` (milliseconds from the call, queue wait included,
    /// after which the call fails with `LB_TIMEOUT`; absent = no budget). A key present in the
    /// JSON wins over the matching field of this struct; unknown keys are an error.
    pub options_json: *const c_char,
    /// Seal the output: NULL, or an array of `seal_to_count` age X25519 recipients (`"age1…"`,
    /// e.g. the public key `age-keygen` prints). The result's data is then an age file (the
    /// encrypted JPEG/PNG/WebP), not the image: decrypt it with `age -d -i KEY` or
    /// `lb_open_sealed()`. The receipt's `output.sealed` says so (method and count, never who).
    /// Not with `LB_FORMAT_PIXELS`, `return_landmarks` or `seal_passphrase`. A recipient that is
    /// not `age1…` fails with `LB_INVALID_OPTIONS` before the photo is touched.
    pub seal_to: *const *const c_char,
    /// Number of strings in `seal_to`; 0 (with `seal_to` NULL) = not sealed to recipients.
    pub seal_to_count: usize,
    /// Seal the output with this passphrase (age's scrypt mode) instead: NULL = no. Not with
    /// `seal_to`. lichtbild copies it into memory it wipes; wiping your copy is up to you.
    pub seal_passphrase: *const c_char,
}

/// An engine: verified models, ONNX Runtime and worker threads. Create it once with
/// `lb_engine_new()` (it takes a moment) and reuse it; one engine may be used from any number of
/// threads at the same time. Free it with `lb_engine_free()`.
pub struct lb_engine {
    inner: Engine,
}

/// The result of one `lb_process()` / `lb_process_pixels()` call: the image (encoded bytes or
/// RGBA8 pixels), its receipt and findings. Everything read through `lb_result_*()` belongs to
/// the result and stays valid until `lb_result_free()`.
pub struct lb_result {
    data: Vec<u8>,
    width: u32,
    height: u32,
    format: lb_format,
    receipt_json: CString,
    findings_json: CString,
    /// x, y pairs; `None` unless the options asked for landmarks.
    landmarks: Option<Vec<f32>>,
    sealed: bool,
}

/// The plaintext of a sealed result, opened by `lb_open_sealed()`: the image file's bytes, held
/// in memory that is locked against swapping where the system allows and wiped by
/// `lb_buffer_free()`.
pub struct lb_buffer {
    data: SecureBuf<u8>,
}

impl Drop for lb_result {
    fn drop(&mut self) {
        // The headshot is personal data: wipe it like the core wipes its buffers.
        self.data.zeroize();
    }
}

/// Why a call failed: a core error, or misuse of the C API itself.
enum Fail {
    Core(Error),
    Null(&'static str),
    Arg(String),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e)
    }
}

impl Fail {
    fn into_parts(self) -> (lb_status, String) {
        match self {
            Fail::Core(e) => (status_of(e.kind()), e.to_string()),
            Fail::Null(what) => (LB_NULL_POINTER, format!("`{what}` must not be NULL")),
            Fail::Arg(m) => (LB_INVALID_ARGUMENT, m),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: String) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // try_with: during thread teardown the slot may be gone; then there is no one to read it.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = c);
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>().copied().or_else(|| p.downcast_ref::<String>().map(String::as_str)).unwrap_or("(no message)")
}

/// The panic boundary of every function that returns a status; also sets the last error message.
fn guard(f: impl FnOnce() -> Result<(), Fail>) -> lb_status {
    let (status, msg) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => (LB_OK, String::new()),
        Ok(Err(e)) => e.into_parts(),
        Err(p) => (LB_INTERNAL, format!("internal error: panic in lichtbild: {}", panic_message(&*p))),
    };
    set_last_error(msg);
    status
}

/// The panic boundary of accessors that cannot report a status: a panic yields `fallback`.
fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    CStr::from_ptr(p).to_str().map(Some).map_err(|e| Fail::Arg(format!("`{what}` is not valid UTF-8: {e}")))
}

unsafe fn bytes<'a>(p: *const u8, len: usize, what: &'static str) -> Result<&'a [u8], Fail> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(Fail::Null(what)) };
    }
    if len > isize::MAX as usize {
        return Err(Fail::Arg(format!("`{what}` length {len} exceeds the address space")));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

unsafe fn options_spec(o: &lb_options) -> Result<(OptionsSpec, Option<Vec<u8>>), Fail> {
    let mut spec = match opt_str(o.options_json, "options_json")? {
        Some(json) => OptionsSpec::from_json(json)?,
        None => OptionsSpec::default(),
    };
    // The struct's fields fill in whatever the JSON leaves out.
    if spec.preset.is_none() {
        spec.preset = opt_str(o.preset, "preset")?.map(str::to_owned);
    }
    if spec.background.is_none() {
        spec.background = opt_str(o.background, "background")?.map(str::to_owned);
    }
    if spec.consent.is_none() && o.consent != 0 {
        if o.consent & !(LB_CONSENT_FACE_GEOMETRY | LB_CONSENT_APPEARANCE) != 0 {
            return Err(Error::InvalidOptions(format!("unknown consent bits 0x{:x} (use LB_CONSENT_FACE_GEOMETRY | LB_CONSENT_APPEARANCE)", o.consent)).into());
        }
        spec.consent = Some(Consent { face_geometry: o.consent & LB_CONSENT_FACE_GEOMETRY != 0, appearance: o.consent & LB_CONSENT_APPEARANCE != 0 });
    }
    if spec.format.is_none() {
        spec.format = Some(
            match o.format {
                LB_FORMAT_JPEG => "jpeg",
                LB_FORMAT_PNG => "png",
                LB_FORMAT_WEBP => "webp",
                LB_FORMAT_PIXELS => "pixels",
                f => return Err(Error::InvalidOptions(format!("unknown format {f} (use LB_FORMAT_*)")).into()),
            }
            .to_owned(),
        );
    }
    if spec.quality.is_none() && o.quality != 0 {
        spec.quality = Some(o.quality);
    }
    if spec.retouch.is_none() && o.retouch != 0.0 {
        spec.retouch = Some(o.retouch);
    }
    if spec.max_kb.is_none() && o.max_kb != 0 {
        spec.max_kb = Some(o.max_kb);
    }
    if spec.multi_face.is_none() {
        spec.multi_face = Some(match o.multi_face {
            LB_MULTI_FACE_LARGEST => MultiFacePolicy::Largest,
            LB_MULTI_FACE_ERROR => MultiFacePolicy::Error,
            m => return Err(Error::InvalidOptions(format!("unknown multi_face {m} (use LB_MULTI_FACE_*)")).into()),
        });
    }
    spec.return_landmarks |= o.return_landmarks;
    if spec.seal_to.is_none() && !(o.seal_to.is_null() && o.seal_to_count == 0) {
        if o.seal_to.is_null() {
            return Err(Fail::Null("options->seal_to"));
        }
        if o.seal_to_count > isize::MAX as usize / std::mem::size_of::<*const c_char>() {
            return Err(Fail::Arg(format!("`options->seal_to_count` {} exceeds the address space", o.seal_to_count)));
        }
        let list = std::slice::from_raw_parts(o.seal_to, o.seal_to_count);
        let mut recipients = Vec::with_capacity(list.len());
        for (i, &r) in list.iter().enumerate() {
            let what = format!("options->seal_to[{i}]");
            if r.is_null() {
                return Err(Fail::Arg(format!("`{what}` is NULL (seal_to_count says {} strings)", list.len())));
            }
            recipients.push(opt_str(r, &what)?.unwrap_or_default().to_owned());
        }
        spec.seal_to = Some(recipients);
    }
    let image = if o.background_image.is_null() && o.background_image_len == 0 {
        None
    } else {
        Some(bytes(o.background_image, o.background_image_len, "options->background_image")?.to_vec())
    };
    // Last, so no early return above leaves an unwiped copy of the passphrase behind: from here
    // it goes straight into the core's wiped Passphrase.
    if spec.seal_passphrase.is_none() {
        spec.seal_passphrase = opt_str(o.seal_passphrase, "options->seal_passphrase")?.map(str::to_owned);
    }
    Ok((spec, image))
}

fn pixel_format(f: lb_pixel_format) -> Result<PixelFormat, Fail> {
    Ok(match f {
        LB_PIXEL_RGBA8 => PixelFormat::Rgba8,
        LB_PIXEL_RGB8 => PixelFormat::Rgb8,
        LB_PIXEL_RGBA16 => PixelFormat::Rgba16,
        LB_PIXEL_RGB16 => PixelFormat::Rgb16,
        LB_PIXEL_RGBA_F32 => PixelFormat::RgbaF32,
        LB_PIXEL_RGB_F32 => PixelFormat::RgbF32,
        other => return Err(Fail::Arg(format!("unknown pixel format {other} (use LB_PIXEL_*)"))),
    })
}

fn json_cstring(v: &impl serde::Serialize) -> Result<CString, Fail> {
    let s = serde_json::to_string(v).map_err(|e| Error::Internal(format!("serialising the result: {e}")))?;
    CString::new(s).map_err(|e| Error::Internal(format!("result JSON: {e}")).into())
}

/// Runs one job on the engine and stores the result in `*out` (NULL on failure).
unsafe fn run(engine: *const lb_engine, input: impl FnOnce() -> Result<Input<'static>, Fail>, options: *const lb_options, out: *mut *mut lb_result) -> Result<(), Fail> {
    if out.is_null() {
        return Err(Fail::Null("out"));
    }
    *out = std::ptr::null_mut();
    let engine = engine.as_ref().ok_or(Fail::Null("engine"))?;
    let options = options.as_ref().ok_or(Fail::Null("options"))?;
    let input = input()?;
    let (spec, background_image) = options_spec(options)?;
    let options = spec.into_options(background_image)?;
    let output = engine.inner.process(input, &options)?;
    let info = &output.receipt.output;
    let (width, height, sealed) = (info.width, info.height, info.sealed.is_some());
    let receipt_json = CString::new(output.receipt.to_json()).map_err(|e| Error::Internal(format!("receipt JSON: {e}")))?;
    let findings_json = json_cstring(&output.findings)?;
    let landmarks = output.landmarks.as_ref().map(|l| l.iter().flatten().copied().collect());
    let (data, format) = match output.image {
        OutputImage::Encoded { format, bytes } => {
            let format = match format {
                lichtbild_core::OutputFormat::Png => LB_FORMAT_PNG,
                lichtbild_core::OutputFormat::Webp => LB_FORMAT_WEBP,
                lichtbild_core::OutputFormat::Pixels => LB_FORMAT_PIXELS,
                lichtbild_core::OutputFormat::Jpeg => LB_FORMAT_JPEG,
            };
            (bytes, format)
        }
        OutputImage::Pixels { rgba, .. } => (rgba, LB_FORMAT_PIXELS),
    };
    *out = Box::into_raw(Box::new(lb_result { data, width, height, format, receipt_json, findings_json, landmarks, sealed }));
    Ok(())
}

/// Creates an engine: checks the embedded models, loads ONNX Runtime and starts the worker
/// threads (each confined by a sandbox on Linux before ONNX Runtime starts on it).
///
/// `config_json` (nullable; NULL = all defaults) is a JSON object with any of:
/// `ort_library` (path of libonnxruntime; without it lichtbild tries `ORT_DYLIB_PATH`, then the
/// directory of liblichtbild and of the program, then the system loader's search path),
/// `workers` (0 = one per core, at most 4), `intra_threads` (ONNX Runtime threads per
/// worker) and `pixel_threads` (threads one request's pixel loops may use), both default 0 = the
/// cores shared out among the workers, at least 1; `limits`
/// (`{"max_pixels": N, "max_bytes": N, "max_output_pixels": N}`: the largest input in pixels,
/// default 268,402,689, and in encoded bytes, default 256 MiB; the largest output a preset may
/// ask for, default 25,000,000 pixels), `max_queue` (requests that may wait for a worker,
/// default 64; one more fails at once with `LB_BUSY`), `sandbox` (default true).
///
/// Ownership: `config_json` is borrowed for the call. On `LB_OK`, `*out` receives a new engine
/// the caller owns and must release with `lb_engine_free()`; on failure `*out` is set to NULL.
/// ONNX Runtime is loaded once per process: a later engine uses the library the first one loaded.
#[no_mangle]
pub unsafe extern "C" fn lb_engine_new(config_json: *const c_char, out: *mut *mut lb_engine) -> lb_status {
    guard(|| {
        if out.is_null() {
            return Err(Fail::Null("out"));
        }
        *out = std::ptr::null_mut();
        let config = match opt_str(config_json, "config_json")? {
            Some(json) => EngineConfig::from_json(json)?,
            None => EngineConfig::default(),
        };
        let inner = Engine::new(config)?;
        *out = Box::into_raw(Box::new(lb_engine { inner }));
        Ok(())
    })
}

/// Stops the engine's workers and frees it. NULL is allowed (does nothing).
///
/// Ownership: takes back an engine from `lb_engine_new()`. No other call may be using the engine
/// (from any thread) when it is freed, and it must not be used afterwards. Results made by the
/// engine stay valid: they are independent of it.
#[no_mangle]
pub unsafe extern "C" fn lb_engine_free(engine: *mut lb_engine) {
    guard_value((), || {
        if !engine.is_null() {
            drop(Box::from_raw(engine));
        }
    })
}

/// Turns a photo given as encoded bytes (JPEG, PNG, WebP or GIF) into a headshot.
/// Blocks the calling thread until one of the engine's workers has finished; safe to call from
/// many threads at once on the same engine.
///
/// Ownership: `engine`, `data` (`len` bytes) and `options` (with everything it points to) are
/// borrowed for the call; lichtbild copies the input into its own wiped buffer. On `LB_OK`,
/// `*out` receives a new result the caller owns and must release with `lb_result_free()`; on
/// failure `*out` is set to NULL and `lb_last_error_message()` says why.
#[no_mangle]
pub unsafe extern "C" fn lb_process(engine: *const lb_engine, data: *const u8, len: usize, options: *const lb_options, out: *mut *mut lb_result) -> lb_status {
    guard(|| {
        run(
            engine,
            || {
                if data.is_null() {
                    return Err(Fail::Null("data"));
                }
                Ok(Input::Encoded(bytes(data, len, "data")?))
            },
            options,
            out,
        )
    })
}

/// Turns a photo given as raw pixels into a headshot: the call for image editors, whose layers are
/// already decoded (GIMP, Krita). Pair it with `LB_FORMAT_PIXELS` to get RGBA8 pixels back.
///
/// `pixels` holds `height` rows of `width` pixels in `format` (`LB_PIXEL_*`); `stride` is the
/// distance in bytes from the start of one row to the next (0 = rows packed, i.e. width times
/// the pixel size); `len` is the size of the buffer in bytes, at least
/// `stride * (height - 1) + width * pixel size`. 16-bit and float buffers need no special
/// alignment.
///
/// Ownership: as `lb_process()`: `engine`, `pixels` and `options` are borrowed for the call (the
/// pixels are copied into a wiped buffer); on `LB_OK` the caller owns `*out` and releases it with
/// `lb_result_free()`; on failure `*out` is NULL.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // a pixel buffer is these values; a struct would only hide them
pub unsafe extern "C" fn lb_process_pixels(
    engine: *const lb_engine,
    pixels: *const c_void,
    len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: lb_pixel_format,
    options: *const lb_options,
    out: *mut *mut lb_result,
) -> lb_status {
    guard(|| {
        run(
            engine,
            || {
                if pixels.is_null() {
                    return Err(Fail::Null("pixels"));
                }
                let format = pixel_format(format)?;
                let data = bytes(pixels.cast::<u8>(), len, "pixels")?;
                let stride = if stride == 0 { (width as usize).saturating_mul(format.bytes_per_pixel()) } else { stride };
                Ok(Input::Pixels(PixelsRef { data, width, height, stride, format }))
            },
            options,
            out,
        )
    })
}

/// Options with every field at its default and NO consent (`consent` = 0): set
/// `opts.consent = LB_CONSENT_FACE_GEOMETRY` (and `| LB_CONSENT_APPEARANCE` for retouching) once
/// the person has agreed, or processing fails with `LB_CONSENT_REQUIRED`.
#[no_mangle]
pub extern "C" fn lb_options_default() -> lb_options {
    lb_options {
        preset: std::ptr::null(),
        background: std::ptr::null(),
        consent: 0,
        format: LB_FORMAT_JPEG,
        quality: 0,
        retouch: 0.0,
        max_kb: 0,
        multi_face: LB_MULTI_FACE_LARGEST,
        return_landmarks: false,
        background_image: std::ptr::null(),
        background_image_len: 0,
        options_json: std::ptr::null(),
        seal_to: std::ptr::null(),
        seal_to_count: 0,
        seal_passphrase: std::ptr::null(),
    }
}

/// Frees a result and wipes its image data. NULL is allowed (does nothing).
///
/// Ownership: takes back a result from `lb_process()` / `lb_process_pixels()`; every pointer
/// obtained from its accessors becomes invalid.
#[no_mangle]
pub unsafe extern "C" fn lb_result_free(result: *mut lb_result) {
    guard_value((), || {
        if !result.is_null() {
            drop(Box::from_raw(result));
        }
    })
}

/// The image: the encoded file (JPEG/PNG/WebP) or, for `LB_FORMAT_PIXELS`, straight RGBA8 pixels
/// with rows packed (`width * 4` bytes per row). NULL if `result` is NULL.
///
/// Ownership: owned by the result, valid until `lb_result_free(result)`; do not free it.
#[no_mangle]
pub unsafe extern "C" fn lb_result_data(result: *const lb_result) -> *const u8 {
    guard_value(std::ptr::null(), || result.as_ref().map_or(std::ptr::null(), |r| r.data.as_ptr()))
}

/// Size of `lb_result_data()` in bytes (for pixels: width * height * 4); 0 if `result` is NULL.
#[no_mangle]
pub unsafe extern "C" fn lb_result_len(result: *const lb_result) -> usize {
    guard_value(0, || result.as_ref().map_or(0, |r| r.data.len()))
}

/// Width of the headshot in pixels (for every format); 0 if `result` is NULL.
#[no_mangle]
pub unsafe extern "C" fn lb_result_width(result: *const lb_result) -> u32 {
    guard_value(0, || result.as_ref().map_or(0, |r| r.width))
}

/// Height of the headshot in pixels (for every format); 0 if `result` is NULL.
#[no_mangle]
pub unsafe extern "C" fn lb_result_height(result: *const lb_result) -> u32 {
    guard_value(0, || result.as_ref().map_or(0, |r| r.height))
}

/// Format of `lb_result_data()`: one of `LB_FORMAT_*` (`LB_FORMAT_JPEG` if `result` is NULL).
/// For a sealed result it is the format of the image inside the age file.
#[no_mangle]
pub unsafe extern "C" fn lb_result_format(result: *const lb_result) -> lb_format {
    guard_value(LB_FORMAT_JPEG, || result.as_ref().map_or(LB_FORMAT_JPEG, |r| r.format))
}

/// Whether `lb_result_data()` is an age file (the options set `seal_to` or `seal_passphrase`)
/// rather than the image itself; false if `result` is NULL.
#[no_mangle]
pub unsafe extern "C" fn lb_result_sealed(result: *const lb_result) -> bool {
    guard_value(false, || result.as_ref().is_some_and(|r| r.sealed))
}

/// Opens a sealed result in this process, e.g. to show it: decrypts the age file `sealed`
/// (`len` bytes, `lb_result_data()` of a sealed result) with exactly one of `identity` (the text
/// of an age X25519 identity, `"AGE-SECRET-KEY-1…"`; a whole `age-keygen` key file, comments
/// included, also works) or `passphrase`; the other must be NULL.
///
/// Errors: `LB_SEAL` for a wrong identity or passphrase and for bytes that are not an intact age
/// file; `LB_INVALID_OPTIONS` for an identity that is not an age secret key; `LB_INVALID_ARGUMENT`
/// unless exactly one of `identity` and `passphrase` is given.
///
/// Ownership: `sealed`, `identity` and `passphrase` are borrowed for the call (lichtbild's copies
/// of the key are wiped). On `LB_OK`, `*out` receives a new buffer with the image file's bytes
/// that the caller owns and must release with `lb_buffer_free()`, which wipes it; on failure
/// `*out` is set to NULL.
#[no_mangle]
pub unsafe extern "C" fn lb_open_sealed(sealed: *const u8, len: usize, identity: *const c_char, passphrase: *const c_char, out: *mut *mut lb_buffer) -> lb_status {
    guard(|| {
        if out.is_null() {
            return Err(Fail::Null("out"));
        }
        *out = std::ptr::null_mut();
        if sealed.is_null() {
            return Err(Fail::Null("sealed"));
        }
        let sealed = bytes(sealed, len, "sealed")?;
        let with = match (opt_str(identity, "identity")?, opt_str(passphrase, "passphrase")?) {
            (Some(i), None) => OpenWith::Identity(Passphrase::new(i)),
            (None, Some(p)) => OpenWith::Passphrase(Passphrase::new(p)),
            _ => return Err(Fail::Arg("give exactly one of `identity` and `passphrase` (the other NULL)".into())),
        };
        let data = lichtbild_core::seal::open(sealed, &with)?;
        *out = Box::into_raw(Box::new(lb_buffer { data }));
        Ok(())
    })
}

/// The bytes of a buffer from `lb_open_sealed()` (the image file: JPEG, PNG or WebP); NULL if
/// `buffer` is NULL.
///
/// Ownership: owned by the buffer, valid until `lb_buffer_free(buffer)`; do not free it.
#[no_mangle]
pub unsafe extern "C" fn lb_buffer_data(buffer: *const lb_buffer) -> *const u8 {
    guard_value(std::ptr::null(), || buffer.as_ref().map_or(std::ptr::null(), |b| b.data.as_ptr()))
}

/// Size of `lb_buffer_data()` in bytes; 0 if `buffer` is NULL.
#[no_mangle]
pub unsafe extern "C" fn lb_buffer_len(buffer: *const lb_buffer) -> usize {
    guard_value(0, || buffer.as_ref().map_or(0, |b| b.data.len()))
}

/// Wipes and frees a buffer from `lb_open_sealed()`. NULL is allowed (does nothing).
///
/// Ownership: takes back the buffer; the pointer from `lb_buffer_data()` becomes invalid.
#[no_mangle]
pub unsafe extern "C" fn lb_buffer_free(buffer: *mut lb_buffer) {
    guard_value((), || {
        if !buffer.is_null() {
            // SecureBuf wipes itself when dropped.
            drop(Box::from_raw(buffer));
        }
    })
}

/// The privacy receipt as a NUL-terminated JSON object: steps run, models and their sha256,
/// consent used, sandbox state, metadata kinds removed, bytes wiped, timings; nothing that
/// identifies the person. NULL if `result` is NULL.
///
/// Ownership: owned by the result, valid until `lb_result_free(result)`; do not free it.
#[no_mangle]
pub unsafe extern "C" fn lb_result_receipt_json(result: *const lb_result) -> *const c_char {
    guard_value(std::ptr::null(), || result.as_ref().map_or(std::ptr::null(), |r| r.receipt_json.as_ptr()))
}

/// The quality findings as a NUL-terminated JSON array of objects with `code` (e.g.
/// `"yaw_too_large"`, `"blurry"`, `"frame_extended"`), `severity` (`"info"`, `"warning"`,
/// `"critical"`), `message` and, where measured, `value`.
/// `"[]"` when there is nothing to say; NULL if `result` is NULL.
///
/// Ownership: owned by the result, valid until `lb_result_free(result)`; do not free it.
#[no_mangle]
pub unsafe extern "C" fn lb_result_findings_json(result: *const lb_result) -> *const c_char {
    guard_value(std::ptr::null(), || result.as_ref().map_or(std::ptr::null(), |r| r.findings_json.as_ptr()))
}

/// The face landmarks in output pixels as `*count` (x, y) pairs (2 * `*count` floats), only when
/// the options set `return_landmarks`; otherwise NULL with `*count` = 0. `count` may be NULL.
///
/// Ownership: owned by the result, valid until `lb_result_free(result)`; do not free it.
#[no_mangle]
pub unsafe extern "C" fn lb_result_landmarks(result: *const lb_result, count: *mut usize) -> *const f32 {
    guard_value(std::ptr::null(), || {
        let l = result.as_ref().and_then(|r| r.landmarks.as_ref());
        if let Some(count) = count.as_mut() {
            *count = l.map_or(0, |l| l.len() / 2);
        }
        l.map_or(std::ptr::null(), |l| l.as_ptr())
    })
}

/// The message of the last failed call on this thread (NUL-terminated UTF-8), `""` after a call
/// that returned `LB_OK`. Every function returning `lb_status` sets it; the other functions
/// leave it alone.
///
/// Ownership: owned by the library (thread-local); valid until the next `lb_status`-returning
/// call on the same thread. Copy it to keep it; do not free it.
#[no_mangle]
pub extern "C" fn lb_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || LAST_ERROR.try_with(|s| s.borrow().as_ptr()).unwrap_or(c"".as_ptr()))
}

/// The stable code of a status as a string: `"ok"`, `"no_face"`, `"consent_required"`, ...
/// (the same codes as the Python and Node bindings), `"unknown"` for a value that is not an
/// `lb_status`.
///
/// Ownership: a static string; never free it.
#[no_mangle]
pub extern "C" fn lb_status_name(status: i32) -> *const c_char {
    guard_value(c"unknown".as_ptr(), || STATUS_TABLE.iter().find(|(s, _, _)| *s as i32 == status).map_or(c"unknown".as_ptr(), |(_, _, n)| n.as_ptr()))
}

/// The library version, e.g. `"0.1.0"`.
///
/// Ownership: a static string; never free it.
#[no_mangle]
pub extern "C" fn lb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The built-in presets as a NUL-terminated JSON array of preset objects (`name`, `description`,
/// `width_px`, `height_px`, `dpi`, ...); a custom preset in `options_json`'s `custom_preset` has
/// the same shape. NULL only if the list cannot be built (a bug).
///
/// Ownership: owned by the library, valid until the process ends; never free it.
#[no_mangle]
pub extern "C" fn lb_presets_json() -> *const c_char {
    static PRESETS: OnceLock<Option<CString>> = OnceLock::new();
    guard_value(std::ptr::null(), || {
        PRESETS
            .get_or_init(|| serde_json::to_string(&Preset::builtins()).ok().and_then(|s| CString::new(s).ok()))
            .as_ref()
            .map_or(std::ptr::null(), |c| c.as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_kind_has_its_own_status_named_by_its_code() {
        let mut seen = Vec::new();
        for &kind in ErrorKind::ALL {
            let status = status_of(kind);
            assert!(kind == ErrorKind::Internal || status != LB_INTERNAL, "{kind:?} is not in STATUS_TABLE");
            assert!(!seen.contains(&status), "{kind:?} shares {status:?}");
            seen.push(status);
            let name = unsafe { CStr::from_ptr(lb_status_name(status as i32)) };
            assert_eq!(name.to_str().unwrap(), kind.code());
        }
        assert_eq!(STATUS_TABLE.len(), ErrorKind::ALL.len() + 3, "OK, NULL_POINTER and INVALID_ARGUMENT are the only extras");
        assert_eq!(unsafe { CStr::from_ptr(lb_status_name(-1)) }.to_str().unwrap(), "unknown");
    }

    #[test]
    fn default_options_carry_no_consent() {
        let o = lb_options_default();
        assert_eq!(o.consent, 0);
        let (spec, _) = unsafe { options_spec(&o) }.ok().unwrap();
        assert!(spec.consent.is_none());
        assert_eq!(spec.into_options(None).ok().unwrap().consent, Consent::NONE);
    }
}
