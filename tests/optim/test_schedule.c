/* test_schedule.c: learning-rate schedules against torch.optim.lr_scheduler over 25 epochs
 * (tests/fixtures/optim_schedules.txt: torch's schedulers stepped once per epoch, so the values
 * are what a PyTorch user sees), the helper that sets an optimiser's lr, and invalid schedules. */
#include <string.h>

#include "../fixture.h"
#include "../test_util.h"

static fixture sched_fixture;

static void setup(void) {
    ck_assert_msg(fixture_load(&sched_fixture, "optim_schedules"), "%s", sched_fixture.error);
}
static void teardown(void) { fixture_free(&sched_fixture); }

static const fixture_tensor *get(const char *name) {
    const fixture_tensor *x = fixture_get(&sched_fixture, name);
    ck_assert_msg(x != NULL, "optim_schedules has no %s", name);
    return x;
}

/* torch's values come from its recursive (chainable) form; they equal the closed form up to
 * rounding that grows a little with the epoch. */
static void expect_lr(const char *what, int64_t epoch, double got, double want) {
    ck_assert_msg(fabs(got - want) <= 1e-12 * fabs(want) + 1e-16,
                  "%s at epoch %lld: got %.17g, want %.17g", what, (long long)epoch, got, want);
}

/* The schedule as data, from the fixture's hyper-parameters (in the order its note gives). */
static tg_lr_schedule schedule_for(const char *name) {
    double base = get("base_lr")->values[0];
    char key[64];
    snprintf(key, sizeof key, "%s_hyper", name);
    const double *h = get(key)->values;
    tg_lr_schedule s = {.kind = TG_LR_CONSTANT, .base_lr = base};
    if (strcmp(name, "step") == 0) {
        s.kind = TG_LR_STEP;
        s.step_size = (int64_t)h[0];
        s.gamma = h[1];
    } else if (strcmp(name, "exponential") == 0) {
        s.kind = TG_LR_EXPONENTIAL;
        s.gamma = h[0];
    } else if (strcmp(name, "cosine") == 0) {
        s.kind = TG_LR_COSINE;
        s.t_max = (int64_t)h[0];
        s.eta_min = h[1];
    } else {
        s.warmup_steps = (int64_t)h[0];
        s.warmup_start_factor = h[1];
        if (strcmp(name, "warmup_cosine") == 0) {
            s.kind = TG_LR_COSINE;
            s.t_max = (int64_t)h[2];
            s.eta_min = h[3];
        } else if (strcmp(name, "warmup_step") == 0) {
            s.kind = TG_LR_STEP;
            s.step_size = (int64_t)h[2];
            s.gamma = h[3];
        }
    }
    return s;
}

static const char *const schedules[] = {"step",   "exponential",   "cosine",
                                        "warmup", "warmup_cosine", "warmup_step"};

START_TEST(test_schedule_matches_torch) {
    const char *name = schedules[_i];
    tg_lr_schedule s = schedule_for(name);
    const fixture_tensor *want = get(name);
    ck_assert_int_ge(want->numel, 20);
    for (int64_t e = 0; e < want->numel; e++) expect_lr(name, e, tg_lr_at(&s, e), want->values[e]);
}
END_TEST

/* The pure functions give the same values as the schedules built from them. */
START_TEST(test_pure_functions_match_torch) {
    double base = get("base_lr")->values[0];
    const fixture_tensor *step = get("step"), *ex = get("exponential"), *cs = get("cosine"),
                         *wu = get("warmup");
    const double *hs = get("step_hyper")->values, *he = get("exponential_hyper")->values,
                 *hc = get("cosine_hyper")->values, *hw = get("warmup_hyper")->values;
    for (int64_t e = 0; e < step->numel; e++) {
        expect_lr("tg_lr_step", e, tg_lr_step(base, e, (int64_t)hs[0], hs[1]), step->values[e]);
        expect_lr("tg_lr_exponential", e, tg_lr_exponential(base, e, he[0]), ex->values[e]);
        expect_lr("tg_lr_cosine", e, tg_lr_cosine(base, e, (int64_t)hc[0], hc[1]), cs->values[e]);
        expect_lr("tg_lr_linear_warmup", e, tg_lr_linear_warmup(base, e, (int64_t)hw[0], hw[1]),
                  wu->values[e]);
    }
}
END_TEST

