//! A global allocator wrapper that zeroes every block it frees, so that the working memory of
//! third-party code (image decoders' row buffers and coefficient rows, the resizer's scratch) is
//! wiped too, not only lichtbild's own [`SecureBuf`](super::secure_buffer::SecureBuf)s.
//!
//! It wipes on every thread, not only on engine workers: jpeg-decoder hands coefficient rows of
//! the photo to helper threads it spawns per decode, and host threads free the result vectors a
//! binding copied out. The cost outside the pipeline is negligible: in a Python, Node or C host
//! only lichtbild's own Rust code allocates through it.
//!
//! A library cannot choose the process's allocator, so every artifact lichtbild ships installs it
//! (the CLI, the C library, the Python and Node modules); a Rust program embedding the crate adds
//! `#[global_allocator] static A: lichtbild::WipeOnFree = lichtbild::WipeOnFree::system();`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Zeroes blocks as they are freed (or moved by realloc), then hands them to `A`.
pub struct WipeOnFree<A: GlobalAlloc = System>(pub A);

impl WipeOnFree<System> {
    pub const fn system() -> Self {
        WipeOnFree(System)
    }
}

/// Whether this process runs with [`WipeOnFree`] as its global allocator (known once it has
/// allocated anything, which any Rust program has by the time an engine exists).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Zeroes `len` bytes at `p` in a way the optimiser cannot drop as a dead store before free.
#[inline]
pub(crate) unsafe fn wipe(p: *mut u8, len: usize) {
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
        wipe(p, layout.size());
        self.0.dealloc(p, layout)
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
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
