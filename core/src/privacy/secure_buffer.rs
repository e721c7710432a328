//! The one owner of every byte derived from the photo: kept out of core dumps, locked in RAM
//! where the limit allows, and zeroised when dropped.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use zeroize::Zeroize;

thread_local! {
    /// Bytes wiped on this thread; the worker reads and resets it per job for the receipt.
    static ZEROISED: Cell<u64> = const { Cell::new(0) };
}

thread_local! {
    /// Bytes mlocked on this thread (summed over buffers), for the receipt.
    static LOCKED: Cell<u64> = const { Cell::new(0) };
}

/// Returns and resets the number of bytes zeroised on the current thread.
pub fn take_zeroised_bytes() -> u64 {
    ZEROISED.with(|z| z.replace(0))
}

/// Returns and resets the number of bytes mlocked on the current thread.
pub fn take_locked_bytes() -> u64 {
    LOCKED.with(|z| z.replace(0))
}

/// A heap buffer that wipes its whole capacity on drop. Its length is fixed once made, so the
/// pages it advised and locked stay the pages it owns.
pub struct SecureBuf<T: Zeroize + Copy + Default> {
    v: Vec<T>,
    /// The page-aligned range inside `v` that is mlocked (0 = none).
    locked: (usize, usize),
}

impl<T: Zeroize + Copy + Default> SecureBuf<T> {
    pub fn zeroed(len: usize) -> Self {
        Self::from_vec(vec![T::default(); len])
    }

    /// Takes ownership of a vector (no copy); it is wiped on drop like any other.
    pub fn from_vec(v: Vec<T>) -> Self {
        let mut b = SecureBuf { v, locked: (0, 0) };
        b.protect();
        b
    }

    pub fn from_slice(s: &[T]) -> Self {
        Self::from_vec(s.to_vec())
    }

    /// Hands the bytes out as a plain vector: the caller becomes responsible for them.
    pub fn into_vec(mut self) -> Vec<T> {
        self.unlock();
        std::mem::take(&mut self.v)
    }

    /// Bytes of this buffer locked in RAM.
    pub fn locked_bytes(&self) -> usize {
        self.locked.1
    }

    /// MADV_DONTDUMP and mlock on the whole pages inside the buffer (the allocator owns the edges,
    /// which may be shared with other data). Small buffers are only zeroised.
    fn protect(&mut self) {
        #[cfg(unix)]
        if let Some((start, len)) = inner_pages(self.v.as_ptr() as usize, self.v.capacity() * std::mem::size_of::<T>()) {
            // SAFETY: the range lies inside this vector's allocation, which lives as long as self.
            unsafe {
                libc::madvise(start as *mut libc::c_void, len, dontdump());
                // Fails (ENOMEM/EPERM) once RLIMIT_MEMLOCK is used up: then the pages may be swapped,
                // and the receipt's bytes_locked says how much was not.
                if libc::mlock(start as *const libc::c_void, len) == 0 {
                    self.locked = (start, len);
                    LOCKED.with(|l| l.set(l.get() + len as u64));
                }
            }
        }
    }

    fn unlock(&mut self) {
        #[cfg(unix)]
        if self.locked.1 > 0 {
            // SAFETY: the same range mlock succeeded on, still owned by self.v.
            unsafe { libc::munlock(self.locked.0 as *const libc::c_void, self.locked.1) };
        }
        self.locked = (0, 0);
    }
}

#[cfg(unix)]
fn page_size() -> usize {
    use std::sync::OnceLock;
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    })
}

/// The whole pages inside `[addr, addr + len)`, if any.
#[cfg(unix)]
fn inner_pages(addr: usize, len: usize) -> Option<(usize, usize)> {
    let page = page_size();
    let start = addr.checked_add(page - 1)? & !(page - 1);
    let end = addr.checked_add(len)? & !(page - 1);
    (end > start).then(|| (start, end - start))
}

#[cfg(target_os = "linux")]
fn dontdump() -> libc::c_int {
    libc::MADV_DONTDUMP
}
#[cfg(all(unix, not(target_os = "linux")))]
fn dontdump() -> libc::c_int {
    // macOS/BSD have no MADV_DONTDUMP; MADV_NORMAL keeps the call harmless there.
    libc::MADV_NORMAL
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
        self.unlock();
        let bytes = self.v.capacity() * std::mem::size_of::<T>();
        // With WipeOnFree installed the allocator zeroes the whole block as the vector is freed
        // right after this; a second pass over megabytes of frame would only cost time. Otherwise
        // Vec::zeroize wipes it (spare capacity included).
        if !crate::privacy::wipe_alloc::installed() {
            self.v.zeroize();
        }
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
    fn large_buffers_are_locked_and_kept_out_of_dumps() {
        take_locked_bytes();
        let b = SecureBuf::<u8>::zeroed(1 << 20);
        let (start, len) = inner_pages(b.as_ptr() as usize, b.len()).unwrap();
        assert!(len >= (1 << 20) - 2 * page_size());
        // mincore is not enough to see mlock; /proc/self/smaps shows both flags for the range.
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_range = false;
        let (mut dd, mut locked_kb) = (false, 0u64);
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ').filter(|(r, _)| r.contains('-') && !r.contains(':')) {
                let (a, e) = range.split_once('-').unwrap();
                let (a, e) = (usize::from_str_radix(a, 16).unwrap(), usize::from_str_radix(e, 16).unwrap());
                in_range = a <= start && start < e;
            } else if in_range && line.starts_with("VmFlags:") {
                dd = line.split_whitespace().any(|f| f == "dd");
            } else if in_range && line.starts_with("Locked:") {
                locked_kb = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            }
        }
        assert!(dd, "MADV_DONTDUMP not applied");
        if b.locked_bytes() > 0 {
            assert_eq!(b.locked_bytes(), len);
            assert!(locked_kb * 1024 >= len as u64, "smaps shows {locked_kb} kB locked");
            assert_eq!(take_locked_bytes(), len as u64);
        } else {
            eprintln!("RLIMIT_MEMLOCK too small here: buffer not locked (reported as 0)");
        }
        let v = b.into_vec();
        assert_eq!(v.len(), 1 << 20);
    }

    #[test]
    fn counts_wiped_bytes() {
        take_zeroised_bytes();
        drop(SecureBuf::<f32>::zeroed(10));
        assert_eq!(take_zeroised_bytes(), 40);
    }
}
