/* schedule.c: learning-rate schedules as pure functions of the epoch, the closed forms of
 * torch.optim.lr_scheduler (StepLR, ExponentialLR, CosineAnnealingLR, LinearLR and SequentialLR
 * of a warm-up and one of those), and the helper that sets an optimiser's lr from one.
 *
 * Invariant: a schedule depends only on its fields and the epoch, never on earlier calls, so
 * a resumed run recomputes exactly the lr an uninterrupted one had. */
#include <math.h>

#include "optim_impl.h"

static bool ok_rate(double x) { return isfinite(x) && x >= 0; }

double tg_lr_step(double base_lr, int64_t epoch, int64_t step_size, double gamma) {
    if (!ok_rate(base_lr) || epoch < 0 || step_size < 1 || !ok_rate(gamma)) return NAN;
    return base_lr * pow(gamma, (double)(epoch / step_size));
}

double tg_lr_exponential(double base_lr, int64_t epoch, double gamma) {
    if (!ok_rate(base_lr) || epoch < 0 || !ok_rate(gamma)) return NAN;
    return base_lr * pow(gamma, (double)epoch);
}

double tg_lr_cosine(double base_lr, int64_t epoch, int64_t t_max, double eta_min) {
    if (!ok_rate(base_lr) || epoch < 0 || t_max < 1 || !ok_rate(eta_min)) return NAN;
    const double pi = 3.14159265358979323846;
    return eta_min + (base_lr - eta_min) * (1 + cos(pi * (double)epoch / (double)t_max)) / 2;
}

double tg_lr_linear_warmup(double base_lr, int64_t epoch, int64_t warmup_steps,
                           double start_factor) {
    if (!ok_rate(base_lr) || epoch < 0 || warmup_steps < 1 || !(start_factor >= 0) ||
        !(start_factor <= 1))
        return NAN;
    int64_t e = epoch < warmup_steps ? epoch : warmup_steps;
    return base_lr * (start_factor + (1 - start_factor) * (double)e / (double)warmup_steps);
}

/* Why a schedule is invalid, or NULL when it is fine. */
static const char *schedule_problem(const tg_lr_schedule *s) {
    if (!ok_rate(s->base_lr)) return "base_lr must be finite and >= 0";
    if (s->warmup_steps < 0) return "warmup_steps must be >= 0";
    if (s->warmup_steps > 0 && !(s->warmup_start_factor >= 0 && s->warmup_start_factor <= 1))
        return "warmup_start_factor must be in [0, 1]";
    switch (s->kind) {
    case TG_LR_CONSTANT:
        return NULL;
    case TG_LR_STEP:
        if (s->step_size < 1) return "step_size must be >= 1";
        return ok_rate(s->gamma) ? NULL : "gamma must be finite and >= 0";
    case TG_LR_EXPONENTIAL:
        return ok_rate(s->gamma) ? NULL : "gamma must be finite and >= 0";
    case TG_LR_COSINE:
        if (s->t_max < 1) return "t_max must be >= 1";
        return ok_rate(s->eta_min) ? NULL : "eta_min must be finite and >= 0";
    }
    return "unknown kind";
}

double tg_lr_at(const tg_lr_schedule *s, int64_t epoch) {
    if (!s || epoch < 0 || schedule_problem(s)) return NAN;
    if (epoch < s->warmup_steps)
        return tg_lr_linear_warmup(s->base_lr, epoch, s->warmup_steps, s->warmup_start_factor);
    int64_t e = epoch - s->warmup_steps;
    switch (s->kind) {
    case TG_LR_CONSTANT:
        return s->base_lr;
    case TG_LR_STEP:
        return tg_lr_step(s->base_lr, e, s->step_size, s->gamma);
    case TG_LR_EXPONENTIAL:
        return tg_lr_exponential(s->base_lr, e, s->gamma);
    case TG_LR_COSINE:
        return tg_lr_cosine(s->base_lr, e, s->t_max, s->eta_min);
    }
    return NAN;
}

tg_status tg_optim_schedule(tg_optim *o, const tg_lr_schedule *s, int64_t epoch, tg_error *err) {
    if (!o || !s)
        return tg_error_set(err, TG_ERR_NULL, "tg_optim_schedule: the %s is NULL",
                            o ? "schedule" : "optimiser");
    const char *why = schedule_problem(s);
    if (why) return tg_error_set(err, TG_ERR_ARG, "tg_optim_schedule: %s", why);
    if (epoch < 0)
        return tg_error_set(err, TG_ERR_ARG, "tg_optim_schedule: epoch is %lld; it must be >= 0",
                            (long long)epoch);
    return tg_optim_set_lr(o, tg_lr_at(s, epoch), err);
}
