/*
 * Soak through the C API (make soak; not part of c-test): 2,000 headshots on one engine
 * (2 workers) from 4 threads at once, RSS sampled every 100 runs. Flat means: after a warm-up
 * of 200 runs, the median of the last 5 samples is at most 5 % above the median of the first 5
 * (see core/examples/soak.rs for why medians). Every output must equal the first.
 *
 *   soak FIXTURES_DIR ORT_LIBRARY [RUNS]
 */
#include "lichtbild.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EVERY 100
#define WARM_UP 200
#define TOLERANCE 0.05
#define IN_FLIGHT 4
#define MAX_SAMPLES 1000
#define WINDOW 5

static lb_engine *engine;
static unsigned char *photo, *first;
static size_t photo_len, first_len;
static int runs, started, done, failed, nsamples;
static double samples[MAX_SAMPLES];
static struct timespec t0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2) exit(2);
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median5(const double *v) {
    double c[WINDOW];
    memcpy(c, v, sizeof c);
    qsort(c, WINDOW, sizeof c[0], cmp_double);
    return c[WINDOW / 2];
}

static double elapsed(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static void *lane(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        int go = started < runs && !failed;
        started += go;
        pthread_mutex_unlock(&lock);
        if (!go) return NULL;
        lb_options o = lb_options_default();
        o.consent = LB_CONSENT_FACE_GEOMETRY;
        o.preset = "bewerbung-35x45"; /* the smallest application photo: about memory, not pixels */
        lb_result *r = NULL;
        lb_status st = lb_process(engine, photo, photo_len, &o, &r);
        pthread_mutex_lock(&lock);
        if (st != LB_OK) {
            fprintf(stderr, "c soak: %s: %s\n", lb_status_name(st), lb_last_error_message());
            failed = 1;
        } else if (!first) {
            first_len = lb_result_len(r);
            first = malloc(first_len);
            memcpy(first, lb_result_data(r), first_len);
        } else if (lb_result_len(r) != first_len || memcmp(lb_result_data(r), first, first_len) != 0) {
            fprintf(stderr, "c soak: an output differs from the first\n");
            failed = 1;
        }
        lb_result_free(r);
        if (++done % EVERY == 0 && nsamples < MAX_SAMPLES) {
            samples[nsamples++] = rss_mib();
            printf("c soak: run %5d  rss %7.1f MiB  (%.0f s)\n", done, samples[nsamples - 1], elapsed());
            fflush(stdout);
        }
        pthread_mutex_unlock(&lock);
    }
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc(*len + 1);
    if (fread(d, 1, *len, f) != *len) exit(2);
    d[*len] = 0;
    fclose(f);
    return d;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FIXTURES_DIR ORT_LIBRARY [RUNS]\n", argv[0]);
        return 2;
    }
    runs = argc > 3 ? atoi(argv[3]) : 2000;
    char path[4096], config[4096];
    snprintf(path, sizeof path, "%s/astronaut.png", argv[1]);
    photo = (unsigned char *)slurp(path, &photo_len);
    snprintf(config, sizeof config, "{\"ort_library\": \"%s\", \"workers\": 2}", argv[2]);
    lb_status st = lb_engine_new(config, &engine);
    if (st != LB_OK) {
        fprintf(stderr, "c soak: engine: %s: %s\n", lb_status_name(st), lb_last_error_message());
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t t[IN_FLIGHT];
    for (int i = 0; i < IN_FLIGHT; i++) pthread_create(&t[i], NULL, lane, NULL);
    for (int i = 0; i < IN_FLIGHT; i++) pthread_join(t[i], NULL);
    if (failed) return 1;

    printf("c soak: RSS series (MiB, every %d runs):", EVERY);
    for (int i = 0; i < nsamples; i++) printf(" %.1f", samples[i]);
    printf("\n");
    double *after = samples + WARM_UP / EVERY, lo = 1e300, hi = 0;
    int n = nsamples - WARM_UP / EVERY;
    if (n < 2 * WINDOW) {
        fprintf(stderr, "c soak: too few samples: run at least %d runs\n", WARM_UP + 2 * WINDOW * EVERY);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        lo = after[i] < lo ? after[i] : lo;
        hi = after[i] > hi ? after[i] : hi;
    }
    double start = median5(after), end = median5(after + n - WINDOW), drift = end / start - 1;
    printf("c soak: %d runs in %.0f s; after the %d-run warm-up: median of the first %d samples %.1f MiB, of the last %d %.1f MiB "
           "(%+.1f %%, limit +%.0f %%); range %.1f..%.1f MiB\n",
           runs, elapsed(), WARM_UP, WINDOW, start, WINDOW, end, drift * 100, TOLERANCE * 100, lo, hi);
    lb_engine_free(engine);
    free(photo);
    free(first);
    if (drift > TOLERANCE) {
        fprintf(stderr, "c soak: FAILED: RSS grew after the warm-up\n");
        return 1;
    }
    printf("c soak: ok\n");
    return 0;
}
