/* bench/stats.c - samples, quantiles, and the batch clock every runner times exits with. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "bench_internal.h"

uint64_t vmsim_bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool vmsim_bench_sample_add(struct bench_samples *s, double value)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		double *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return false;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = value;
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double vmsim_bench_quantile(struct bench_samples *s, double q)
{
	if (!s || !s->n)
		return NAN;
	qsort(s->v, s->n, sizeof *s->v, cmp_double);
	/* nearest rank: the smallest sample with at least q of the samples at or below it */
	double rank = ceil(q * (double)s->n);
	size_t i = rank < 1 ? 0 : (size_t)rank - 1;
	return s->v[i < s->n ? i : s->n - 1];
}

void vmsim_bench_samples_free(struct bench_samples *s)
{
	free(s->v);
	*s = (struct bench_samples){ 0 };
}

void vmsim_bench_batch_start(struct bench_batcher *b, const struct bench_limits *lim, struct bench_samples *out)
{
	b->lim = *lim;
	if (!b->lim.batch)
		b->lim.batch = 1;
	b->out = out;
	b->k = 0;
	b->exits = 0;
	b->t_start = b->t_prev = vmsim_bench_now_ns();
}

bool vmsim_bench_batch_tick(struct bench_batcher *b)
{
	b->exits++;
	if (++b->k < b->lim.batch)
		return false;
	uint64_t t = vmsim_bench_now_ns();
	vmsim_bench_sample_add(b->out, (double)(t - b->t_prev) / b->k);
	b->k = 0;
	b->t_prev = t;
	return b->out->n >= b->lim.max_samples || t - b->t_start >= b->lim.duration_ns;
}

void vmsim_bench_limits(const struct bench_options *opt, enum bench_case c, struct bench_limits *out)
{
	/* exits that stop the engine or hop threads, and the 1,024-access guest loops, cost microseconds: fewer
	 * per sample */
	bool slow = c == BENCH_MMIO_WRITE || c == BENCH_MMIO_READ || c == BENCH_HLT || c == BENCH_IO_OUT_EP ||
	            c == BENCH_GUEST_LOADS || c == BENCH_GUEST_STORES;
	out->batch = c == BENCH_PAUSE ? 1 : slow ? 8 : BENCH_BATCH;
	out->max_samples = opt->quick ? 20 : c == BENCH_PAUSE ? 400 : 3000;
	out->duration_ns = opt->quick ? 20000000ull : 400000000ull;
}
