//! Privacy mechanisms: wiped buffers, the receipt.
pub mod receipt;
pub mod secure_buffer;
