//! Row bands on the engine worker's own helper threads, for the full-resolution loops of compose,
//! matte and background.
//!
//! Why helpers spawned by the worker and not a pool (rayon): a thread inherits the seccomp
//! filter and the Landlock domain of the thread that spawns it, so helpers spawned from an
//! engine worker are as confined as the worker. A process-wide pool may have been started
//! earlier by the host application, outside the sandbox.
//!
//! Why kept rather than spawned per loop (as they were): a spawn, and waking a vCPU that went
//! idle, cost 50-500 us here, against bands of 0.1-2 ms, some 18 times a photo. A helper waits for
//! its next band polling for [`SPIN`] (so the bands of one stage find it awake), then sleeps.
//!
//! Band threads must not create `SecureBuf`s: the receipt's wiped-byte count is per thread.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Fewer elements than this per band are not worth a thread.
const MIN_BAND: usize = 32 * 1024;

thread_local! {
    static THREADS: Cell<usize> = const { Cell::new(1) };
}

/// How many threads (the caller included) one loop of the calling thread may use. Engine
/// workers set it to the core count; anywhere else it is 1 unless set.
pub fn set_threads(n: usize) {
    THREADS.with(|t| t.set(n.clamp(1, 8)));
}

pub fn threads() -> usize {
    THREADS.with(Cell::get)
}

/// The band size in rows for `rows` rows of `row_len` elements, or None when one band will do.
fn band_rows(rows: usize, row_len: usize) -> Option<usize> {
    let n = threads().min(rows * row_len / MIN_BAND).min(rows);
    (n > 1).then(|| rows.div_ceil(n))
}

/// Runs `f(first_row, band)` over bands of whole rows of `data` (`row_len` elements a row), the
/// first band on the calling thread, and returns the bands' results in row order. A panic in a
/// band is resumed on the caller (where the engine's `catch_unwind` turns it into an error).
pub fn bands<T: Send, R: Send>(data: &mut [T], row_len: usize, f: impl Fn(usize, &mut [T]) -> R + Sync) -> Vec<R> {
    let rows = data.len().checked_div(row_len).unwrap_or(0);
    match band_rows(rows, row_len) {
        Some(per) => run(data.chunks_mut(per * row_len), per, f),
        None => vec![f(0, data)],
    }
}

/// [`bands`] over two row-aligned buffers at once (`a_len` and `b_len` elements a row).
pub fn bands2<A: Send, B: Send, R: Send>(
    a: &mut [A],
    a_len: usize,
    b: &mut [B],
    b_len: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) -> R + Sync,
) -> Vec<R> {
    let rows = a.len().checked_div(a_len).unwrap_or(0).min(b.len().checked_div(b_len).unwrap_or(0));
    match band_rows(rows, a_len + b_len) {
        Some(per) => run(a.chunks_mut(per * a_len).zip(b.chunks_mut(per * b_len)), per, |y0, (ca, cb)| f(y0, ca, cb)),
        None => vec![f(0, a, b)],
    }
}

/// `data` cut into `n` bands of whole rows however many threads there are (so results that
/// depend on where the bands start do not depend on the core count), each with its own
/// `scratch_len` elements of `scratch` (n * scratch_len; band threads may not create
/// `SecureBuf`s). The bands run side by side when this thread may use more than one.
pub fn fixed_bands<T: Send, S: Send, R: Send>(
    data: &mut [T],
    row_len: usize,
    n: usize,
    scratch: &mut [S],
    scratch_len: usize,
    f: impl Fn(usize, &mut [T], &mut [S]) -> R + Sync,
) -> Vec<R> {
    let rows = data.len().checked_div(row_len).unwrap_or(0);
    let per = rows.div_ceil(n.max(1)).max(1);
    let chunks = data.chunks_mut(per * row_len.max(1)).zip(scratch.chunks_mut(scratch_len.max(1)));
    if threads() > 1 {
        run(chunks, per, |y0, (d, s)| f(y0, d, s))
    } else {
        chunks.enumerate().map(|(i, (d, s))| f(i * per, d, s)).collect()
    }
}

