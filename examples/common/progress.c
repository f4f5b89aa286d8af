/* progress.c: the epoch progress line: live and redrawn on a terminal, one plain line per epoch
 * elsewhere. Throughput and time left come from the wall time since the epoch began.
 *
 * Invariant: a live line is drawn with "\r" and erased with "\r\033[K", never followed by a
 * newline, so it occupies one terminal line however often it is redrawn. */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double ex_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "1:05" or "1:02:03". */
static void format_duration(double seconds, char *buf, size_t size) {
    if (!(seconds >= 0) || seconds > 1e7) {
        snprintf(buf, size, "?");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

void ex_progress_begin(ex_progress *p, const char *unit, long epoch, long n_epochs,
                       int64_t n_batches) {
    memset(p, 0, sizeof *p);
    p->out = stderr;
    const char *mode = getenv("TG_PROGRESS");
    p->off = mode && strcmp(mode, "off") == 0;
    if (mode && strcmp(mode, "live") == 0)
        p->live = true;
    else if (mode && strcmp(mode, "plain") == 0)
        p->live = false;
    else
        p->live = isatty(fileno(stderr)) == 1;
    p->unit = unit;
    p->epoch = epoch;
    p->n_epochs = n_epochs;
    p->n_batches = n_batches;
    p->start = p->last_draw = ex_now();
}

static void draw(ex_progress *p, double now) {
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->samples / elapsed : 0;
    double left = p->done > 0 ? elapsed / (double)p->done * (double)(p->n_batches - p->done) : -1;
    char eta[32];
    format_duration(left, eta, sizeof eta);
    fprintf(p->out, "\r\033[Kepoch %ld/%ld  batch %lld/%lld  %s %.4f  %.0f samples/s  ETA %s",
            p->epoch, p->n_epochs, (long long)p->done, (long long)p->n_batches, p->unit,
            p->done > 0 ? p->loss_sum / (double)p->done : 0.0, rate, eta);
    fflush(p->out);
    p->last_draw = now;
}

void ex_progress_step(ex_progress *p, int64_t samples, double loss) {
    p->done++;
    p->samples += samples;
    p->loss_sum += loss;
    if (!p->live || p->off) return;
    double now = ex_now();
    if (now - p->last_draw >= 0.1 || p->done == p->n_batches || p->done == 1) draw(p, now);
}

double ex_progress_end(ex_progress *p) {
    double elapsed = ex_now() - p->start;
    if (p->off) {
        /* nothing to draw */
    } else if (p->live) {
        fprintf(p->out, "\r\033[K");
    } else {
        char took[32];
        format_duration(elapsed, took, sizeof took);
        fprintf(p->out, "epoch %ld/%ld: %lld batches, %s %.4f, %.0f samples/s, %s\n", p->epoch,
                p->n_epochs, (long long)p->done, p->unit,
                p->done > 0 ? p->loss_sum / (double)p->done : 0.0,
                elapsed > 0 ? (double)p->samples / elapsed : 0.0, took);
    }
    fflush(p->out);
    return elapsed;
}
