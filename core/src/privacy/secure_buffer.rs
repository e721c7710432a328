//! The one owner of every byte derived from the photo: kept out of core dumps, locked in RAM
//! where the limit allows, and zeroised when dropped.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
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

/// Adds bytes wiped outside a `SecureBuf` (ONNX Runtime's tensors) to this thread's count.
pub(crate) fn count_zeroised(bytes: u64) {
    let _ = ZEROISED.try_with(|z| z.set(z.get() + bytes));
}

/// Returns and resets the number of bytes mlocked on the current thread.
pub fn take_locked_bytes() -> u64 {
    LOCKED.with(|z| z.replace(0))
}

/// Runs `f` on a helper thread for a worker's job: its result, with the bytes its buffers
/// zeroised and locked on this thread, for the worker to add to its own ([`add_counts`]).
pub(crate) fn counted<R>(f: impl FnOnce() -> R) -> (R, (u64, u64)) {
    let before = (take_zeroised_bytes(), take_locked_bytes());
    let r = f();
    let counts = (take_zeroised_bytes(), take_locked_bytes());
    add_counts(before);
    (r, counts)
}

/// Adds what [`counted`] returned to this thread's counts.
pub(crate) fn add_counts((zeroised, locked): (u64, u64)) {
    count_zeroised(zeroised);
    let _ = LOCKED.try_with(|l| l.set(l.get() + locked));
}

thread_local! {
    /// Wiped buffers kept for the next request on this thread (engine workers only; see
    /// [`keep_wiped_buffers`]).
    static SPARE: RefCell<Option<Spare>> = const { RefCell::new(None) };
}

/// What an engine worker keeps: about what one 531x709 request has live at its peak.
pub const WORKER_KEPT_BYTES: usize = 24 << 20;

/// Buffers below this size are not worth keeping: the allocator reuses them cheaply anyway.
const SPARE_MIN_BYTES: usize = 256 * 1024;

struct Spare {
    bufs: Vec<SpareBuf>,
    bytes: usize,
    max_bytes: usize,
}

impl Drop for Spare {
    // At thread exit: the kept buffers (all zeros) are freed; unlock them first, as a heap block
    // stays locked after free.
    fn drop(&mut self) {
        for b in &self.bufs {
            unlock_range(b.locked);
        }
    }
}

struct SpareBuf {
    ty: TypeId,
    len: usize,
    bytes: usize,
    locked: (usize, usize),
    /// A zeroed `Vec<T>` of `len` elements, its whole capacity.
    v: Box<dyn Any>,
}

/// From now on, big buffers dropped on this thread are zeroed and kept (still locked, pages
/// still mapped) for the next buffer of the same type and up to that length, up to `max_bytes`
/// in total (the oldest go first).
/// A worker makes the same frame-sized buffers for every photo of a preset, and a fresh one costs
/// more than its content: page faults, the kernel clearing the pages, mlock and munlock, and
/// unmapping. What is kept holds only zeros, so nothing of one photo survives into the next.
pub fn keep_wiped_buffers(max_bytes: usize) {
    SPARE.with(|s| *s.borrow_mut() = Some(Spare { bufs: Vec::new(), bytes: 0, max_bytes }));
}

/// Bytes currently kept by [`keep_wiped_buffers`] on this thread (for tests).
pub fn kept_bytes() -> usize {
    SPARE.with(|s| s.borrow().as_ref().map_or(0, |s| s.bytes))
}

/// A heap buffer that wipes its whole capacity on drop. Its length is fixed once made, so the
/// pages it advised and locked stay the pages it owns.
pub struct SecureBuf<T: Zeroize + Copy + Default + 'static> {
    v: Vec<T>,
    /// The page-aligned range inside `v` that is mlocked (0 = none).
    locked: (usize, usize),
    /// Made by `zeroed` or `from_slice`, whose sizes recur from photo to photo; a decoder's
    /// output (`from_vec`) is sized by the photo and not worth keeping.
    reusable: bool,
    /// Zeroed by [`SecureBuf::wipe_now`] and not written since (any `&mut` access clears it).
    wiped: bool,
}