START_TEST(test_optimiser_follows_schedule) {
    tg_store *st = tg_store_new();
    tg_store_param(st, "w", TG_F64, TG_SHAPE(2));
    tg_error err = {0};
    tg_adam_options ao = tg_adam_defaults(0.1);
    tg_optim *o = tg_optim_adam(st, &ao, &err);
    ck_assert_ptr_nonnull(o);
    tg_lr_schedule s = schedule_for("warmup_cosine");
    const fixture_tensor *want = get("warmup_cosine");
    for (int64_t e = 0; e < want->numel; e++) {
        ck_assert_int_eq(tg_optim_schedule(o, &s, e, &err), TG_OK);
        expect_lr("tg_optim_schedule", e, tg_optim_lr(o), want->values[e]);
    }
    /* Invalid schedules and epochs are refused and leave the lr as it was. */
    double before = tg_optim_lr(o);
    s.t_max = 0;
    ck_assert_int_eq(tg_optim_schedule(o, &s, 3, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "t_max") != NULL, "%s", err.message);
    s = schedule_for("step");
    ck_assert_int_eq(tg_optim_schedule(o, &s, -1, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "epoch") != NULL, "%s", err.message);
    s.gamma = -0.5;
    ck_assert_int_eq(tg_optim_schedule(o, &s, 1, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "gamma") != NULL, "%s", err.message);
    ck_assert_double_eq(tg_optim_lr(o), before);
    ck_assert_int_eq(tg_optim_schedule(NULL, &s, 1, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_optim_schedule(o, NULL, 1, NULL), TG_ERR_NULL);
    tg_optim_free(o);
    tg_store_free(st);
}
END_TEST

/* Closed forms checked by hand where torch has no fixture: warm-up with a zero start, a
 * constant after warm-up, and the first epoch after warm-up giving exactly base_lr. */
START_TEST(test_hand_values) {
    ck_assert_double_eq(tg_lr_linear_warmup(0.5, 0, 4, 0.0), 0.0);
    ck_assert_double_eq(tg_lr_linear_warmup(0.5, 2, 4, 0.0), 0.25);
    ck_assert_double_eq(tg_lr_linear_warmup(0.5, 9, 4, 0.0), 0.5);
    tg_lr_schedule s = {
        .kind = TG_LR_CONSTANT, .base_lr = 0.2, .warmup_steps = 2, .warmup_start_factor = 0.5};
    ck_assert_double_eq(tg_lr_at(&s, 0), 0.1);
    ck_assert_double_eq_tol(tg_lr_at(&s, 1), 0.15, 1e-16);
    ck_assert_double_eq(tg_lr_at(&s, 2), 0.2);
    ck_assert_double_eq(tg_lr_at(&s, 100), 0.2);
    s.kind = TG_LR_COSINE;
    s.t_max = 10;
    ck_assert_double_eq(tg_lr_at(&s, 2), 0.2);
    ck_assert_double_eq_tol(tg_lr_at(&s, 12), 0.0, 1e-17);
    ck_assert_double_eq_tol(tg_lr_cosine(1.0, 5, 10, 0.0), 0.5, 1e-16);
    ck_assert_double_eq_tol(tg_lr_cosine(1.0, 15, 10, 0.25), 0.625, 1e-15); /* climbing back */
}
END_TEST

START_TEST(test_invalid_give_nan) {
    ck_assert(isnan(tg_lr_step(0.1, 3, 0, 0.5)));
    ck_assert(isnan(tg_lr_step(-0.1, 3, 2, 0.5)));
    ck_assert(isnan(tg_lr_step(0.1, -1, 2, 0.5)));
    ck_assert(isnan(tg_lr_exponential(0.1, 2, NAN)));
    ck_assert(isnan(tg_lr_cosine(0.1, 2, 0, 0)));
    ck_assert(isnan(tg_lr_cosine(0.1, 2, 5, -1)));
    ck_assert(isnan(tg_lr_linear_warmup(0.1, 2, 0, 0.5)));
    ck_assert(isnan(tg_lr_linear_warmup(0.1, 2, 5, 1.5)));
    ck_assert(isnan(tg_lr_at(NULL, 0)));
    /* A bad main schedule is bad during its warm-up too. */
    tg_lr_schedule s = {.kind = TG_LR_COSINE,
                        .base_lr = 0.1,
                        .warmup_steps = 5,
                        .warmup_start_factor = 0.5,
                        .t_max = 0};
    ck_assert(isnan(tg_lr_at(&s, 0)));
    s.t_max = 3;
    s.warmup_start_factor = -0.1;
    ck_assert(isnan(tg_lr_at(&s, 7)));
    s.warmup_start_factor = 0.5;
    s.kind = (tg_lr_kind)42;
    ck_assert(isnan(tg_lr_at(&s, 7)));
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim_schedule");
    TCase *tc = tcase_create("schedule");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_schedule_matches_torch, 0,
                        (int)(sizeof schedules / sizeof schedules[0]));
    tcase_add_test(tc, test_pure_functions_match_torch);
    tcase_add_test(tc, test_optimiser_follows_schedule);
    tcase_add_test(tc, test_hand_values);
    tcase_add_test(tc, test_invalid_give_nan);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
