/* bench/compare.c - --compare OLD.json: the change of every case against an earlier run, regressions flagged. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "json_read.h"

/* A ratio that grew by more than this is flagged: ratios are robust to machine load, absolute times are not. */
#define REGRESSION_FACTOR 1.20

static char *read_file(const char *path, FILE *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(err, "vmsim bench: cannot open '%s'\n", path);
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *text = malloc(cap);
	while (text) {
		n += fread(text + n, 1, cap - n - 1, f);
		if (n < cap - 1)
			break;
		char *t = realloc(text, cap *= 2);
		if (!t)
			free(text);
		text = t;
	}
	fclose(f);
	if (text)
		text[n] = 0;
	return text;
}

static const char *str(const struct bench_json *rec, const char *key)
{
	const struct bench_json *v = vmsim_bench_json_get(rec, key);
	return v && v->type == BENCH_JSON_STRING ? v->string : "";
}

static double num(const struct bench_json *rec, const char *key)
{
	const struct bench_json *v = vmsim_bench_json_get(rec, key);
	return v && v->type == BENCH_JSON_NUMBER ? v->number : NAN;
}

static const struct bench_json *find_old(const struct bench_json *records, const struct bench_record *rec)
{
	for (size_t i = 0; i < records->count; i++) {
		const struct bench_json *o = &records->items[i];
		if (!strcmp(str(o, "backend"), rec->backend) && !strcmp(str(o, "model"), rec->model) &&
		    !strcmp(str(o, "case"), rec->name))
			return o;
	}
	return NULL;
}

static void change(FILE *out, double old, double now)
{
	if (isnan(old) || isnan(now) || old <= 0)
		fprintf(out, " %8s", "-");
	else
		fprintf(out, " %+7.1f%%", (now / old - 1) * 100);
}

bool vmsim_bench_compare(const struct bench_report *r, const char *old_json, FILE *out, FILE *err)
{
	char *text = read_file(old_json, err);
	if (!text)
		return false;
	size_t at = 0;
	struct bench_json *root = vmsim_bench_json_parse(text, &at);
	free(text);
	const struct bench_json *records = root ? vmsim_bench_json_get(root, "records") : NULL;
	if (!records || records->type != BENCH_JSON_ARRAY) {
		fprintf(err, "vmsim bench: '%s' is not a vmsim bench JSON document%s\n", old_json,
		        root ? " (no records)" : " (syntax error)");
		vmsim_bench_json_free(root);
		free(root);
		return false;
	}
	const struct bench_json *prov = vmsim_bench_json_get(root, "provenance");
	fprintf(out, "\nchange against %s (git %s, %s)\n", old_json, str(prov, "git_revision"), str(prov, "date"));
	fprintf(out, "%-8s %-5s %-22s %10s %10s %9s %8s %8s %9s\n", "backend", "model", "case", "old p50", "new p50",
	        "p50", "old rat", "new rat", "ratio");
	unsigned flagged = 0;
	for (size_t i = 0; i < r->count; i++) {
		const struct bench_record *rec = &r->records[i];
		const struct bench_json *o = find_old(records, rec);
		fprintf(out, "%-8s %-5s %-22s ", rec->backend, rec->model, rec->name);
		if (!o) {
			fprintf(out, "new case\n");
			continue;
		}
		double op50 = num(o, "p50_ns"), oratio = num(o, "ratio");
		if (rec->skip[0] || isnan(op50)) {
			fprintf(out, "%s\n", rec->skip[0] ? "skipped now" : "skipped before");
			continue;
		}
		fprintf(out, "%10.0f %10.0f", op50, rec->p50_ns);
		change(out, op50, rec->p50_ns);
		if (isnan(oratio) || isnan(rec->ratio)) {
			fprintf(out, " %8s %8s %9s", "-", "-", "-");
		} else {
			fprintf(out, " %8.2f %8.2f", oratio, rec->ratio);
			change(out, oratio, rec->ratio);
		}
		if (!isnan(oratio) && !isnan(rec->ratio) && rec->ratio > oratio * REGRESSION_FACTOR) {
			fprintf(out, "  REGRESSION?");
			flagged++;
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < records->count; i++) {
		const struct bench_json *o = &records->items[i];
		bool present = false;
		for (size_t k = 0; k < r->count && !present; k++)
			present = !strcmp(str(o, "backend"), r->records[k].backend) &&
			          !strcmp(str(o, "model"), r->records[k].model) && !strcmp(str(o, "case"), r->records[k].name);
		if (!present)
			fprintf(out, "%-8s %-5s %-22s gone from this run\n", str(o, "backend"), str(o, "model"), str(o, "case"));
	}
	fprintf(out, "%u case(s) whose ratio grew by more than %.0f%%\n", flagged, (REGRESSION_FACTOR - 1) * 100);
	vmsim_bench_json_free(root);
	free(root);
	return true;
}
