/*
 * The C API of lichtbild, tested as a C program uses it: real ONNX Runtime, real models, real
 * photos. Run by `make c-test` (plain, under ASAN, and in `quick` mode under valgrind).
 *
 *   test_lichtbild FIXTURES_DIR ORT_LIBRARY [quick]
 *
 * ORT_DYLIB_PATH is removed from the environment first so that the "runtime not found" case is
 * real; the good engines name ONNX Runtime explicitly in their config. `quick` keeps valgrind's
 * run short: one worker, fewer pipeline runs, two threads instead of 64. Valgrind cannot run
 * seccomp or Landlock, so under it (`quick`) a sandboxed engine must fail with LB_SANDBOX, and
 * every other engine turns the sandbox off explicitly; the plain and ASAN runs check that the
 * sandbox is enforced.
 */
#include "lichtbild.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int checks, failures;

/* Progress on stdout, so a slow run (valgrind) shows where it is. */
static void step(const char *what) {
    printf("  %s\n", what);
    fflush(stdout);
}

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        checks++;                                                                        \
        if (!(cond)) {                                                                   \
            failures++;                                                                  \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                \
            fprintf(stderr, "\n");                                                       \
        }                                                                                \
    } while (0)

/* A call that must fail with `want`, leave *out NULL and explain itself. */
#define CHECK_STATUS(st, want, out_ptr)                                                  \
    do {                                                                                 \
        lb_status st_ = (st);                                                            \
        CHECK(st_ == (want), "got %s (%s), want %s", lb_status_name(st_),                \
              lb_last_error_message(), lb_status_name(want));                            \
        CHECK((out_ptr) == NULL, "out must be NULL after a failure");                    \
        CHECK(st_ == LB_OK || strlen(lb_last_error_message()) > 0, "no error message");  \
    } while (0)

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Width and height from a JPEG's SOFn segment; 0 if there is none. */
static int jpeg_size(const unsigned char *d, size_t len, unsigned *w, unsigned *h) {
    if (len < 4 || d[0] != 0xFF || d[1] != 0xD8) return 0;
    size_t i = 2;
    while (i + 9 < len) {
        if (d[i] != 0xFF) return 0;
        unsigned char m = d[i + 1];
        if (m == 0xFF) { i++; continue; }
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            *h = (unsigned)(d[i + 5] << 8 | d[i + 6]);
            *w = (unsigned)(d[i + 7] << 8 | d[i + 8]);
            return 1;
        }
        i += 2 + (size_t)(d[i + 2] << 8 | d[i + 3]);
    }
    return 0;
}

static const char *fixtures;
static int sandboxed = 1;       /* 0 under valgrind (`quick`) */
static const char *sandbox_cfg = "";
static unsigned char *jpeg;
static size_t jpeg_len;

static lb_options consenting(void) {
    lb_options o = lb_options_default();
    o.consent = LB_CONSENT_FACE_GEOMETRY;
    return o;
}

static void test_static_info(void) {
    CHECK(strlen(lb_version()) > 0, "empty version");
    const char *presets = lb_presets_json();
    CHECK(presets && presets[0] == '[' && strstr(presets, "\"bewerbung-45x60\""), "presets: %s", presets);
    CHECK(strcmp(lb_status_name(LB_OK), "ok") == 0, "ok");
    CHECK(strcmp(lb_status_name(LB_NO_FACE), "no_face") == 0, "no_face");
    CHECK(strcmp(lb_status_name(LB_CONSENT_REQUIRED), "consent_required") == 0, "consent");
    CHECK(strcmp(lb_status_name(LB_RUNTIME_NOT_FOUND), "runtime_not_found") == 0, "runtime");
    CHECK(strcmp(lb_status_name(LB_NULL_POINTER), "null_pointer") == 0, "null");
    CHECK(strcmp(lb_status_name(LB_SANDBOX), "sandbox") == 0 && LB_SANDBOX == 14, "sandbox");
    CHECK(strcmp(lb_status_name(LB_SEAL), "seal") == 0 && LB_SEAL == 15, "seal");
    CHECK(strcmp(lb_status_name(LB_BUSY), "busy") == 0 && LB_BUSY == 16, "busy");
    CHECK(strcmp(lb_status_name(LB_TIMEOUT), "timeout") == 0 && LB_TIMEOUT == 17, "timeout");
    CHECK(strcmp(lb_status_name(12345), "unknown") == 0, "unknown");
    /* Every status has its own name. */
    int all[] = {LB_OK, LB_INVALID_INPUT, LB_UNSUPPORTED_FORMAT, LB_TOO_LARGE, LB_NO_FACE,
                 LB_MULTIPLE_FACES, LB_CONSENT_REQUIRED, LB_INVALID_OPTIONS, LB_RUNTIME_NOT_FOUND,
                 LB_MODEL_INTEGRITY, LB_INFERENCE, LB_ENCODE, LB_CANCELLED, LB_INTERNAL,
                 LB_SANDBOX, LB_SEAL, LB_BUSY, LB_TIMEOUT, LB_NULL_POINTER, LB_INVALID_ARGUMENT};
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(lb_status_name(all[i]), "unknown") != 0, "status %d has no name", all[i]);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(lb_status_name(all[i]), lb_status_name(all[j])) != 0, "%d and %d share a name", all[i], all[j]);
    }
    lb_options o = lb_options_default();
    CHECK(o.consent == 0, "consent must have no default");
    CHECK(o.format == LB_FORMAT_JPEG && o.preset == NULL && o.options_json == NULL, "defaults");
    CHECK(o.seal_to == NULL && o.seal_to_count == 0 && o.seal_passphrase == NULL, "not sealed by default");
}

