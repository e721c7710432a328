//! Privacy mechanisms: the worker sandbox, wiped buffers, the receipt.
pub mod jpeg_mem;
pub mod ort_alloc;
pub mod receipt;
pub mod sandbox;
pub mod secure_buffer;
pub mod wipe_alloc;
