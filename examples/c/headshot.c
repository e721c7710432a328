/*
 * headshot: turn a photo into an application headshot with liblichtbild.
 *
 *   headshot --consent IN.jpg OUT.jpg [BACKGROUND]
 *
 * `--consent` states that the person in the photo agreed to having their face detected and
 * measured (lichtbild has no default consent: without it the library refuses, and this program
 * shows that error). BACKGROUND is e.g. studio-grey, white, "#d9dbde", blur. Prints the receipt.
 * ONNX Runtime is found through ORT_DYLIB_PATH or next to liblichtbild (see lb_engine_new()).
 */
#include <lichtbild.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    int consent = argc > 1 && strcmp(argv[1], "--consent") == 0;
    if (argc - consent < 3) {
        fprintf(stderr, "usage: %s --consent IN.jpg OUT.jpg [BACKGROUND]\n", argv[0]);
        return 2;
    }
    const char *in = argv[1 + consent], *out = argv[2 + consent];
    size_t len = 0;
    unsigned char *photo = read_all(in, &len);
    if (!photo) {
        perror(in);
        return 1;
    }

    lb_engine *engine = NULL;
    lb_status st = lb_engine_new(NULL, &engine);
    if (st != LB_OK) {
        fprintf(stderr, "lichtbild: %s: %s\n", lb_status_name(st), lb_last_error_message());
        free(photo);
        return 1;
    }

    lb_options opts = lb_options_default();
    if (consent) opts.consent = LB_CONSENT_FACE_GEOMETRY;
    if (argc - consent > 3) opts.background = argv[3 + consent];

    lb_result *result = NULL;
    st = lb_process(engine, photo, len, &opts, &result);
    free(photo);
    if (st != LB_OK) {
        fprintf(stderr, "lichtbild: %s: %s\n", lb_status_name(st), lb_last_error_message());
        lb_engine_free(engine);
        return 1;
    }

    FILE *f = fopen(out, "wb");
    int ok = f && fwrite(lb_result_data(result), 1, lb_result_len(result), f) == lb_result_len(result);
    if (f && fclose(f) != 0) ok = 0;
    if (ok) {
        fprintf(stderr, "%s: %ux%u, %zu bytes\n", out, lb_result_width(result), lb_result_height(result), lb_result_len(result));
        printf("%s\n", lb_result_receipt_json(result));
    } else {
        perror(out);
    }
    lb_result_free(result);
    lb_engine_free(engine);
    return ok ? 0 : 1;
}