/* Before any engine loads ONNX Runtime: it is loaded once per process. */
static void test_engine_errors(void) {
    lb_engine *e = (lb_engine *)&e; /* not NULL: a failure must reset it */
    CHECK_STATUS(lb_engine_new(NULL, NULL), LB_NULL_POINTER, NULL);
    CHECK(strstr(lb_last_error_message(), "out") != NULL, "%s", lb_last_error_message());

    CHECK_STATUS(lb_engine_new("{", &e), LB_INVALID_OPTIONS, e);
    e = (lb_engine *)&e;
    CHECK_STATUS(lb_engine_new("{\"wrokers\": 1}", &e), LB_INVALID_OPTIONS, e);
    CHECK(strstr(lb_last_error_message(), "wrokers") != NULL, "%s", lb_last_error_message());
    CHECK_STATUS(lb_engine_new("{\"workers\": \"two\"}", &e), LB_INVALID_OPTIONS, e);
    CHECK_STATUS(lb_engine_new("\xff\xfe", &e), LB_INVALID_ARGUMENT, e);

    e = (lb_engine *)&e;
    char config[256];
    snprintf(config, sizeof config, "{\"ort_library\": \"/nonexistent/libonnxruntime.so.1.32.0\", \"workers\": 1%s}", sandbox_cfg);
    CHECK_STATUS(lb_engine_new(config, &e), LB_RUNTIME_NOT_FOUND, e);
    CHECK(strstr(lb_last_error_message(), "/nonexistent/libonnxruntime.so.1.32.0") != NULL,
          "the message names what was tried: %s", lb_last_error_message());
    CHECK(strstr(lb_last_error_message(), "ORT_DYLIB_PATH") != NULL, "and what to do: %s", lb_last_error_message());
}

static lb_engine *new_engine(const char *ort, int workers, const char *extra) {
    char config[4096];
    snprintf(config, sizeof config, "{\"ort_library\": \"%s\", \"workers\": %d%s%s}", ort, workers, extra, sandbox_cfg);
    lb_engine *e = NULL;
    lb_status st = lb_engine_new(config, &e);
    CHECK(st == LB_OK && e != NULL, "engine: %s: %s", lb_status_name(st), lb_last_error_message());
    CHECK(strcmp(lb_last_error_message(), "") == 0, "message after OK: %s", lb_last_error_message());
    if (!e) exit(1);
    return e;
}

/* The fixture photo to a JPEG; returns the result (the reference for the thread test). */
static lb_result *test_jpeg(lb_engine *e) {
    lb_options o = consenting();
    lb_result *r = NULL;
    lb_status st = lb_process(e, jpeg, jpeg_len, &o, &r);
    CHECK(st == LB_OK && r, "process: %s: %s", lb_status_name(st), lb_last_error_message());
    if (!r) exit(1);
    CHECK(strcmp(lb_last_error_message(), "") == 0, "message after OK");
    CHECK(lb_result_format(r) == LB_FORMAT_JPEG, "format %u", lb_result_format(r));
    CHECK(lb_result_width(r) == 531 && lb_result_height(r) == 709, "%ux%u", lb_result_width(r), lb_result_height(r));
    size_t len = lb_result_len(r);
    CHECK(len > 20000 && len < 2000000, "jpeg of %zu bytes", len);
    unsigned w = 0, h = 0;
    CHECK(jpeg_size(lb_result_data(r), len, &w, &h) && w == 531 && h == 709, "SOF says %ux%u", w, h);
    CHECK(lb_result_data(r)[len - 2] == 0xFF && lb_result_data(r)[len - 1] == 0xD9, "EOI");
    const char *receipt = lb_result_receipt_json(r);
    CHECK(receipt && receipt[0] == '{' && strstr(receipt, "\"face_geometry\"") && strstr(receipt, "\"sandbox\""),
          "receipt: %.200s", receipt);
    /* The worker ran confined (unless turned off under valgrind, and then the receipt says so),
     * and liblichtbild's allocator wiped every block freed there. */
    CHECK(receipt && strstr(receipt, sandboxed ? "\"enforced\": true" : "\"enforced\": false"), "sandbox: %s", receipt);
    CHECK(receipt && strstr(receipt, "\"freed_memory\": \"all wiped"), "freed memory: %s", receipt);
    CHECK(receipt && !strstr(receipt, "\"sealed\"") && !lb_result_sealed(r), "not sealed");
    const char *findings = lb_result_findings_json(r);
    CHECK(findings && findings[0] == '[', "findings: %s", findings);
    size_t count = 99;
    CHECK(lb_result_landmarks(r, &count) == NULL && count == 0, "no landmarks unless asked");
    return r;
}