impl<T: Zeroize + Copy + Default + 'static> SecureBuf<T> {
    pub fn zeroed(len: usize) -> Self {
        Self::reused(len).unwrap_or_else(|| {
            let mut b = Self::from_vec(vec![T::default(); len]);
            b.reusable = true;
            b
        })
    }

    /// A kept buffer of this type, truncated to `len` (all zeros), if this thread has one.
    fn reused(len: usize) -> Option<Self> {
        if len * std::mem::size_of::<T>() < SPARE_MIN_BYTES {
            return None;
        }
        // try_with: during thread exit the pool may already be gone.
        SPARE.try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            let spare = s.as_mut()?;
            // Best fit among buffers at most twice as long: a frame buffer of the last photo also
            // serves the smaller ones of the next, instead of both being kept.
            let fits = |b: &SpareBuf| b.ty == TypeId::of::<T>() && b.len >= len && b.len <= 2 * len;
            let (i, _) = spare.bufs.iter().enumerate().filter(|(_, b)| fits(b)).min_by_key(|(_, b)| b.len)?;
            let b = spare.bufs.swap_remove(i);
            spare.bytes -= b.bytes;
            let mut v = *b.v.downcast::<Vec<T>>().ok()?;
            v.truncate(len);
            LOCKED.with(|l| l.set(l.get() + b.locked.1 as u64));
            Some(SecureBuf { v, locked: b.locked, reusable: true, wiped: false })
        })
        .ok()
        .flatten()
    }

    /// Zeroes this buffer and keeps it for reuse, if this thread keeps buffers and has room.
    /// Returns false when the caller must free it as usual.
    fn keep(&mut self) -> bool {
        let bytes = self.v.capacity() * std::mem::size_of::<T>();
        if bytes < SPARE_MIN_BYTES || !self.reusable {
            return false;
        }
        SPARE.try_with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else { return false };
            let Some(spare) = s.as_mut() else { return false };
            if bytes > spare.max_bytes {
                return false;
            }
            // Oldest out first until it fits; what leaves is zero already and freed as usual.
            while spare.bytes + bytes > spare.max_bytes && !spare.bufs.is_empty() {
                let old = spare.bufs.remove(0);
                spare.bytes -= old.bytes;
                unlock_range(old.locked);
            }
            if !self.wiped {
                self.wipe_now();
            }
            let v = std::mem::take(&mut self.v);
            spare.bufs.push(SpareBuf { ty: TypeId::of::<T>(), len: v.len(), bytes, locked: self.locked, v: Box::new(v) });
            spare.bytes += bytes;
            self.locked = (0, 0);
            true
        })
        .unwrap_or(false)
    }

    /// Zeroes the whole buffer now, so that dropping it later costs no second pass when it is
    /// kept for reuse: another thread can wipe a buffer its owner is about to drop.
    pub fn wipe_now(&mut self) {
        // Default is zero for the pixel types (u8, f32), and it is what `zeroed` promises; a
        // plain fill is a memset, where Zeroize's volatile stores go element by element. The
        // buffer is kept or dropped (wiped again on free) afterwards, so the stores stay.
        let cap = self.v.capacity();
        self.v.resize(cap, T::default()); // within capacity: no reallocation
        self.v.fill(T::default());
        self.wiped = true;
    }

    /// Takes ownership of a vector (no copy); it is wiped on drop like any other.
    pub fn from_vec(v: Vec<T>) -> Self {
        let mut b = SecureBuf { v, locked: (0, 0), reusable: false, wiped: false };
        b.protect();
        b
    }

    pub fn from_slice(s: &[T]) -> Self {
        match Self::reused(s.len()) {
            Some(mut b) => {
                b.v.copy_from_slice(s);
                b
            }
            None => {
                let mut b = Self::from_vec(s.to_vec());
                b.reusable = true;
                b
            }
        }
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
        unlock_range(self.locked);
        self.locked = (0, 0);
    }
}

/// munlock of a range mlock succeeded on; the caller still owns the memory.
fn unlock_range(locked: (usize, usize)) {
    #[cfg(unix)]
    if locked.1 > 0 {
        // SAFETY: munlock only changes the lock state of pages the caller owns.
        unsafe { libc::munlock(locked.0 as *const libc::c_void, locked.1) };
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

impl<T: Zeroize + Copy + Default + 'static> Deref for SecureBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.v
    }
}

impl<T: Zeroize + Copy + Default + 'static> DerefMut for SecureBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.wiped = false;
        &mut self.v
    }
}

impl<T: Zeroize + Copy + Default + 'static> Clone for SecureBuf<T> {
    fn clone(&self) -> Self {
        Self::from_slice(&self.v)
    }
}

