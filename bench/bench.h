/* bench/bench.h - the exit-path benchmark library behind `vmsim bench`: records, runners, output. */
#ifndef VMSIM_BENCH_BENCH_H
#define VMSIM_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <vmsim/vmsim.h>

/* How long each measurement may run and how many samples it aims for. */
struct bench_options {
	bool quick;          /* smoke mode: a few samples per case, small scaling ranges */
	const char *backend; /* only this backend; NULL for all */
	const char *only_case; /* only this exit case, no scaling (for profiling); NULL for all */
	FILE *progress;      /* one line per finished record; NULL for silence */
};

/* One row of the report. Times are nanoseconds; a missing value is NaN (null in JSON). */
struct bench_record {
	char backend[16];
	char model[8];      /* "svm", "vmx", or "none" for rows without a model */
	char name[40];      /* the case: "io_out", "vcpus_16", "attach_1000" ... */
	char series[16];    /* "exit", "vcpus", "attach", "access", "detach", "session", "vcpu", "raw" */
	double x;           /* the scaling parameter (vCPUs, attachments); 0 for exit cases */
	double p50_ns, p99_ns;
	double baseline_p50_ns, ratio;
	uint64_t iterations;    /* operations measured (exits, ops) */
	double per_vcpu_rate;   /* vcpus series: exits per second per vCPU (p50 based); NaN elsewhere */
	double aggregate_rate;  /* vcpus series: exits per second, all vCPUs together */
	char baseline[96];      /* what the baseline is */
	char skip[160];         /* non-empty: skipped, and why */
};

/* Host, toolchain and source facts that make numbers comparable. */
struct bench_provenance {
	char cpu_model[128];
	unsigned cores;
	char kernel[128];
	char unicorn[32];
	char capstone[32];
	char compiler[96];
	char build_type[32];
	char git_revision[64];
	char date[40];
	char sampling[256];
};

struct bench_report {
	struct bench_provenance prov;
	struct bench_record *records;
	size_t count, cap;
	double wall_seconds;
};

/* ---- samples (stats.c) ---- */

struct bench_samples {
	double *v;
	size_t n, cap;
};

uint64_t vmsim_bench_now_ns(void);
/* Append one sample; false if memory ran out (the sample is dropped). */
bool vmsim_bench_sample_add(struct bench_samples *s, double value);
/* The q-quantile (0..1) by nearest rank; NaN for no samples. Sorts s in place. */
double vmsim_bench_quantile(struct bench_samples *s, double q);
void vmsim_bench_samples_free(struct bench_samples *s);

/* ---- report (report.c) ---- */

/* A zeroed record with NaN times and the given names; NULL if memory ran out. Valid until the next add. */
struct bench_record *vmsim_bench_report_add(struct bench_report *r, const char *backend, const char *model,
                                            const char *name, const char *series);
/* Set p50/p99 from samples, the baseline p50 from base (may be NULL), and the ratio. */
void vmsim_bench_record_fill(struct bench_record *rec, struct bench_samples *s, struct bench_samples *base);
void vmsim_bench_report_free(struct bench_report *r);
/* The human table. */
void vmsim_bench_print_table(const struct bench_report *r, FILE *out);
/* The JSON document (schema "vmsim-bench/1"); false on a write error. */
bool vmsim_bench_write_json(const struct bench_report *r, FILE *out);

/* ---- provenance (provenance.c) ---- */
void vmsim_bench_provenance(struct bench_provenance *p);

/* ---- runners ---- */

/* NULL if opt's backend and case name ones that exist, else a message saying which do (nothing was measured). */
const char *vmsim_bench_check_options(const struct bench_options *opt, char *why, size_t n);
/* Every backend x model x exit case (exit_cases.c), then the scaling curves (scaling.c). */
enum vmsim_result vmsim_bench_run(const struct bench_options *opt, struct bench_report *report);
enum vmsim_result vmsim_bench_exit_cases(const struct bench_options *opt, const char *backend,
                                         struct bench_report *report);
enum vmsim_result vmsim_bench_scaling(const struct bench_options *opt, const char *backend,
                                      struct bench_report *report);
/* The name of the i-th raw-only row (Unicorn's stop/restart exit, the backend's hook floor), NULL past the last. */
const char *vmsim_bench_raw_row_name(unsigned i);

/* ---- plot and compare (plot.c, compare.c) ---- */

/* Draw the exit cases and scaling curves into png with gnuplot; false with a message on err. */
bool vmsim_bench_plot(const struct bench_report *r, const char *png, FILE *err);
struct bench_compare_old;
/* Read and validate an earlier --json file (regular, <= 64 MiB, records with string keys); NULL with a message. */
struct bench_compare_old *vmsim_bench_compare_load(const char *path, FILE *err);
/* Print the change per case of r against old. */
void vmsim_bench_compare(const struct bench_report *r, const struct bench_compare_old *old, FILE *out);
/* Free what vmsim_bench_compare_load returned; NULL is a no-op. */
void vmsim_bench_compare_free(struct bench_compare_old *old);

#endif