static void test_option_errors(lb_engine *e) {
    lb_result *r = (lb_result *)&r;
    lb_options o = lb_options_default();
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_CONSENT_REQUIRED, r);
    CHECK(strstr(lb_last_error_message(), "face_geometry"), "%s", lb_last_error_message());

    o = consenting();
    o.retouch = 0.5f;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_CONSENT_REQUIRED, r);
    CHECK(strstr(lb_last_error_message(), "appearance"), "%s", lb_last_error_message());

    /* Consent in JSON must be explicit too: a JSON without it is no consent. */
    o = lb_options_default();
    o.options_json = "{\"preset\": \"linkedin\"}";
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_CONSENT_REQUIRED, r);

    const char *bad_json[] = {"{", "42", "\"text\"", "{\"presett\": \"x\"}", "{\"quality\": 0}", "{\"format\": \"gif\"}",
                              "{\"consent\": {\"face_geometry\": true}}", "{\"custom_preset\": {\"name\": \"x\"}}"};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        o = consenting();
        o.options_json = bad_json[i];
        r = (lb_result *)&r;
        CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    }
    o = consenting(); o.preset = "no-such-preset";
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    CHECK(strstr(lb_last_error_message(), "no-such-preset"), "%s", lb_last_error_message());
    o = consenting(); o.background = "pink-ish";
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.background = "transparent"; /* JPEG has no alpha */
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.quality = 101;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.consent |= 4;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.format = 9;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.multi_face = 7;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.retouch = 2.0f; o.consent |= LB_CONSENT_APPEARANCE;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.preset = "\xc3\x28";
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_ARGUMENT, r);
    o = consenting(); o.background_image_len = 10; /* with a NULL pointer */
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_NULL_POINTER, r);
    o = consenting(); o.background = "white"; o.background_image = jpeg; o.background_image_len = jpeg_len;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
}

static void test_null_and_input_errors(lb_engine *e) {
    lb_options o = consenting();
    lb_result *r = (lb_result *)&r;
    CHECK_STATUS(lb_process(NULL, jpeg, jpeg_len, &o, &r), LB_NULL_POINTER, r);
    CHECK(strstr(lb_last_error_message(), "engine"), "%s", lb_last_error_message());
    r = (lb_result *)&r;
    CHECK_STATUS(lb_process(e, NULL, jpeg_len, &o, &r), LB_NULL_POINTER, r);
    r = (lb_result *)&r;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, NULL, &r), LB_NULL_POINTER, r);
    CHECK(strstr(lb_last_error_message(), "options"), "%s", lb_last_error_message());
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, NULL), LB_NULL_POINTER, NULL);
    unsigned char px[16] = {0};
    r = (lb_result *)&r;
    CHECK_STATUS(lb_process_pixels(e, NULL, 16, 2, 2, 0, LB_PIXEL_RGBA8, &o, &r), LB_NULL_POINTER, r);
    CHECK_STATUS(lb_process_pixels(NULL, px, 16, 2, 2, 0, LB_PIXEL_RGBA8, &o, &r), LB_NULL_POINTER, r);
    CHECK_STATUS(lb_process_pixels(e, px, 16, 2, 2, 0, LB_PIXEL_RGBA8, &o, NULL), LB_NULL_POINTER, NULL);

    /* Accessors and frees accept NULL. */
    size_t count = 5;
    CHECK(lb_result_data(NULL) == NULL && lb_result_len(NULL) == 0 && lb_result_width(NULL) == 0 &&
          lb_result_height(NULL) == 0 && lb_result_receipt_json(NULL) == NULL &&
          lb_result_findings_json(NULL) == NULL && lb_result_landmarks(NULL, &count) == NULL && count == 0,
          "NULL result accessors");
    lb_result_free(NULL);
    lb_engine_free(NULL);

    /* Truncated JPEG: the first 40% of the fixture. */
    r = (lb_result *)&r;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len * 2 / 5, &o, &r), LB_INVALID_INPUT, r);
    /* Only the header. */
    r = (lb_result *)&r;
    CHECK_STATUS(lb_process(e, jpeg, 200, &o, &r), LB_INVALID_INPUT, r);
    /* Empty and not an image. */
    r = (lb_result *)&r;
    CHECK_STATUS(lb_process(e, jpeg, 0, &o, &r), LB_INVALID_INPUT, r);
    const char *text = "this is not a photo, just some text that is long enough to be sniffed";
    r = (lb_result *)&r;
    CHECK_STATUS(lb_process(e, (const uint8_t *)text, strlen(text), &o, &r), LB_UNSUPPORTED_FORMAT, r);

    /* Pixel buffers that do not hold what width, height and stride say. */
    r = (lb_result *)&r;
    CHECK_STATUS(lb_process_pixels(e, px, 16, 3, 2, 0, LB_PIXEL_RGBA8, &o, &r), LB_INVALID_INPUT, r);
    CHECK(strstr(lb_last_error_message(), "16 bytes"), "%s", lb_last_error_message());
    CHECK_STATUS(lb_process_pixels(e, px, 16, 2, 2, 4, LB_PIXEL_RGBA8, &o, &r), LB_INVALID_INPUT, r);
    CHECK(strstr(lb_last_error_message(), "stride"), "%s", lb_last_error_message());
    CHECK_STATUS(lb_process_pixels(e, px, 16, 0, 2, 0, LB_PIXEL_RGBA8, &o, &r), LB_INVALID_INPUT, r);
    CHECK_STATUS(lb_process_pixels(e, px, 16, 2, 2, 0, 42, &o, &r), LB_INVALID_ARGUMENT, r);
    CHECK(strstr(lb_last_error_message(), "pixel format"), "%s", lb_last_error_message());
}

