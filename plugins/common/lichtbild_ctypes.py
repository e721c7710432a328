"""ctypes on liblichtbild (the C library) for the Python plug-ins (Krita, GIMP 3).

Argument conversion and error mapping only: every decision (presets, backgrounds, consent, the
pipeline) is the library's. The plug-in folder carries liblichtbild.so.N and ONNX Runtime next to
this file; the engine is given that ONNX Runtime explicitly, so nothing depends on the user's
environment (LD_LIBRARY_PATH, ORT_DYLIB_PATH, a pip install).
"""
import ctypes
import glob
import json
import os
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
LIB_DIR = os.path.join(HERE, "lib")

LB_PIXEL_RGBA8 = 0


class LichtbildError(Exception):
    """A failure reported by liblichtbild: `code` is the stable string ("no_face",
    "consent_required", ...), str(err) the library's message for the user."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class _Options(ctypes.Structure):
    # Mirrors lb_options in lichtbild.h (field order and types), including the sealing fields of
    # later versions: all zero / NULL means "the core's default", and a library that knows fewer
    # fields only reads the ones it knows.
    _fields_ = [
        ("preset", ctypes.c_char_p),
        ("background", ctypes.c_char_p),
        ("consent", ctypes.c_uint32),
        ("format", ctypes.c_uint32),
        ("quality", ctypes.c_uint8),
        ("retouch", ctypes.c_float),
        ("max_kb", ctypes.c_uint32),
        ("multi_face", ctypes.c_uint32),
        ("return_landmarks", ctypes.c_bool),
        ("background_image", ctypes.POINTER(ctypes.c_uint8)),
        ("background_image_len", ctypes.c_size_t),
        ("options_json", ctypes.c_char_p),
        ("seal_to", ctypes.POINTER(ctypes.c_char_p)),
        ("seal_to_count", ctypes.c_size_t),
        ("seal_passphrase", ctypes.c_char_p),
    ]


def _load():
    # liblichtbild.so.N: N is the ABI version the folder was assembled with.
    found = sorted(glob.glob(os.path.join(LIB_DIR, "liblichtbild.so.*")))
    lib = ctypes.CDLL(found[0] if found else os.path.join(LIB_DIR, "liblichtbild.so"))
    vp, st = ctypes.c_void_p, ctypes.c_int
    lib.lb_engine_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)]
    lib.lb_engine_new.restype = st
    lib.lb_engine_free.argtypes = [vp]
    lib.lb_engine_free.restype = None
    lib.lb_process_pixels.argtypes = [vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                                      ctypes.c_uint32, ctypes.c_size_t, ctypes.c_uint32,
                                      ctypes.POINTER(_Options), ctypes.POINTER(vp)]
    lib.lb_process_pixels.restype = st
    lib.lb_result_free.argtypes = [vp]
    lib.lb_result_free.restype = None
    lib.lb_result_data.argtypes = [vp]
    lib.lb_result_data.restype = ctypes.c_void_p
    for name in ("lb_result_len",):
        getattr(lib, name).argtypes = [vp]
        getattr(lib, name).restype = ctypes.c_size_t
    for name in ("lb_result_width", "lb_result_height"):
        getattr(lib, name).argtypes = [vp]
        getattr(lib, name).restype = ctypes.c_uint32
    for name in ("lb_result_receipt_json", "lb_result_findings_json"):
        getattr(lib, name).argtypes = [vp]
        getattr(lib, name).restype = ctypes.c_char_p
    lib.lb_last_error_message.argtypes = []
    lib.lb_last_error_message.restype = ctypes.c_char_p
    lib.lb_status_name.argtypes = [ctypes.c_int32]
    lib.lb_status_name.restype = ctypes.c_char_p
    lib.lb_presets_json.argtypes = []
    lib.lb_presets_json.restype = ctypes.c_char_p
    return lib


_lib = None
_engine = None
_lock = threading.Lock()


def _library():
    global _lib
    with _lock:
        if _lib is None:
            _lib = _load()
        return _lib


def _check(lib, status):
    # The one place a status becomes an exception; the message is read on the calling thread,
    # right after the call, as lichtbild.h requires.
    if status != 0:
        message = (lib.lb_last_error_message() or b"").decode("utf-8", "replace")
        code = (lib.lb_status_name(status) or b"unknown").decode()
        raise LichtbildError(code, message or code)


def bundled_ort():
    """The ONNX Runtime shipped in the plug-in folder (lib/libonnxruntime.so.*)."""
    found = sorted(glob.glob(os.path.join(LIB_DIR, "libonnxruntime.so.*")))
    return found[0] if found else None


def engine():
    """The process-wide engine (models verified and ONNX Runtime loaded once, then reused)."""
    global _engine
    lib = _library()
    with _lock:
        if _engine is None:
            # One photo at a time: one worker, which then gets every core for it.
            config = {"workers": 1}
            if bundled_ort():
                config["ort_library"] = bundled_ort()
            handle = ctypes.c_void_p()
            _check(lib, lib.lb_engine_new(json.dumps(config).encode(), ctypes.byref(handle)))
            _engine = handle
        return _engine


def preset_names():
    return [p["name"] for p in json.loads(_library().lb_presets_json().decode())]


def headshot_rgba(rgba, width, height, preset, background, retouch, consent_face, consent_appearance):
    """Straight RGBA8 pixels (rows packed) in, (rgba bytes, width, height, findings) out."""
    lib = _library()
    eng = engine()
    spec = {
        "preset": preset,
        "retouch": float(retouch),
        "format": "pixels",
        # Explicit both ways: the plug-in never assumes consent.
        "consent": {"face_geometry": bool(consent_face), "appearance": bool(consent_appearance)},
    }
    if background:
        spec["background"] = background
    opts = _Options()  # zeroed: every field at its default, consent only via the JSON below
    opts.options_json = json.dumps(spec).encode()
    res = ctypes.c_void_p()
    data = bytes(rgba)
    _check(lib, lib.lb_process_pixels(eng, data, len(data), width, height, width * 4,
                                      LB_PIXEL_RGBA8, ctypes.byref(opts), ctypes.byref(res)))
    try:
        out = ctypes.string_at(lib.lb_result_data(res), lib.lb_result_len(res))
        findings = json.loads(lib.lb_result_findings_json(res).decode())
        return out, lib.lb_result_width(res), lib.lb_result_height(res), findings
    finally:
        lib.lb_result_free(res)
