/* vc_runner.h - runs the conformance suite over backends x models and reports (progress, matrix, JUnit, TAP, JSON). */
#ifndef VMSIM_CONFORMANCE_VC_RUNNER_H
#define VMSIM_CONFORMANCE_VC_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <vmsim/vmsim.h>

#include "../vc.h"

enum vc_status { VC_PASS, VC_SKIP, VC_FAIL };

struct vc_result {
	const struct vc_test *test;
	size_t backend;          /* index into the run's backends */
	enum vmsim_model model;
	enum vc_status status;
	char *message;           /* skip reason or failure output; malloc'ed, may be NULL */
	double seconds;
};

struct vc_backend {
	const char *name;
	const char *plugin;      /* NULL for a built-in backend */
	const struct vmsim_backend_ops *ops;
};

struct vc_run_config {
	const char *backends;    /* comma-separated built-in names, "all", or NULL */
	const char *plugin;      /* --backend-so PATH, or NULL */
	const char *model;       /* "svm", "vmx" or "all" */
	const char *filter;      /* fnmatch pattern or substring of "section/name", NULL for all */
	bool canary;             /* run only the canary tests (which must fail) */
	bool tap;                /* TAP on out instead of progress lines */
	bool no_fork;            /* run tests in this process (debugging; a crash ends the run) */
	const char *junit;       /* file or NULL */
	const char *json;        /* file or NULL */
	unsigned timeout;        /* seconds per test; 0: 120 */
	FILE *out, *err;
	const char *profile;     /* kernel profile name (vmsim/profile.h); NULL: "vmsim" */
};

struct vc_run {
	const struct vc_run_config *cfg;
	struct vc_backend backends[8];
	size_t nbackends;
	const struct vmsim_profile *profile;
	enum vmsim_model models[2];
	size_t nmodels;
	const struct vc_test **tests;
	size_t ntests;
	struct vc_result *results;
	size_t nresults;
};

/* Run what cfg selects; returns 0 if nothing failed, 1 on any failure, 2 for a bad configuration. */
int vc_run(const struct vc_run_config *cfg);

/* Whether test matches the filter pattern (NULL matches everything). */
bool vc_filter_match(const char *pattern, const struct vc_test *test);

/* Reports of a finished run (vc_report.c). */
void vc_print_caps(const struct vc_run *run, FILE *out, const char *prefix);
void vc_print_matrix(const struct vc_run *run, FILE *out, const char *prefix);
int vc_write_junit(const struct vc_run *run, const char *path);
int vc_write_json(const struct vc_run *run, const char *path);
const char *vc_status_name(enum vc_status status);

#endif