/* No face: a plain grey picture. */
static void test_no_face(lb_engine *e) {
    enum { W = 320, H = 400 };
    unsigned char *px = malloc(W * H * 4);
    for (size_t i = 0; i < W * H * 4; i++) px[i] = (i % 4 == 3) ? 255 : 128;
    lb_options o = consenting();
    lb_result *r = (lb_result *)&r;
    CHECK_STATUS(lb_process_pixels(e, px, W * H * 4, W, H, 0, LB_PIXEL_RGBA8, &o, &r), LB_NO_FACE, r);
    free(px);
}

static void test_too_large(const char *ort) {
    lb_engine *small = new_engine(ort, 1, ", \"limits\": {\"max_bytes\": 10000, \"max_pixels\": 100000}");
    lb_options o = consenting();
    lb_result *r = (lb_result *)&r;
    CHECK_STATUS(lb_process(small, jpeg, jpeg_len, &o, &r), LB_TOO_LARGE, r);
    unsigned char *px = calloc(1000 * 1000, 4);
    CHECK_STATUS(lb_process_pixels(small, px, 1000 * 1000 * 4, 1000, 1000, 0, LB_PIXEL_RGBA8, &o, &r), LB_TOO_LARGE, r);
    free(px);
    lb_engine_free(small);
    /* The output limit: bewerbung-45x60 is 531 x 709 = 376,479 pixels. */
    lb_engine *narrow = new_engine(ort, 1, ", \"limits\": {\"max_output_pixels\": 300000}");
    CHECK_STATUS(lb_process(narrow, jpeg, jpeg_len, &o, &r), LB_TOO_LARGE, r);
    CHECK(strstr(lb_last_error_message(), "output"), "names the output: %s", lb_last_error_message());
    lb_engine_free(narrow);
}

/* Back-pressure: one worker, max_queue 1, eight threads at once. One job runs, one waits, the
 * rest are refused at once with LB_BUSY; every accepted one gives the reference output. */
struct busy_job {
    lb_engine *engine;
    const lb_result *reference;
    lb_status status;
    int same;
};

static void *busy_worker(void *arg) {
    struct busy_job *j = arg;
    lb_options o = consenting();
    lb_result *r = NULL;
    j->status = lb_process(j->engine, jpeg, jpeg_len, &o, &r);
    j->same = r && lb_result_len(r) == lb_result_len(j->reference) && memcmp(lb_result_data(r), lb_result_data(j->reference), lb_result_len(r)) == 0;
    if (j->status == LB_BUSY) j->same = strstr(lb_last_error_message(), "requests waiting") != NULL && r == NULL;
    lb_result_free(r);
    return NULL;
}

