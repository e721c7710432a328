"""lichtbild: private, on-device application headshots.

Build one :class:`Engine` and call :meth:`Engine.process` (bytes in, :class:`Result` out),
:meth:`Engine.process_array` (numpy in and out) or :meth:`Engine.process_pil` (Pillow in and
out) from any thread. Consent is always explicit: ``consent=Consent(face_geometry=True)``.
Every failure is a subclass of :class:`Error` with a stable ``code``. With ``seal_to=`` or
``seal_passphrase=`` the headshot leaves the engine encrypted (age); :func:`open_sealed` opens it.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from typing import Optional

from lichtbild._native import (
    BusyError,
    CancelledError,
    Consent,
    ConsentRequiredError,
    EncodeError,
    Engine,
    Error,
    Finding,
    InferenceError,
    InternalError,
    InvalidImageError,
    InvalidOptionsError,
    ModelIntegrityError,
    MultipleFacesError,
    NoFaceError,
    Result,
    RuntimeNotFoundError,
    SandboxError,
    SealError,
    TimeBudgetError,
    TooLargeError,
    UnsupportedFormatError,
    __version__,
    open_sealed,
    presets,
)

__all__ = [
    "BusyError",
    "CancelledError",
    "Consent",
    "ConsentRequiredError",
    "EncodeError",
    "Engine",
    "Error",
    "Finding",
    "InferenceError",
    "InternalError",
    "InvalidImageError",
    "InvalidOptionsError",
    "ModelIntegrityError",
    "MultipleFacesError",
    "NoFaceError",
    "Result",
    "RuntimeNotFoundError",
    "SandboxError",
    "SealError",
    "TimeBudgetError",
    "TooLargeError",
    "UnsupportedFormatError",
    "__version__",
    "open_sealed",
    "presets",
]


def _onnxruntime_library() -> Optional[str]:
    """The ONNX Runtime library inside the installed onnxruntime wheel, or None.

    Found with find_spec, without importing onnxruntime (slow, and it would load a second
    copy of its Python bindings for nothing). Engine() calls this when neither ort_library=
    nor ORT_DYLIB_PATH is given.
    """
    spec = importlib.util.find_spec("onnxruntime")
    for d in (spec.submodule_search_locations or []) if spec else []:
        for pattern in ("libonnxruntime.so.*", "libonnxruntime.*.dylib", "onnxruntime.dll"):
            found = sorted(glob.glob(os.path.join(d, "capi", pattern)))
            if found:
                return found[-1]
    return None
