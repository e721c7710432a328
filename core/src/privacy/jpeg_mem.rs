//! libjpeg-turbo's working memory is zeroed before it is freed: `jpeg_mem.c` replaces its
//! system-dependent allocation functions (see there for how and why in C).

extern "C" {
    fn lichtbild_jmem_blocks() -> usize;
}

/// How many blocks libjpeg-turbo has taken through the wiping functions (for tests: proves the
/// replacement is the one linked).
pub fn blocks_allocated() -> usize {
    // SAFETY: reads an atomic counter; no arguments, no state.
    unsafe { lichtbild_jmem_blocks() }
}
