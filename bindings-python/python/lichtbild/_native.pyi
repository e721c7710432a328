# Type stubs of the Rust extension (hand-written; `make py-test` checks them against the module
# with mypy.stubtest, so they cannot drift).
from os import PathLike
from typing import Any, Sequence, Union, final

import numpy as np
import numpy.typing as npt
from PIL.Image import Image

_Bytes = Union[bytes, bytearray, memoryview]
_Path = Union[str, PathLike[str]]
_PixelArray = Union[npt.NDArray[np.uint8], npt.NDArray[np.uint16], npt.NDArray[np.float32]]

__version__: str
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
    "_engine_from_config",
    "_error_class",
    "_error_codes",
    "_finding",
    "_result",
    "open_sealed",
    "presets",
]

@final
class Consent:
    """Explicit consent of the person in the photo, per scope. There is no default: state it."""

    def __new__(cls, face_geometry: bool, appearance: bool = False) -> Consent: ...
    @property
    def face_geometry(self) -> bool: ...
    @property
    def appearance(self) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Finding:
    """One quality finding about the headshot (pose, exposure, framing, ...)."""

    @property
    def code(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    def __reduce__(self) -> tuple[Any, tuple[str, str, str, float | None]]: ...

@final
class Result:
    """The headshot and everything said about it, returned by Engine.process."""

    @property
    def image(self) -> bytes | None: ...
    @property
    def pixels(self) -> npt.NDArray[np.uint8] | None: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def dpi(self) -> int: ...
    @property
    def format(self) -> str: ...
    @property
    def findings(self) -> list[Finding]: ...
    @property
    def receipt(self) -> dict[str, Any]: ...
    @property
    def landmarks(self) -> list[tuple[float, float]] | None: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class Engine:
    """The engine: embedded models, ONNX Runtime and worker threads."""

    def __new__(
        cls,
        *,
        ort_library: _Path | None = None,
        workers: int = 0,
        intra_threads: int = 0,
        pixel_threads: int = 0,
        sandbox: bool = True,
        max_pixels: int | None = None,
        max_bytes: int | None = None,
        max_output_pixels: int | None = None,
        max_queue: int | None = None,
    ) -> Engine: ...
    def process(
        self,
        data: _Bytes,
        *,
        consent: Consent,
        preset: str | None = "bewerbung-45x60",
        custom_preset: dict[str, Any] | None = None,
        background: str | None = None,
        background_image: _Bytes | None = None,
        retouch: float | None = None,
        format: str = "jpeg",
        quality: int = 92,
        max_kb: int | None = None,
        multi_face: str = "largest",
        return_landmarks: bool = False,
        seal_to: Sequence[str] | None = None,
        seal_passphrase: str | None = None,
        time_budget_ms: int | None = None,
    ) -> Result: ...
    def process_array(
        self,
        array: _PixelArray,
        *,
        consent: Consent,
        preset: str | None = "bewerbung-45x60",
        custom_preset: dict[str, Any] | None = None,
        background: str | None = None,
        background_image: _Bytes | None = None,
        retouch: float | None = None,
        multi_face: str = "largest",
        time_budget_ms: int | None = None,
    ) -> npt.NDArray[np.uint8]: ...
    def process_pil(
        self,
        image: Image,
        *,
        consent: Consent,
        preset: str | None = "bewerbung-45x60",
        custom_preset: dict[str, Any] | None = None,
        background: str | None = None,
        background_image: _Bytes | None = None,
        retouch: float | None = None,
        multi_face: str = "largest",
        time_budget_ms: int | None = None,
    ) -> Image: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def runtime(self) -> dict[str, str]: ...
    @property
    def workers(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]: ...

class Error(Exception):
    """Base class of every lichtbild error; `code` is the stable kind ("no_face", ...)."""

    code: str

class InvalidImageError(Error): ...
class UnsupportedFormatError(Error): ...
class TooLargeError(Error): ...
class NoFaceError(Error): ...
class MultipleFacesError(Error): ...
class ConsentRequiredError(Error): ...
class InvalidOptionsError(Error, ValueError): ...
class RuntimeNotFoundError(Error): ...
class ModelIntegrityError(Error): ...
class InferenceError(Error): ...
class EncodeError(Error): ...
class CancelledError(Error): ...
class SandboxError(Error): ...
class SealError(Error): ...
class InternalError(Error): ...
class BusyError(Error): ...
class TimeBudgetError(Error, TimeoutError): ...

def presets() -> list[dict[str, Any]]: ...
def open_sealed(data: _Bytes, *, identity: str | None = None, passphrase: str | None = None) -> bytes: ...
def _engine_from_config(config: dict[str, Any]) -> Engine: ...
def _error_codes() -> list[str]: ...
def _error_class(code: str) -> type[Error]: ...
def _finding(code: str, severity: str, message: str, value: float | None) -> Finding: ...
def _result(
    image: bytes | None,
    pixels: npt.NDArray[np.uint8] | None,
    width: int,
    height: int,
    dpi: int,
    format: str,
    findings: list[Finding],
    receipt: dict[str, Any],
    landmarks: list[tuple[float, float]] | None,
) -> Result: ...
