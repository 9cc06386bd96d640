/* tests/support/vt_wait.c - bounded polling for tests (never a sleep as synchronisation: the condition decides). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "vt_wait.h"

void vt_wait_until(bool (*cond)(void *ctx), void *ctx, const char *what)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (cond(ctx))
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > VT_WAIT_SECONDS)
			fail_msg("timed out after %d s waiting for: %s", VT_WAIT_SECONDS, what);
		struct timespec pause = { 0, 200 * 1000 };
		nanosleep(&pause, NULL);
	}
}
