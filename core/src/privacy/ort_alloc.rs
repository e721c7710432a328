//! ONNX Runtime's CPU memory through lichtbild: every block ORT frees (input copies, every
//! intermediate tensor of a run, outputs) is zeroed before the job that used it returns, and kept
//! for the next run instead of going back to the system.
//!
//! Without it, ORT allocates each intermediate tensor with malloc (its arena is off because it
//! could not be wiped) and frees it unwiped; the big ones are fresh mmaps, so every inference
//! also paid a page fault per 4 KiB: about 2,800 per photo, the largest kernel cost of a run.
//!
//! On an engine worker (after [`defer_wiping`]) a freed block first goes to that worker's own
//! list and may serve its next tensors of the same job as it is; [`end_job`] zeroes them all
//! once the job is done. ORT frees about 34 MB of tensors a photo but only a few MB of distinct
//! blocks, so wiping each block once a job instead of at every free saves most of the zeroing.
//! Blocks freed on any other thread are zeroed at once. Only zeroed blocks are shared between
//! threads, so no job ever gets another job's bytes.
//!
//! ORT takes it through `RegisterAllocator` on the one environment, and each session opts in with
//! `session.use_env_allocators`. It is process-wide, as the environment is.

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Room before each block for its header (and the alignment ORT's kernels like).
const HEADER: usize = 64;
/// Zeroed free blocks kept for reuse, in bytes at most (a segmenter run peaks at a few MB).
const KEPT_MAX: usize = 48 << 20;

/// Bytes zeroed by this allocator since the process started.
static WIPED: AtomicU64 = AtomicU64::new(0);
/// Blocks handed to ORT since the process started (tests check ORT really uses this allocator).
static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// A free block: capacity, start (the header's address), and how many bytes from the start of
/// its data may be non-zero.
#[derive(Clone, Copy)]
struct Free {
    cap: usize,
    base: usize,
    dirty: usize,
}

/// Zeroed free blocks, for every thread. Best fit within 2x, like the frame buffers.
struct Pool {
    blocks: Vec<Free>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { blocks: Vec::new(), bytes: 0 });

thread_local! {
    static DEFER: Cell<bool> = const { Cell::new(false) };
    /// A worker's blocks freed during the current job, not zeroed yet (zeroed at thread exit
    /// at the latest, as a `Freed`).
    static DIRTY: RefCell<Freed> = const { RefCell::new(Freed(Vec::new())) };
}

/// The receipt's `ort_memory`.
pub const RECEIPT: &str = "tensors wiped before each job returns (lichtbild's allocator); kernels' own scratch memory is not";

pub fn wiped_bytes() -> u64 {
    WIPED.load(Ordering::Relaxed)
}

pub fn allocations() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// From now on, blocks freed on this thread wait for [`end_job`] to be zeroed. For engine
/// workers, which call `end_job` after every job.
pub fn defer_wiping() {
    DEFER.with(|d| d.set(true));
}

/// Zeroes every block freed on this thread since the last call and hands them to the shared
/// pool. Returns the bytes zeroed (also counted for the receipt).
pub fn end_job() -> u64 {
    let bytes = take_freed().wipe();
    super::secure_buffer::count_zeroised(bytes);
    bytes
}

/// Blocks a worker freed during its job and has not zeroed yet: its own list, or taken off it so
/// that another thread can zero them (the pipeline's helper, while the worker encodes) once the
/// job's last inference is over. Zeroed when dropped, whatever happens.
pub struct Freed(Vec<Free>);

/// This thread's blocks freed since the last [`end_job`] (or `take_freed`).
pub fn take_freed() -> Freed {
    Freed(DIRTY.try_with(|d| std::mem::take(&mut d.borrow_mut().0)).unwrap_or_default())
}

impl Freed {
    /// The bytes these blocks may hold, i.e. what zeroing them costs.
    fn dirty_bytes(&self) -> usize {
        self.0.iter().map(|b| b.dirty).sum()
    }

    /// Splits off about half of the bytes to zero, so two threads can share the work.
    pub fn split_half(&mut self) -> Freed {
        let total = self.dirty_bytes();
        let (mut i, mut acc) = (0, 0);
        while i < self.0.len() && 2 * acc < total {
            acc += self.0[i].dirty;
            i += 1;
        }
        Freed(self.0.split_off(i))
    }

    /// Zeroes the blocks into the shared pool; returns the bytes zeroed, for the caller to count
    /// for its receipt (this may run on any thread).
    pub fn wipe(mut self) -> u64 {
        self.release_all()
    }

    fn release_all(&mut self) -> u64 {
        // SAFETY: a block is on one list only (a worker's, or taken off it into this value), and
        // nobody else holds it.
        self.0.drain(..).map(|b| unsafe { release(b) }).sum()
    }
}

impl Drop for Freed {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// Runs `f`, one part of a worker's job, on a helper thread, the way the worker runs a job: ORT's
/// tensors freed during it are not zeroed there but come back, with `f`'s result and the bytes
/// zeroed on this thread otherwise, for the worker to take on ([`adopt`]): they are zeroed with
/// the rest of its job's, off the critical path. The thread's own wiping mode is restored.
pub fn as_part_of_job<R>(f: impl FnOnce() -> R) -> (R, Freed, u64) {
    let was = DEFER.with(|d| d.replace(true));
    let r = f();
    let freed = take_freed();
    DEFER.with(|d| d.set(was));
    (r, freed, super::secure_buffer::take_zeroised_bytes())
}

/// Puts blocks another thread freed for this worker's job (see [`as_part_of_job`]) on this
/// thread's list, to be zeroed by its [`end_job`] (or `take_freed`); zeroes them at once on a
/// thread that does not defer.
pub fn adopt(mut freed: Freed) {
    if DEFER.try_with(Cell::get).unwrap_or(false) && DIRTY.try_with(|d| d.borrow_mut().0.append(&mut freed.0)).is_ok() {
        return;
    }
    super::secure_buffer::count_zeroised(freed.wipe());
}

fn layout(cap: usize) -> Option<Layout> {
    Layout::from_size_align(cap.checked_add(HEADER)?, HEADER).ok()
}

/// Best fit for `size` (at most twice as big) in `blocks`, taken out.
fn take_fit(blocks: &mut Vec<Free>, size: usize) -> Option<Free> {
    let (i, _) = blocks.iter().enumerate().filter(|(_, b)| b.cap >= size && b.cap <= 2 * size).min_by_key(|(_, b)| b.cap)?;
    Some(blocks.swap_remove(i))
}

/// A block of at least `size` usable bytes, or null.
fn alloc(size: usize) -> *mut c_void {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    let size = size.max(1);
    // This thread's own not-yet-wiped blocks first (same worker, same job), then zeroed ones.
    let own = DIRTY.try_with(|d| take_fit(&mut d.borrow_mut().0, size)).ok().flatten();
    let reused = own.or_else(|| {
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        let b = take_fit(&mut pool.blocks, size)?;
        pool.bytes -= b.cap;
        Some(b)
    });
    let b = match reused {
        Some(b) => b,
        None => {
            let Some(l) = layout(size) else { return std::ptr::null_mut() };
            // SAFETY: the layout has a non-zero size.
            let p = unsafe { std::alloc::alloc(l) };
            if p.is_null() {
                return std::ptr::null_mut();
            }
            Free { cap: size, base: p as usize, dirty: 0 }
        }
    };
    // SAFETY: the block is HEADER + cap bytes, HEADER-aligned; the header holds its capacity and
    // how far it may be non-zero (what an earlier tensor of this job left, or what this one gets).
    unsafe {
        let h = b.base as *mut usize;
        h.write(b.cap);
        h.add(1).write(b.dirty.max(size));
        (b.base as *mut u8).add(HEADER).cast()
    }
}

/// Frees a block ORT is done with: onto this worker's list, or zeroed into the shared pool.
///
/// # Safety
/// `p` is null or came from [`alloc`] and was not freed since.
unsafe fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let base = (p as *mut u8).sub(HEADER);
    let b = Free { cap: (base as *const usize).read(), base: base as usize, dirty: (base as *const usize).add(1).read() };
    if DEFER.try_with(Cell::get).unwrap_or(false) && DIRTY.try_with(|d| d.borrow_mut().0.push(b)).is_ok() {
        return;
    }
    // Counted for the receipt on the thread that frees (not deferred: not a worker's job).
    super::secure_buffer::count_zeroised(release(b));
}

/// Zeroes a free block's dirty bytes and keeps it in the shared pool, or frees it when the pool
/// is full. Returns the bytes zeroed, which the caller counts for a receipt.
///
/// # Safety
/// The block is this module's and nobody else holds it.
unsafe fn release(b: Free) -> u64 {
    let data = (b.base as *mut u8).add(HEADER);
    super::wipe_alloc::wipe(data, b.dirty);
    WIPED.fetch_add(b.dirty as u64, Ordering::Relaxed);
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if pool.bytes + b.cap <= KEPT_MAX {
        pool.blocks.push(Free { dirty: 0, ..b });
        pool.bytes += b.cap;
        return b.dirty as u64;
    }
    drop(pool);
    if let Some(l) = layout(b.cap) {
        std::alloc::dealloc(b.base as *mut u8, l);
    }
    b.dirty as u64
}

/// The C struct ORT calls, with the memory description it matches sessions' CPU memory by.
#[repr(C)]
struct WipingAllocator {
    base: ort::sys::OrtAllocator,
    info: *const ort::sys::OrtMemoryInfo,
}

// SAFETY: the struct is written once before ORT sees it and never changed; `info` points at an
// OrtMemoryInfo leaked for the life of the process, which ORT only reads.
unsafe impl Send for WipingAllocator {}
unsafe impl Sync for WipingAllocator {}

unsafe extern "system" fn c_alloc(_: *mut ort::sys::OrtAllocator, size: usize) -> *mut c_void {
    // A panic must not unwind into C++; allocation failure is a null ORT reports.
    std::panic::catch_unwind(|| alloc(size)).unwrap_or(std::ptr::null_mut())
}

unsafe extern "system" fn c_free(_: *mut ort::sys::OrtAllocator, p: *mut c_void) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| free(p)));
}

