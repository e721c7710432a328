//! The receipt.