static void test_busy_and_timeout(const char *ort, const lb_result *reference) {
    lb_engine *e = new_engine(ort, 1, ", \"max_queue\": 1");
    pthread_t t[8];
    struct busy_job jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (struct busy_job){e, reference, LB_INTERNAL, 0};
        CHECK(pthread_create(&t[i], NULL, busy_worker, &jobs[i]) == 0, "pthread_create");
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += jobs[i].status == LB_OK;
        busy += jobs[i].status == LB_BUSY;
        CHECK(jobs[i].status == LB_OK || jobs[i].status == LB_BUSY, "thread %d: %s", i, lb_status_name(jobs[i].status));
        CHECK(jobs[i].same, "thread %d: %s result differs or the message is wrong", i, lb_status_name(jobs[i].status));
    }
    CHECK(ok >= 1 && busy >= 1, "8 threads, max_queue 1: %d ok, %d busy", ok, busy);

    /* A budget of 1 ms cannot cover decode, detection and landmarks: LB_TIMEOUT, no result. */
    lb_options o = consenting();
    o.options_json = "{\"time_budget_ms\": 1}";
    lb_result *r = (lb_result *)&r;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_TIMEOUT, r);
    CHECK(strstr(lb_last_error_message(), "time budget"), "message: %s", lb_last_error_message());
    /* The engine keeps working, and an ample budget changes nothing. */
    o.options_json = "{\"time_budget_ms\": 600000}";
    r = NULL;
    CHECK(lb_process(e, jpeg, jpeg_len, &o, &r) == LB_OK && r && lb_result_len(r) == lb_result_len(reference) &&
              memcmp(lb_result_data(r), lb_result_data(reference), lb_result_len(r)) == 0,
          "after a timeout: %s", lb_last_error_message());
    lb_result_free(r);
    lb_engine_free(e);
}

static double mean_abs_diff(const unsigned char *a, const unsigned char *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

/* Pixels in, pixels out: what the GIMP and Krita plug-ins do. The input is a real face: the RGBA8
 * pixels of a first run on the fixture photo, laid into a buffer with padded rows. */
static void test_pixels(lb_engine *e, int quick) {
    lb_options o = consenting();
    o.format = LB_FORMAT_PIXELS;
    o.return_landmarks = true;
    lb_result *first = NULL;
    lb_status st = lb_process(e, jpeg, jpeg_len, &o, &first);
    CHECK(st == LB_OK, "pixels out: %s: %s", lb_status_name(st), lb_last_error_message());
    if (!first) exit(1);
    uint32_t w = lb_result_width(first), h = lb_result_height(first);
    CHECK(lb_result_format(first) == LB_FORMAT_PIXELS, "format");
    CHECK(w == 531 && h == 709 && lb_result_len(first) == (size_t)w * h * 4, "%ux%u, %zu bytes", w, h, lb_result_len(first));
    size_t count = 0;
    const float *lm = lb_result_landmarks(first, &count);
    CHECK(lm && count == 468, "%zu landmarks", count);
    int inside = 1;
    for (size_t i = 0; lm && i < count; i++)
        inside &= lm[2 * i] >= 0 && lm[2 * i] < (float)w && lm[2 * i + 1] >= 0 && lm[2 * i + 1] < (float)h;
    CHECK(inside, "landmarks inside the picture");
    const unsigned char *rgba = lb_result_data(first);

    /* RGBA8 with a stride larger than a row. */
    size_t stride = (size_t)w * 4 + 36;
    size_t len8 = stride * h;
    unsigned char *padded = malloc(len8);
    memset(padded, 0xAB, len8);
    for (uint32_t y = 0; y < h; y++) memcpy(padded + y * stride, rgba + (size_t)y * w * 4, (size_t)w * 4);
    lb_options po = consenting();
    po.format = LB_FORMAT_PIXELS;
    po.background = "white";
    lb_result *r8 = NULL;
    st = lb_process_pixels(e, padded, len8, w, h, stride, LB_PIXEL_RGBA8, &po, &r8);
    CHECK(st == LB_OK && r8, "rgba8 in: %s: %s", lb_status_name(st), lb_last_error_message());
    if (!r8) exit(1);
    CHECK(lb_result_width(r8) == 531 && lb_result_height(r8) == 709 && lb_result_len(r8) == 531 * 709 * 4, "rgba8 out size");
    /* A white background: the top corners of the headshot are white. */
    const unsigned char *p8 = lb_result_data(r8);
    CHECK(p8[0] > 240 && p8[1] > 240 && p8[2] > 240 && p8[3] == 255, "top-left %u,%u,%u,%u", p8[0], p8[1], p8[2], p8[3]);
    /* It differs from the grey-background input: it was processed, not passed through. */
    CHECK(mean_abs_diff(p8, rgba, 531 * 709 * 4) > 3.0, "output differs from input");

    if (!quick) {
        /* The same picture as 16-bit, float and RGB8 gives the same headshot (within rounding). */
        size_t n = (size_t)w * h;
        uint16_t *p16 = malloc(n * 4 * sizeof *p16);
        float *pf = malloc(n * 4 * sizeof *pf);
        unsigned char *p3 = malloc(n * 3);
        for (size_t i = 0; i < n * 4; i++) {
            p16[i] = (uint16_t)(rgba[i] * 257);
            pf[i] = (float)rgba[i] / 255.0f;
        }
        for (size_t i = 0; i < n; i++) memcpy(p3 + 3 * i, rgba + 4 * i, 3);
        struct { const void *data; size_t len; lb_pixel_format fmt; const char *name; } variants[] = {
            {p16, n * 8, LB_PIXEL_RGBA16, "rgba16"},
            {pf, n * 16, LB_PIXEL_RGBA_F32, "rgba_f32"},
            {p3, n * 3, LB_PIXEL_RGB8, "rgb8"},
        };
        for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
            lb_result *rv = NULL;
            st = lb_process_pixels(e, variants[v].data, variants[v].len, w, h, 0, variants[v].fmt, &po, &rv);
            CHECK(st == LB_OK && rv, "%s: %s: %s", variants[v].name, lb_status_name(st), lb_last_error_message());
            if (!rv) continue;
            CHECK(lb_result_len(rv) == lb_result_len(r8), "%s size", variants[v].name);
            double d = mean_abs_diff(lb_result_data(rv), p8, lb_result_len(r8));
            CHECK(d < 1.0, "%s differs from rgba8 by %.3f on average", variants[v].name, d);
            lb_result_free(rv);
        }
        free(p16);
        free(pf);
        free(p3);

        /* Options JSON with consent and PNG output instead of the struct's fields. */
        lb_options jo = lb_options_default();
        jo.options_json = "{\"consent\": {\"face_geometry\": true, \"appearance\": false}, \"format\": \"png\", \"background\": \"transparent\"}";
        lb_result *png = NULL;
        st = lb_process_pixels(e, padded, len8, w, h, stride, LB_PIXEL_RGBA8, &jo, &png);
        CHECK(st == LB_OK && png, "json options: %s: %s", lb_status_name(st), lb_last_error_message());
        if (png) {
            CHECK(lb_result_format(png) == LB_FORMAT_PNG && memcmp(lb_result_data(png), "\x89PNG\r\n\x1a\n", 8) == 0, "PNG");
            CHECK(lb_result_width(png) == 531 && lb_result_height(png) == 709, "png size");
            lb_result_free(png);
        }
    }
    free(padded);
    lb_result_free(r8);
    lb_result_free(first);
}