/// The first band on the calling thread, the others on the thread's helpers; results in band
/// order.
fn run<C: Send, R: Send>(mut chunks: impl Iterator<Item = C>, per: usize, f: impl Fn(usize, C) -> R + Sync) -> Vec<R> {
    let f = &f;
    let Some(first) = chunks.next() else { return Vec::new() };
    let rest: Vec<C> = chunks.collect();
    let mut results: Vec<Option<std::thread::Result<R>>> = rest.iter().map(|_| None).collect();
    let mut tasks: Vec<_> = rest
        .into_iter()
        .zip(results.iter_mut())
        .enumerate()
        .map(|(i, (c, slot))| {
            let mut c = Some(c);
            move || {
                if let Some(c) = c.take() {
                    *slot = Some(catch_unwind(AssertUnwindSafe(|| f((i + 1) * per, c))));
                }
            }
        })
        .collect();
    let running: Vec<helper::Running> = tasks.iter_mut().map(|t| helper::start(t)).collect();
    // (Were `f` to panic here, unwinding drops `running` first, which waits for the helpers.)
    let r0 = f(0, first);
    drop(running);
    drop(tasks);
    let mut out = Vec::with_capacity(results.len() + 1);
    out.push(r0);
    out.extend(results.into_iter().map(|r| match r {
        Some(Ok(v)) => v,
        Some(Err(p)) => resume_unwind(p),
        None => unreachable!("every band ran before its helper reported"),
    }));
    out
}

/// `a()` on the calling thread and `b()` on a helper, side by side, when this thread may use more
/// than one; one after the other otherwise. A panic in `b` is resumed on the caller.
pub fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    if threads() < 2 {
        return (a(), b());
    }
    let mut rb = None;
    let mut b = Some(b);
    let mut task = || {
        if let Some(b) = b.take() {
            rb = Some(catch_unwind(AssertUnwindSafe(b)));
        }
    };
    let running = helper::start(&mut task);
    let ra = a();
    drop(running);
    match rb {
        Some(Ok(v)) => (ra, v),
        Some(Err(p)) => resume_unwind(p),
        None => unreachable!("the helper ran its task before reporting"),
    }
}

/// A small job for [`join_chores`]; returns bytes for a count (e.g. of bytes zeroed).
pub type Chore<'a> = Box<dyn FnOnce() -> u64 + Send + 'a>;

/// `main()` on the calling thread while a helper works through `chores` from the first; once
/// `main` is done, the calling thread takes the chores not started yet, from the last. So the
/// chores fill the helper's time and never hold up the caller more than they must, however long
/// `main` takes. Returns `main`'s result and the sum of the chores' counts.
pub fn join_chores<A: Send>(main: impl FnOnce() -> A + Send, chores: Vec<Chore<'_>>) -> (A, u64) {
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(chores));
    let work = |front: bool| {
        let mut sum = 0;
        loop {
            let next = {
                let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                if front { q.pop_front() } else { q.pop_back() }
            };
            match next {
                Some(chore) => sum += chore(),
                None => return sum,
            }
        }
    };
    let ((a, mine), theirs) = join(|| (main(), work(false)), || work(true));
    (a, mine + theirs)
}

/// Runs `f` with [`threads`] set to `n`, then restores it (for tests and benches).
pub fn with_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    let old = threads();
    set_threads(n);
    let r = f();
    set_threads(old);
    r
}

/// How long a helper polls for its next band before it sleeps: the gaps between the bands of one
/// stage are shorter, those between stages with an inference in between mostly longer.
const SPIN: std::time::Duration = std::time::Duration::from_micros(300);

/// The calling thread's helpers: spawned by it on first use (so inside its sandbox) and kept
/// until it exits. A task is a closure on the caller's stack; [`helper::start`] hands back a
/// guard that waits for it, so the closure outlives its run however the caller's side ends.
mod helper {
    use super::SPIN;
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::{self, JoinHandle, Thread};
    use std::time::Instant;

    const IDLE: u8 = 0;
    const POSTED: u8 = 1;
    const DONE: u8 = 2;
    const EXIT: u8 = 3;