unsafe extern "system" fn c_info(this: *const ort::sys::OrtAllocator) -> *const ort::sys::OrtMemoryInfo {
    (*(this as *const WipingAllocator)).info
}

unsafe extern "system" fn c_reserve(this: *const ort::sys::OrtAllocator, size: usize) -> *mut c_void {
    c_alloc(this as *mut _, size)
}

/// Registers the allocator with the environment (once per process, right after it is made).
pub fn register(env: &ort::environment::Environment) -> Result<(), String> {
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    use ort::AsPointer;
    let info = MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default).map_err(|e| e.to_string())?;
    let info_ptr = info.ptr();
    std::mem::forget(info); // ORT keeps pointing at it for the life of the environment
    let mut base: ort::sys::OrtAllocator = unsafe { std::mem::zeroed() };
    // 18: the version that added Reserve, the last member set here; ORT reads no member a
    // struct of an older version does not have (ONNX Runtime 1.30 and 1.32 both take it).
    base.version = 18;
    base.Alloc = Some(c_alloc);
    base.Free = Some(c_free);
    base.Info = Some(c_info);
    base.Reserve = Some(c_reserve);
    let a: &'static mut WipingAllocator = Box::leak(Box::new(WipingAllocator { base, info: info_ptr }));
    // SAFETY: the environment and the leaked allocator both live for the rest of the process.
    let status = unsafe { (ort::api().RegisterAllocator)(env.ptr().cast_mut(), &mut a.base) };
    if status.0.is_null() {
        Ok(())
    } else {
        // SAFETY: a non-null status is an OrtStatus ORT made; read its message, then release it.
        unsafe {
            let msg = std::ffi::CStr::from_ptr((ort::api().GetErrorMessage)(status.0)).to_string_lossy().into_owned();
            (ort::api().ReleaseStatus)(status.0);
            Err(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether every block kept for reuse holds only zeros.
    fn kept_blocks_are_zero() -> (usize, bool) {
        let pool = POOL.lock().unwrap();
        let zero = pool.blocks.iter().all(|b| {
            // SAFETY: a kept block is HEADER + cap bytes this module allocated and still owns.
            let data = unsafe { std::slice::from_raw_parts((b.base as *const u8).add(HEADER), b.cap) };
            data.iter().all(|&v| v == 0)
        });
        (pool.blocks.len(), zero)
    }

    #[test]
    fn onnx_runtime_takes_its_tensors_from_here_and_they_are_wiped() {
        // A segmenter run on a patterned input: ORT's input copy, intermediates and output all
        // come from this allocator, and what it freed is kept as zeros.
        let mut s = crate::runtime::test_session("matte", crate::models::SEGMENTER.bytes);
        let (allocs, wiped) = (allocations(), wiped_bytes());
        let n = crate::matte::MODEL_SIZE;
        let input: Vec<f32> = (0..n * n * 3).map(|i| ((i * 37) % 251) as f32 / 250.0).collect();
        {
            let t = ort::value::TensorRef::from_array_view(([1usize, n, n, 3], &input[..])).unwrap();
            let out = s.run(ort::inputs!["input_1" => t]).unwrap();
            let (_, mask) = out["activation_10"].try_extract_tensor::<f32>().unwrap();
            assert_eq!(mask.len(), n * n);
        }
        assert!(allocations() > allocs + 10, "ORT made {} allocations here", allocations() - allocs);
        assert!(wiped_bytes() > wiped + (1 << 20), "{} bytes wiped", wiped_bytes() - wiped);
        let (kept, zero) = kept_blocks_are_zero();
        assert!(kept > 0 && zero, "{kept} kept blocks, all zero: {zero}");
    }

    #[test]
    fn on_a_worker_freed_tensors_wait_for_the_end_of_the_job_then_are_zeroed() {
        // A thread of its own, marked like an engine worker.
        std::thread::spawn(|| {
            defer_wiping();
            let mut s = crate::runtime::test_session("matte", crate::models::SEGMENTER.bytes);
            end_job();
            let n = crate::matte::MODEL_SIZE;
            let input: Vec<f32> = (0..n * n * 3).map(|i| ((i * 37) % 251) as f32 / 250.0).collect();
            for _ in 0..2 {
                let t = ort::value::TensorRef::from_array_view(([1usize, n, n, 3], &input[..])).unwrap();
                let out = s.run(ort::inputs!["input_1" => t]).unwrap();
                drop(out);
            }
            // Both runs' tensors came from this thread's list or the pool; none is zeroed yet,
            // and the second run reused the first one's blocks.
            let (kept, dirty) = DIRTY.with(|d| (d.borrow().0.len(), d.borrow().dirty_bytes()));
            assert!(kept > 5 && dirty > 1 << 20, "{kept} blocks, {dirty} bytes waiting");
            let wiped = end_job();
            assert_eq!(wiped as usize, dirty);
            assert!(DIRTY.with(|d| d.borrow().0.is_empty()));
            let (_, zero) = kept_blocks_are_zero();
            assert!(zero);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_part_of_a_job_on_a_helper_thread_hands_its_blocks_to_the_worker_which_zeroes_them() {
        std::thread::spawn(|| {
            defer_wiping();
            let (still_dirty, freed, counted) = std::thread::spawn(|| {
                let r = as_part_of_job(|| {
                    let p = alloc(1000);
                    // SAFETY: p is a live block of at least 1000 bytes, freed once.
                    unsafe {
                        std::ptr::write_bytes(p.cast::<u8>(), 0xAB, 1000);
                        free(p);
                    }
                    // Not zeroed yet: it waits on this thread's list.
                    DIRTY.with(|d| d.borrow().dirty_bytes())
                });
                assert!(DIRTY.with(|d| d.borrow().0.is_empty()), "handed over, not left on the helper");
                assert!(!DEFER.with(Cell::get), "the helper thread's own mode is back");
                r
            })
            .join()
            .unwrap();
            assert_eq!(still_dirty, 1000);
            assert_eq!(counted, 0, "nothing else was zeroed on the helper");
            // The worker takes the block on; its end of job zeroes and counts it.
            adopt(freed);
            assert_eq!(DIRTY.with(|d| d.borrow().dirty_bytes()), 1000);
            assert_eq!(end_job(), 1000);
            assert_eq!(crate::privacy::secure_buffer::take_zeroised_bytes(), 1000, "counted for the worker's receipt");
            let (_, zero) = kept_blocks_are_zero();
            assert!(zero);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn split_half_shares_the_bytes_and_both_halves_are_zeroed() {
        std::thread::spawn(|| {
            defer_wiping();
            let blocks: Vec<_> = [4000, 1000, 1000, 1000, 1000].into_iter().map(|size| (alloc(size), size)).collect();
            for (p, size) in blocks {
                // SAFETY: p is a live block of at least `size` bytes, freed once.
                unsafe {
                    std::ptr::write_bytes(p.cast::<u8>(), 0x5A, size);
                    free(p);
                }
            }
            let mut a = take_freed();
            let b = a.split_half();
            assert_eq!((a.0.len(), b.0.len()), (1, 4), "the 4000-byte block is half of 8000");
            assert_eq!(a.wipe() + b.wipe(), 8000);
            let (_, zero) = kept_blocks_are_zero();
            assert!(zero);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_worker_s_freed_blocks_taken_off_are_zeroed_on_another_thread() {
        std::thread::spawn(|| {
            defer_wiping();
            let p = alloc(3000);
            // SAFETY: p is a live block of at least 3000 bytes, freed once.
            unsafe {
                std::ptr::write_bytes(p.cast::<u8>(), 0xCD, 3000);
                free(p);
            }
            let freed = take_freed();
            assert!(DIRTY.with(|d| d.borrow().0.is_empty()), "taken off this thread's list");
            let (wiped, counted_there) = std::thread::spawn(move || (freed.wipe(), crate::privacy::secure_buffer::take_zeroised_bytes())).join().unwrap();
            assert_eq!(wiped, 3000, "the bytes come back for the worker to count");
            assert_eq!(counted_there, 0, "not counted on the thread that zeroed them");
            assert_eq!(end_job(), 0);
            let (_, zero) = kept_blocks_are_zero();
            assert!(zero);
            // Dropped unused (an error on the way), they are zeroed all the same.
            let q = alloc(2000);
            // SAFETY: as above.
            unsafe {
                std::ptr::write_bytes(q.cast::<u8>(), 0xEF, 2000);
                free(q);
            }
            let w0 = wiped_bytes();
            drop(take_freed());
            assert!(wiped_bytes() >= w0 + 2000);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn blocks_are_reused_and_the_pool_is_bounded() {
        let a = alloc(1000);
        assert!(!a.is_null() && (a as usize).is_multiple_of(HEADER));
        // SAFETY: a is a live block of at least 1000 bytes.
        unsafe {
            std::ptr::write_bytes(a.cast::<u8>(), 0xAB, 1000);
            free(a);
        }
        // Best fit within 2x: a request of 600 bytes may take it, already zeroed.
        let b = alloc(600);
        // SAFETY: b is a live block of at least 600 bytes.
        unsafe {
            assert!(std::slice::from_raw_parts(b.cast::<u8>(), 600).iter().all(|&v| v == 0));
            free(b);
        }
        // A block larger than the pool may keep is freed, not kept.
        let big = alloc(KEPT_MAX + 1);
        // SAFETY: big came from alloc.
        unsafe { free(big) };
        assert!(POOL.lock().unwrap().bytes <= KEPT_MAX);
        // SAFETY: null is accepted.
        unsafe { free(std::ptr::null_mut()) };
    }
}
