/* tests/support/vt_wait.h - the one wait helper of every test: polls a condition, fails the test after a bound. */
#ifndef VMSIM_TESTS_SUPPORT_VT_WAIT_H
#define VMSIM_TESTS_SUPPORT_VT_WAIT_H

#include <stdbool.h>

/* How long any test waits for anything before it fails (a broken backend fails, it does not hang). */
enum { VT_WAIT_SECONDS = 20 };

/* Poll cond(ctx) until it holds; after VT_WAIT_SECONDS fail the test (CMocka) naming what. */
void vt_wait_until(bool (*cond)(void *ctx), void *ctx, const char *what);

#endif