    /// A task's address with its lifetime erased: valid until the caller sees DONE.
    struct TaskPtr(*mut (dyn FnMut() + Send + 'static));
    // SAFETY: the closure behind it is Send; the caller keeps it alive and untouched while the
    // helper runs it (the `Running` guard waits for DONE before the borrow ends).
    unsafe impl Send for TaskPtr {}

    struct Shared {
        state: AtomicU8,
        task: Mutex<Option<TaskPtr>>,
        owner: Thread,
    }

    struct Helper {
        shared: Arc<Shared>,
        /// Set while a task of this helper runs (a nested loop on the caller then runs inline).
        busy: std::cell::Cell<bool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Drop for Helper {
        fn drop(&mut self) {
            self.shared.state.store(EXIT, Ordering::Release);
            if let Some(t) = self.thread.take() {
                t.thread().unpark();
                let _ = t.join();
            }
        }
    }

    thread_local! {
        static HELPERS: RefCell<Vec<std::rc::Rc<Helper>>> = const { RefCell::new(Vec::new()) };
    }

    /// Polls `done` for [`SPIN`] (yielding, so a thread that needs this core gets it), then parks
    /// until woken; returns once `done` holds.
    fn wait(done: impl Fn() -> bool) {
        let t0 = Instant::now();
        let mut n = 0u32;
        while !done() {
            if t0.elapsed() < SPIN {
                n = n.wrapping_add(1);
                if n.is_multiple_of(64) {
                    thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            } else {
                thread::park();
            }
        }
    }

    fn main(s: Arc<Shared>) {
        loop {
            wait(|| matches!(s.state.load(Ordering::Acquire), POSTED | EXIT));
            if s.state.load(Ordering::Acquire) == EXIT {
                return;
            }
            let task = s.task.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(TaskPtr(p)) = task {
                // SAFETY: see TaskPtr; the task catches its own panics.
                unsafe { (*p)() };
            }
            s.state.store(DONE, Ordering::Release);
            s.owner.unpark();
        }
    }

    /// A task running on a helper (None: no helper could be had, it ran inline); dropping it
    /// waits for the task to finish. It holds the task's borrow, so the task outlives it.
    pub(super) struct Running<'a> {
        helper: Option<std::rc::Rc<Helper>>,
        _task: std::marker::PhantomData<&'a mut ()>,
    }

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            if let Some(h) = &self.helper {
                wait(|| h.shared.state.load(Ordering::Acquire) == DONE);
                h.shared.state.store(IDLE, Ordering::Release);
                h.busy.set(false);
            }
        }
    }

    /// Starts `task` on an idle helper of this thread (spawning one if need be), or runs it right
    /// here when there is none to be had.
    pub(super) fn start<'a>(task: &'a mut (dyn FnMut() + Send + 'a)) -> Running<'a> {
        let helper = HELPERS.with(|hs| {
            let mut hs = hs.borrow_mut();
            if let Some(h) = hs.iter().find(|h| !h.busy.get()) {
                return Some(h.clone());
            }
            let shared = Arc::new(Shared { state: AtomicU8::new(IDLE), task: Mutex::new(None), owner: thread::current() });
            let s2 = shared.clone();
            let thread = thread::Builder::new().name("lichtbild-band".into()).spawn(move || main(s2)).ok()?;
            let h = std::rc::Rc::new(Helper { shared, busy: std::cell::Cell::new(false), thread: Some(thread) });
            hs.push(h.clone());
            Some(h)
        });
        let Some(h) = helper else {
            task();
            return Running { helper: None, _task: std::marker::PhantomData };
        };
        h.busy.set(true);
        let p: *mut (dyn FnMut() + Send + 'a) = task;
        // SAFETY: only the lifetime changes; the returned guard keeps the borrow for `'a` and
        // waits for the run to end when dropped (it is private to `run` and `join`, which never
        // forget it).
        let p: *mut (dyn FnMut() + Send + 'static) = unsafe { std::mem::transmute(p) };
        *h.shared.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(TaskPtr(p));
        h.shared.state.store(POSTED, Ordering::Release);
        if let Some(t) = &h.thread {
            t.thread().unpark();
        }
        Running { helper: Some(h), _task: std::marker::PhantomData }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_every_row_once_in_order() {
        for n in [1, 2, 3, 8] {
            let (w, h) = (300, 517);
            let mut v = vec![0u32; w * h];
            let firsts = with_threads(n, || {
                bands(&mut v, w, |y0, band| {
                    for (j, row) in band.chunks_exact_mut(w).enumerate() {
                        row.iter_mut().for_each(|p| *p += (y0 + j) as u32 + 1);
                    }
                    y0
                })
            });
            assert_eq!(firsts.len(), n.min(w * h / MIN_BAND), "threads {n}");
            assert!(firsts.windows(2).all(|p| p[0] < p[1]));
            for (y, row) in v.chunks_exact(w).enumerate() {
                assert!(row.iter().all(|&p| p == y as u32 + 1), "row {y} with {n} threads");
            }
        }
    }

    #[test]
    fn fixed_bands_cut_the_same_rows_on_any_core_count() {
        for n in [1, 2, 3] {
            let mut v = vec![0u32; 10 * 7];
            let mut scratch = vec![0u8; 3 * 5];
            let firsts = with_threads(n, || fixed_bands(&mut v, 10, 3, &mut scratch, 5, |y0, band, s| (y0, band.len() / 10, s.len())));
            assert_eq!(firsts, vec![(0, 3, 5), (3, 3, 5), (6, 1, 5)], "threads {n}");
        }
    }

    #[test]
    fn join_runs_both_sides_on_two_threads_when_allowed() {
        let me = std::thread::current().id();
        let (a, b) = with_threads(2, || join(|| std::thread::current().id(), || std::thread::current().id()));
        assert_eq!(a, me);
        assert_ne!(b, me);
        let (a, b) = with_threads(1, || join(|| std::thread::current().id(), || std::thread::current().id()));
        assert_eq!((a, b), (me, me));
    }

    /// Every chore runs once, on either thread; the caller takes over what the helper has not
    /// started once its own work is done (here the helper is held up by the first chore, long
    /// after the caller's work).
    #[test]
    fn join_chores_runs_each_chore_once_and_the_caller_takes_the_rest() {
        for threads in [1, 2] {
            let me = std::thread::current().id();
            let ran = std::sync::Mutex::new(Vec::new());
            let chore = |i: u64, slow: bool| -> Chore<'_> {
                let ran = &ran;
                Box::new(move || {
                    if slow {
                        std::thread::sleep(std::time::Duration::from_millis(400));
                    }
                    ran.lock().unwrap().push((i, std::thread::current().id()));
                    i
                })
            };
            let chores = vec![chore(1, true), chore(2, false), chore(3, false), chore(4, false)];
            let main = || {
                std::thread::sleep(std::time::Duration::from_millis(200));
                7
            };
            let (a, sum) = with_threads(threads, || join_chores(main, chores));
            assert_eq!((a, sum), (7, 10));
            let mut ran = ran.into_inner().unwrap();
            ran.sort_by_key(|r| r.0);
            assert_eq!(ran.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
            if threads == 2 {
                assert_ne!(ran[0].1, me, "the helper starts from the first");
                assert!(ran[1..].iter().all(|r| r.1 == me), "the caller, done first, takes the rest");
            }
        }
    }

    #[test]
    fn helpers_are_kept_from_one_loop_to_the_next() {
        // Spawned once by this thread, then reused: no spawn per loop.
        let (_, first) = with_threads(2, || join(|| (), || std::thread::current().id()));
        for _ in 0..5 {
            let (_, again) = with_threads(2, || join(|| (), || std::thread::current().id()));
            assert_eq!(again, first);
        }
        let mut v = vec![0u8; 1 << 20];
        let ids = with_threads(2, || bands(&mut v, 1024, |_, _| std::thread::current().id()));
        assert_eq!(ids, vec![std::thread::current().id(), first]);
    }

    #[test]
    fn a_loop_inside_a_band_gets_threads_of_its_own() {
        // The caller's band runs a loop of its own while its helper is busy with the other band.
        let mut v = vec![0u32; 512 * 512];
        let sums = with_threads(2, || {
            bands(&mut v, 512, |y0, band| {
                let mut inner = vec![1u32; 512 * 256];
                let parts = bands(&mut inner, 512, |_, b| b.iter().sum::<u32>());
                band.iter_mut().for_each(|p| *p = y0 as u32);
                parts.iter().sum::<u32>()
            })
        });
        assert_eq!(sums, vec![512 * 256, 512 * 256]);
        assert_eq!(v[0], 0);
        assert_eq!(v[511 * 512], 256);
    }

    #[test]
    fn a_panicking_join_side_reaches_the_caller_and_the_helper_lives_on() {
        let r = std::panic::catch_unwind(|| with_threads(2, || join(|| 1, || -> u32 { panic!("helper side") })));
        assert!(r.is_err());
        set_threads(1);
        assert_eq!(with_threads(2, || join(|| 1, || 2)), (1, 2));
    }

    #[test]
    fn small_work_stays_on_the_caller() {
        let mut v = vec![0u8; 100 * 100];
        let ids = with_threads(4, || bands(&mut v, 100, |_, _| std::thread::current().id()));
        assert_eq!(ids, vec![std::thread::current().id()]);
    }

    #[test]
    fn a_panicking_band_reaches_the_caller() {
        let mut v = vec![0u8; 1 << 20];
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_threads(2, || bands(&mut v, 1024, |y0, _| assert!(y0 == 0, "band at {y0}")))
        }));
        assert!(r.is_err());
        set_threads(1);
    }
}