struct job {
    lb_engine *engine;
    const lb_result *reference;
    int index, ok, message_ok;
};

static void *worker(void *arg) {
    struct job *j = arg;
    lb_options o = consenting();
    lb_result *r = NULL;
    lb_status st = lb_process(j->engine, jpeg, jpeg_len, &o, &r);
    j->ok = st == LB_OK && r && lb_result_len(r) == lb_result_len(j->reference) &&
            memcmp(lb_result_data(r), lb_result_data(j->reference), lb_result_len(r)) == 0;
    lb_result_free(r);
    /* The last error is per thread: odd threads fail, even ones succeeded and see "". */
    if (j->index % 2) {
        lb_options none = lb_options_default();
        lb_result *x = NULL;
        st = lb_process(j->engine, jpeg, jpeg_len, &none, &x);
        j->message_ok = st == LB_CONSENT_REQUIRED && strstr(lb_last_error_message(), "consent");
    } else {
        j->message_ok = strcmp(lb_last_error_message(), "") == 0;
    }
    return NULL;
}

/* Up to 64 threads on one engine at once: the default max_queue (64) takes them all. */
static void test_threads(lb_engine *e, const lb_result *reference, int n) {
    pthread_t t[64];
    struct job jobs[64];
    for (int i = 0; i < n; i++) {
        jobs[i] = (struct job){e, reference, i, 0, 0};
        CHECK(pthread_create(&t[i], NULL, worker, &jobs[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < n; i++) {
        CHECK(jobs[i].ok, "thread %d: output differs from the single-threaded reference", i);
        CHECK(jobs[i].message_ok, "thread %d: thread-local error message", i);
    }
}

/* A fresh age key pair from `age-keygen -o FILE`: the whole key file's text (comments included,
 * as lb_open_sealed accepts it) and the public key from its "# public key: " line. */
struct age_key {
    char file[8192];
    char recipient[128];
};

static void age_keygen(const char *dir, const char *name, struct age_key *k) {
    char path[4096], cmd[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(cmd, sizeof cmd, "age-keygen -o '%s' 2> /dev/null", path);
    if (system(cmd) != 0) {
        fprintf(stderr, "age-keygen failed (apt-get install age, or `make sys-deps`)\n");
        exit(2);
    }
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    size_t n = fread(k->file, 1, sizeof k->file - 1, f);
    fclose(f);
    unlink(path);
    k->file[n] = 0;
    const char *p = strstr(k->file, "# public key: ");
    if (!p || sscanf(p + 14, "%127s", k->recipient) != 1) {
        fprintf(stderr, "no public key in %s\n", path);
        exit(2);
    }
}

static int contains_jpeg_marker(const unsigned char *d, size_t n) {
    for (size_t i = 0; i + 2 < n; i++)
        if (d[i] == 0xFF && d[i + 1] == 0xD8 && d[i + 2] == 0xFF) return 1;
    return 0;
}

/* Opens `sealed` and compares it with the unsealed reference; returns whether it matched. */
static int opens_to(const lb_result *sealed, const char *identity, const char *passphrase, const lb_result *reference) {
    lb_buffer *b = NULL;
    lb_status st = lb_open_sealed(lb_result_data(sealed), lb_result_len(sealed), identity, passphrase, &b);
    CHECK(st == LB_OK && b, "open: %s: %s", lb_status_name(st), lb_last_error_message());
    int same = b && lb_buffer_len(b) == lb_result_len(reference) &&
               memcmp(lb_buffer_data(b), lb_result_data(reference), lb_buffer_len(b)) == 0;
    lb_buffer_free(b);
    return same;
}

/* Sealed output: to a fresh age key, then with a passphrase; the wrong key, broken bytes and bad
 * recipients fail with their own status. `reference` is the unsealed JPEG of the same options. */
static void test_sealed(lb_engine *e, const lb_result *reference) {
    char dir[] = "/tmp/lichtbild-c-test-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    struct age_key key, other;
    age_keygen(dir, "key.txt", &key);
    age_keygen(dir, "other.txt", &other);
    rmdir(dir);

    lb_options o = consenting();
    const char *to[] = {key.recipient};
    o.seal_to = to;
    o.seal_to_count = 1;
    lb_result *r = NULL;
    lb_status st = lb_process(e, jpeg, jpeg_len, &o, &r);
    CHECK(st == LB_OK && r, "sealed: %s: %s", lb_status_name(st), lb_last_error_message());
    if (!r) exit(1);
    const unsigned char *d = lb_result_data(r);
    size_t len = lb_result_len(r);
    CHECK(lb_result_sealed(r) && lb_result_format(r) == LB_FORMAT_JPEG, "sealed JPEG");
    CHECK(len > 21 && memcmp(d, "age-encryption.org/v1", 21) == 0, "an age file: %.21s", (const char *)d);
    CHECK(!contains_jpeg_marker(d, len), "FF D8 FF in the sealed bytes");
    const char *receipt = lb_result_receipt_json(r);
    CHECK(strstr(receipt, "\"sealed\"") && strstr(receipt, "\"x25519\"") && strstr(receipt, "\"recipients\": 1"),
          "receipt: %s", receipt);
    CHECK(!strstr(receipt, key.recipient), "the receipt names no recipient");
    CHECK(opens_to(r, key.file, NULL, reference), "opened with the key file != the unsealed output");

    lb_buffer *b = (lb_buffer *)&b;
    CHECK_STATUS(lb_open_sealed(d, len, other.file, NULL, &b), LB_SEAL, b);
    unsigned char *broken = malloc(len);
    memcpy(broken, d, len);
    broken[len - 10] ^= 1;
    b = (lb_buffer *)&b;
    CHECK_STATUS(lb_open_sealed(broken, len, key.file, NULL, &b), LB_SEAL, b);
    free(broken);
    b = (lb_buffer *)&b;
    CHECK_STATUS(lb_open_sealed(jpeg, jpeg_len, key.file, NULL, &b), LB_SEAL, b);
    CHECK_STATUS(lb_open_sealed(d, len, "AGE-SECRET-KEY-1NOPE", NULL, &b), LB_INVALID_OPTIONS, b);
    CHECK_STATUS(lb_open_sealed(d, len, NULL, NULL, &b), LB_INVALID_ARGUMENT, b);
    CHECK_STATUS(lb_open_sealed(d, len, key.file, "both", &b), LB_INVALID_ARGUMENT, b);
    CHECK_STATUS(lb_open_sealed(NULL, len, key.file, NULL, &b), LB_NULL_POINTER, b);
    CHECK_STATUS(lb_open_sealed(d, len, key.file, NULL, NULL), LB_NULL_POINTER, NULL);
    CHECK(lb_buffer_data(NULL) == NULL && lb_buffer_len(NULL) == 0, "NULL buffer accessors");
    lb_buffer_free(NULL);
    lb_result_free(r);

    /* Recipients and sealing options that are wrong: refused before the photo is touched. */
    const char *bad[] = {"age1nope", "ssh-ed25519 AAAA", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = consenting();
        o.seal_to = &bad[i];
        o.seal_to_count = 1;
        r = (lb_result *)&r;
        CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    }
    const char *none[] = {NULL};
    o = consenting(); o.seal_to = none; o.seal_to_count = 0; /* an empty list */
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.seal_to = none; o.seal_to_count = 1;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_ARGUMENT, r);
    o = consenting(); o.seal_to = NULL; o.seal_to_count = 1;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_NULL_POINTER, r);
    o = consenting(); o.seal_to = to; o.seal_to_count = 1; o.seal_passphrase = "and a passphrase";
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.seal_to = to; o.seal_to_count = 1; o.format = LB_FORMAT_PIXELS;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.seal_to = to; o.seal_to_count = 1; o.return_landmarks = true;
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.seal_passphrase = "";
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);
    o = consenting(); o.options_json = "{\"seal_to\": [\"age1x\"]}";
    CHECK_STATUS(lb_process(e, jpeg, jpeg_len, &o, &r), LB_INVALID_OPTIONS, r);

    /* Passphrase mode (age scrypt): round trip, and the wrong passphrase. */
    o = consenting();
    o.seal_passphrase = "correct horse battery staple";
    r = NULL;
    st = lb_process(e, jpeg, jpeg_len, &o, &r);
    CHECK(st == LB_OK && r, "passphrase: %s: %s", lb_status_name(st), lb_last_error_message());
    if (!r) exit(1);
    CHECK(lb_result_sealed(r) && !contains_jpeg_marker(lb_result_data(r), lb_result_len(r)), "sealed");
    CHECK(strstr(lb_result_receipt_json(r), "\"scrypt\""), "receipt: %s", lb_result_receipt_json(r));
    CHECK(opens_to(r, NULL, "correct horse battery staple", reference), "passphrase round trip");
    b = (lb_buffer *)&b;
    CHECK_STATUS(lb_open_sealed(lb_result_data(r), lb_result_len(r), NULL, "wrong horse", &b), LB_SEAL, b);
    lb_result_free(r);

    /* The same through options_json: two recipients, either key opens it. */
    char json[512];
    snprintf(json, sizeof json, "{\"seal_to\": [\"%s\", \"%s\"]}", key.recipient, other.recipient);
    o = consenting();
    o.options_json = json;
    r = NULL;
    st = lb_process(e, jpeg, jpeg_len, &o, &r);
    CHECK(st == LB_OK && r, "json seal_to: %s: %s", lb_status_name(st), lb_last_error_message());
    if (!r) exit(1);
    CHECK(strstr(lb_result_receipt_json(r), "\"recipients\": 2"), "two recipients");
    CHECK(opens_to(r, key.file, NULL, reference) && opens_to(r, other.file, NULL, reference), "either key opens it");
    lb_result_free(r);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FIXTURES_DIR ORT_LIBRARY [quick]\n", argv[0]);
        return 2;
    }
    fixtures = argv[1];
    const char *ort = argv[2];
    int quick = argc > 3 && strcmp(argv[3], "quick") == 0;
    unsetenv("ORT_DYLIB_PATH");
    char path[4096];
    snprintf(path, sizeof path, "%s/grace_hopper.jpg", fixtures);
    jpeg = read_file(path, &jpeg_len);

    step("static info");
    test_static_info();
    if (quick) {
        sandboxed = 0;
        sandbox_cfg = ", \"sandbox\": false";
    }
    step("engine errors");
    test_engine_errors();
    if (quick) {
        step("sandbox refused under valgrind");
        lb_engine *s = (lb_engine *)&s;
        snprintf(path, sizeof path, "{\"ort_library\": \"%s\", \"workers\": 1}", ort);
        CHECK_STATUS(lb_engine_new(path, &s), LB_SANDBOX, s);
        CHECK(strstr(lb_last_error_message(), "sandbox: false"), "says how to turn it off: %s", lb_last_error_message());
    }
    step("engine");
    lb_engine *e = new_engine(ort, quick ? 1 : 2, "");
    step("JPEG");
    lb_result *reference = test_jpeg(e);
    step("option errors");
    test_option_errors(e);
    step("NULL and input errors");
    test_null_and_input_errors(e);
    step("pixels");
    test_pixels(e, quick);
    if (!quick) {
        step("no face");
        test_no_face(e);
        step("too large");
        test_too_large(ort);
        step("busy and timeout");
        test_busy_and_timeout(ort, reference);
    }
    step("sealed output");
    test_sealed(e, reference);
    step(quick ? "threads (2)" : "threads (64 at once)");
    test_threads(e, reference, quick ? 2 : 64);
    lb_result_free(reference);
    lb_engine_free(e);
    free(jpeg);

    printf("test_lichtbild%s: %d checks, %d failed\n", quick ? " (quick)" : "", checks, failures);
    return failures ? 1 : 0;
}
