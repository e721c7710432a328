/* libjpeg-turbo's system-dependent memory functions (jmemsys.h), replacing the bundled
 * jmemnobs.c: the same malloc/free, but every block is zeroed before it is freed, so the
 * decoder's working memory (coefficients of a progressive file, row buffers: the photo) does
 * not linger in freed heap, where WipeOnFree (Rust's allocator only) cannot reach it.
 *
 * Linked whole-archive (core/build.rs) ahead of libturbojpeg.a, so the archive's jmemnobs.o is
 * never pulled in; were it pulled in, the duplicate definitions would fail the link. Hidden
 * visibility: a host that has its own libjpeg.so.62 loaded (GIMP, Krita) exports the same names,
 * and these must neither replace it nor be replaced by it. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define HIDDEN __attribute__((visibility("hidden")))
/* The size lives in front of the block; 16 keeps the block as aligned as malloc's. */
#define HEADER 16

static size_t blocks;

HIDDEN size_t lichtbild_jmem_blocks(void) { return __atomic_load_n(&blocks, __ATOMIC_RELAXED); }

static void *get(size_t n) {
  if (n > (size_t)-1 - HEADER) return NULL;
  unsigned char *p = malloc(n + HEADER);
  if (!p) return NULL; /* libjpeg turns NULL into its own "insufficient memory" error */
  memcpy(p, &n, sizeof n);
  __atomic_add_fetch(&blocks, 1, __ATOMIC_RELAXED);
  return p + HEADER;
}

static void put(void *object) {
  if (!object) return;
  unsigned char *p = (unsigned char *)object - HEADER;
  size_t n;
  memcpy(&n, p, sizeof n);
  explicit_bzero(p, n + HEADER);
  free(p);
}

HIDDEN void *jpeg_get_small(void *cinfo, size_t n) { (void)cinfo; return get(n); }
HIDDEN void jpeg_free_small(void *cinfo, void *o, size_t n) { (void)cinfo; (void)n; put(o); }
HIDDEN void *jpeg_get_large(void *cinfo, size_t n) { (void)cinfo; return get(n); }
HIDDEN void jpeg_free_large(void *cinfo, void *o, size_t n) { (void)cinfo; (void)n; put(o); }

/* Always "all you asked for", so libjpeg never wants a backing store (a temporary file); unlike
 * jmemnobs.c a JPEGMEM limit in the environment is ignored for the same reason. */
HIDDEN size_t jpeg_mem_available(void *cinfo, size_t min, size_t max, size_t already) {
  (void)cinfo; (void)min; (void)already;
  return max;
}

/* Unreachable (see above): aborting beats handing libjpeg an uninitialised backing store. */
HIDDEN void jpeg_open_backing_store(void *cinfo, void *info, long total) {
  (void)cinfo; (void)info; (void)total;
  abort();
}

HIDDEN long jpeg_mem_init(void *cinfo) { (void)cinfo; return 0; }
HIDDEN void jpeg_mem_term(void *cinfo) { (void)cinfo; }