impl<T: Zeroize + Copy + Default + 'static> Drop for SecureBuf<T> {
    fn drop(&mut self) {
        let bytes = self.v.capacity() * std::mem::size_of::<T>();
        // A kept buffer is zeroed by keep(). Otherwise, with WipeOnFree installed the allocator
        // zeroes the whole block as the vector is freed right after this; a second pass over
        // megabytes of frame would only cost time. Without it, Vec::zeroize wipes it (spare
        // capacity included).
        if !self.keep() {
            self.unlock();
            if !crate::privacy::wipe_alloc::installed() {
                self.v.zeroize();
            }
        }
        ZEROISED.with(|z| z.set(z.get() + bytes as u64));
    }
}

impl<T: Zeroize + Copy + Default + 'static> std::fmt::Debug for SecureBuf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecureBuf(len={})", self.v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_made_on_a_helper_are_counted_for_the_worker() {
        take_zeroised_bytes();
        take_locked_bytes();
        let counts = std::thread::spawn(|| {
            let (len, counts) = counted(|| SecureBuf::<u8>::zeroed(1 << 20).len());
            assert_eq!(len, 1 << 20);
            assert_eq!((take_zeroised_bytes(), take_locked_bytes()), (0, 0), "nothing left on the helper");
            counts
        })
        .join()
        .unwrap();
        assert!(counts.0 >= 1 << 20, "the buffer's wipe is counted");
        add_counts(counts);
        assert_eq!(take_zeroised_bytes(), counts.0);
        assert_eq!(take_locked_bytes(), counts.1);
    }

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
    fn kept_buffers_come_back_zeroed_and_bounded() {
        std::thread::spawn(|| {
            keep_wiped_buffers(3 << 20);
            let mut a = SecureBuf::<f32>::zeroed(1 << 18); // 1 MiB
            a.fill(7.5);
            let p = a.as_ptr();
            drop(a);
            assert_eq!(kept_bytes(), 1 << 20);
            // Same type, a little shorter: the kept buffer, all zeros, at the asked length.
            let b = SecureBuf::<f32>::zeroed((1 << 18) - 100);
            assert_eq!(b.as_ptr(), p);
            assert_eq!(b.len(), (1 << 18) - 100);
            assert!(b.iter().all(|&v| v == 0.0));
            assert_eq!(kept_bytes(), 0);
            // Another type or less than half the length does not take it.
            drop(b);
            assert_ne!(SecureBuf::<u8>::zeroed(1 << 20).as_ptr() as usize, p as usize);
            assert_ne!(SecureBuf::<f32>::zeroed(1 << 16).as_ptr(), p);
            // from_slice copies into a kept buffer too.
            let c = SecureBuf::<f32>::from_slice(&vec![2.0; 1 << 18]);
            assert_eq!(c.as_ptr(), p);
            assert!(c.iter().all(|&v| v == 2.0));
            drop(c);
            // The bound: four 1 MiB buffers dropped, three kept (the oldest went).
            let bufs: Vec<_> = (0..4).map(|_| SecureBuf::<f32>::zeroed(1 << 18)).collect();
            drop(bufs);
            assert_eq!(kept_bytes(), 3 << 20);
        })
        .join()
        .unwrap();
        // Other threads keep nothing unless asked.
        drop(SecureBuf::<f32>::zeroed(1 << 18));
        assert_eq!(kept_bytes(), 0);
    }

    #[test]
    fn a_buffer_wiped_elsewhere_is_kept_zero_and_a_write_after_the_wipe_is_wiped_again() {
        std::thread::spawn(|| {
            keep_wiped_buffers(4 << 20);
            let mut a = SecureBuf::<f32>::zeroed(1 << 18);
            a.fill(7.5);
            // Wiped on another thread, then dropped (and kept) here.
            std::thread::scope(|s| {
                s.spawn(|| a.wipe_now());
            });
            let p = a.as_ptr();
            drop(a);
            let b = SecureBuf::<f32>::zeroed(1 << 18);
            assert_eq!(b.as_ptr(), p);
            assert!(b.iter().all(|&v| v == 0.0));
            // Written after its wipe: kept only after another one.
            let mut b = b;
            b.wipe_now();
            b[123] = 1.0;
            drop(b);
            let c = SecureBuf::<f32>::zeroed(1 << 18);
            assert_eq!(c.as_ptr(), p);
            assert!(c.iter().all(|&v| v == 0.0));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn counts_wiped_bytes() {
        take_zeroised_bytes();
        drop(SecureBuf::<f32>::zeroed(10));
        assert_eq!(take_zeroised_bytes(), 40);
    }
}
