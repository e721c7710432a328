//! Row bands on scoped threads, for the full-resolution loops of compose, matte and background.
//!
//! Why scoped threads spawned right here and not a pool (rayon): a thread inherits the seccomp
//! filter and the Landlock domain of the thread that spawns it, so bands spawned from an engine
//! worker are as confined as the worker. A process-wide pool may have been started earlier by
//! the host application, outside the sandbox. A spawn costs tens of microseconds; a band is
//! milliseconds of work.
//!
//! Band threads must not create `SecureBuf`s: the receipt's wiped-byte count is per thread.

use std::cell::Cell;

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

/// The first band on the calling thread, the others on scoped threads; results in band order.
fn run<C: Send, R: Send>(mut chunks: impl Iterator<Item = C>, per: usize, f: impl Fn(usize, C) -> R + Sync) -> Vec<R> {
    std::thread::scope(|s| {
        let f = &f;
        let first = chunks.next();
        let spawned: Vec<_> = chunks.enumerate().map(|(i, c)| s.spawn(move || f((i + 1) * per, c))).collect();
        let mut out = Vec::with_capacity(spawned.len() + 1);
        out.extend(first.map(|c| f(0, c)));
        out.extend(spawned.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        out
    })
}

/// `a()` on the calling thread and `b()` on a scoped thread, side by side, when this thread may
/// use more than one; one after the other otherwise. A panic in `b` is resumed on the caller.
pub fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    if threads() < 2 {
        return (a(), b());
    }
    std::thread::scope(|s| {
        let h = s.spawn(b);
        let ra = a();
        (ra, h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}

/// Runs `f` with [`threads`] set to `n`, then restores it (for tests and benches).
pub fn with_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    let old = threads();
    set_threads(n);
    let r = f();
    set_threads(old);
    r
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
