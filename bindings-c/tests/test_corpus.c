/* The bad-input corpus (tests/corpus/make_corpus.py) through lb_process(): every case must give
 * its expected status, or a headshot of the expected size. Reads the same manifest as the Rust,
 * Python and Node tests; it holds one case per line, so a few string searches suffice here.
 *
 *   test_corpus MANIFEST ORT_LIBRARY
 */
#include <lichtbild.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The string value of "key": "..." in a manifest line (no escapes in the fields read this way). */
static int field(const char *line, const char *key, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(line, pat);
    if (!p) return 0;
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= cap) return 0;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = 0;
    return 1;
}

static long number(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* The strings of "key": ["a", "b"], each passed to `fn`; returns the first failure message. */
static const char *each_listed(const char *line, const char *key, const char *(*fn)(const char *, const lb_result *),
                               const lb_result *r) {
    char pat[64], item[64];
    snprintf(pat, sizeof pat, "\"%s\": [", key);
    const char *p = strstr(line, pat);
    if (!p) return NULL;
    p += strlen(pat);
    const char *end = strchr(p, ']');
    while (p && end && (p = strchr(p, '"')) && p < end) {
        const char *q = strchr(p + 1, '"');
        if (!q || (size_t)(q - p - 1) >= sizeof item) return "bad manifest list";
        memcpy(item, p + 1, (size_t)(q - p - 1));
        item[q - p - 1] = 0;
        const char *why = fn(item, r);
        if (why) return why;
        p = q + 1;
    }
    return NULL;
}

static char msg[512];

static const char *finding_absent(const char *code, const lb_result *r) {
    char pat[80], spaced[80];  /* compact or pretty-printed JSON */
    snprintf(pat, sizeof pat, "\"code\":\"%s\"", code);
    snprintf(spaced, sizeof spaced, "\"code\": \"%s\"", code);
    const char *json = lb_result_findings_json(r);
    if (!strstr(json, pat) && !strstr(json, spaced)) return NULL;
    snprintf(msg, sizeof msg, "finding %s reported", code);
    return msg;
}

static const char *metadata_listed(const char *kind, const lb_result *r) {
    const char *rec = lb_result_receipt_json(r);
    const char *p = strstr(rec, "\"metadata_removed\":");
    const char *end = p ? strchr(p, ']') : NULL;
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", kind);
    const char *hit = p ? strstr(p, pat) : NULL;
    if (hit && hit < end) return NULL;
    snprintf(msg, sizeof msg, "metadata_removed lacks %s", kind);
    return msg;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

/* Is `got` one of the '|'-separated alternatives in `expect`? */
static int expected(const char *expect, const char *got) {
    size_t n = strlen(got);
    for (const char *p = expect; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, got, n) == 0) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MANIFEST ORT_LIBRARY\n", argv[0]);
        return 2;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", argv[1]);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else strcpy(dir, ".");

    char config[4200];
    snprintf(config, sizeof config, "{\"ort_library\": \"%s\", \"workers\": 1}", argv[2]);
    lb_engine *engine = NULL;
    if (lb_engine_new(config, &engine) != LB_OK) {
        fprintf(stderr, "engine: %s\n", lb_last_error_message());
        return 1;
    }
    lb_options opts = lb_options_default();
    opts.consent = LB_CONSENT_FACE_GEOMETRY;

    FILE *m = fopen(argv[1], "r");
    if (!m) {
        perror(argv[1]);
        return 1;
    }
    static char line[8192];
    int cases = 0, failed = 0;
    while (fgets(line, sizeof line, m)) {
        if (line[0] != '{') continue;
        char id[256], file[512], expect[128], path[4700];
        if (!field(line, "id", id, sizeof id) || !field(line, "file", file, sizeof file) || !field(line, "expect", expect, sizeof expect)) {
            fprintf(stderr, "bad manifest line: %s", line);
            return 1;
        }
        snprintf(path, sizeof path, "%s/%s", dir, file);
        size_t len = 0;
        unsigned char *data = read_file(path, &len);
        if (!data) {
            fprintf(stderr, "%s: cannot read %s\n", id, path);
            return 1;
        }
        lb_result *r = NULL;
        lb_status st = lb_process(engine, data, len, &opts, &r);
        const char *got = lb_status_name(st);
        const char *why = NULL;
        if (!expected(expect, got)) {
            snprintf(msg, sizeof msg, "expected %s, got %s (%s)", expect, got, st == LB_OK ? "" : lb_last_error_message());
            why = msg;
        } else if (st == LB_OK && strcmp(expect, "ok") == 0) {
            long w = number(line, "width"), h = number(line, "height");
            if (lb_result_format(r) != LB_FORMAT_JPEG || (long)lb_result_width(r) != w || (long)lb_result_height(r) != h) {
                snprintf(msg, sizeof msg, "headshot %ux%u, expected %ldx%ld JPEG", lb_result_width(r), lb_result_height(r), w, h);
                why = msg;
            }
            if (!why) why = each_listed(line, "absent_findings", finding_absent, r);
            if (!why) why = each_listed(line, "metadata", metadata_listed, r);
        }
        if (why) {
            fprintf(stderr, "FAIL %s: %s\n", id, why);
            failed++;
        }
        lb_result_free(r);
        free(data);
        cases++;
    }
    fclose(m);
    lb_engine_free(engine);
    if (cases < 100) {
        fprintf(stderr, "only %d cases in %s\n", cases, argv[1]);
        return 1;
    }
    printf("test_corpus: %d of %d cases gave their expected outcome\n", cases - failed, cases);
    return failed ? 1 : 0;
}
