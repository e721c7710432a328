//! A global allocator wrapper that zeroes every block freed on an engine worker thread, so that
//! the working memory of third-party code (image decoders' row buffers, the resizer's scratch)
//! is wiped too, not only lichtbild's own [`SecureBuf`](super::secure_buffer::SecureBuf)s.
//!
//! A library cannot choose the process's allocator, so every artifact lichtbild ships installs it
//! (the CLI, the C library, the Python and Node modules); a Rust program embedding the crate adds
//! `#[global_allocator] static A: lichtbild::WipeOnFree = lichtbild::WipeOnFree::system();`.
//! Frees on other threads (the host's) pass straight through at no cost.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static WIPE_HERE: Cell<bool> = const { Cell::new(false) };
}
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Zeroes blocks freed (or moved by realloc) on worker threads, then hands them to `A`.
pub struct WipeOnFree<A: GlobalAlloc = System>(pub A);

impl WipeOnFree<System> {
    pub const fn system() -> Self {
        WipeOnFree(System)
    }
}

/// Marks the calling thread as one whose frees are wiped (engine workers call it first thing).
pub(crate) fn wipe_frees_on_this_thread() {
    WIPE_HERE.with(|w| w.set(true));
}

/// Runs `f` with this thread's frees wiped (for work on the photo outside a worker, such as
/// opening a sealed result on the caller's thread), then restores the thread's setting.
pub fn wiping<T>(f: impl FnOnce() -> T) -> T {
    let before = WIPE_HERE.with(|w| w.replace(true));
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = WIPE_HERE.try_with(|w| w.set(self.0));
        }
    }
    let _restore = Restore(before);
    f()
}

/// Whether blocks freed on this thread are zeroed by the allocator (installed and a worker).
pub fn wipes_here() -> bool {
    INSTALLED.load(Ordering::Relaxed) && this_thread_wipes()
}

/// Whether this process runs with [`WipeOnFree`] as its global allocator.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

fn this_thread_wipes() -> bool {
    // try_with: during thread teardown the slot may be gone; then nothing is wiped (no photo data
    // is freed that late: the worker's buffers die with its loop).
    WIPE_HERE.try_with(Cell::get).unwrap_or(false)
}

/// Zeroes `len` bytes at `p` in a way the optimiser cannot drop as a dead store before free.
#[inline]
unsafe fn wipe(p: *mut u8, len: usize) {
    std::ptr::write_bytes(p, 0, len);
    std::hint::black_box(p);
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for WipeOnFree<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        self.0.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        self.0.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if this_thread_wipes() {
            wipe(p, layout.size());
        }
        self.0.dealloc(p, layout)
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !this_thread_wipes() {
            return self.0.realloc(p, layout, new_size);
        }
        // The inner realloc may move the block and free the old one unwiped: move it ourselves.
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let q = self.0.alloc(new_layout);
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
            wipe(p, layout.size());
            self.0.dealloc(p, layout);
        }
        q
    }
}
