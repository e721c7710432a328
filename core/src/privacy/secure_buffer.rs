//! The one owner of every byte derived from the photo: zeroised when dropped.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use zeroize::Zeroize;

thread_local! {
    /// Bytes wiped on this thread; the worker reads and resets it per job for the receipt.
    static ZEROISED: Cell<u64> = const { Cell::new(0) };
}

/// Returns and resets the number of bytes zeroised on the current thread.
pub fn take_zeroised_bytes() -> u64 {
    ZEROISED.with(|z| z.replace(0))
}

/// A heap buffer that wipes its whole capacity on drop.
pub struct SecureBuf<T: Zeroize + Copy + Default> {
    v: Vec<T>,
}

impl<T: Zeroize + Copy + Default> SecureBuf<T> {
    pub fn zeroed(len: usize) -> Self {
        SecureBuf { v: vec![T::default(); len] }
    }

    /// Takes ownership of a vector (no copy); it is wiped on drop like any other.
    pub fn from_vec(v: Vec<T>) -> Self {
        SecureBuf { v }
    }

    pub fn from_slice(s: &[T]) -> Self {
        SecureBuf { v: s.to_vec() }
    }

    /// Hands the bytes out as a plain vector: the caller becomes responsible for them.
    pub fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.v)
    }
}

impl<T: Zeroize + Copy + Default> Deref for SecureBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.v
    }
}

impl<T: Zeroize + Copy + Default> DerefMut for SecureBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.v
    }
}

impl<T: Zeroize + Copy + Default> Clone for SecureBuf<T> {
    fn clone(&self) -> Self {
        Self::from_slice(&self.v)
    }
}

impl<T: Zeroize + Copy + Default> Drop for SecureBuf<T> {
    fn drop(&mut self) {
        let bytes = self.v.capacity() * std::mem::size_of::<T>();
        // Vec::zeroize wipes the spare capacity too.
        self.v.zeroize();
        ZEROISED.with(|z| z.set(z.get() + bytes as u64));
    }
}

impl<T: Zeroize + Copy + Default> std::fmt::Debug for SecureBuf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecureBuf(len={})", self.v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_wiped_bytes() {
        take_zeroised_bytes();
        drop(SecureBuf::<f32>::zeroed(10));
        assert_eq!(take_zeroised_bytes(), 40);
    }
}
