/* bench/compare.c - --compare OLD.json: the change of every case against an earlier run, regressions flagged.
 * The document is read and validated (Debian's jansson) before the benchmark runs. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_internal.h"
#include "file_read.h"

/* A ratio that grew by more than this is flagged: ratios are robust to machine load, absolute times are not. */
#define REGRESSION_FACTOR 1.20
/* A `vmsim bench --json` document is tens of KiB; anything past this is not one. */
#define MAX_COMPARE_BYTES (64 << 20)

struct bench_compare_old {
	json_t *root;
	json_t *records; /* borrowed from root: an array of objects with string backend, model, case */
	char *path;
};

/* The whole file if it is a regular file of at most MAX_COMPARE_BYTES; NULL with a message otherwise. */
static char *read_file(const char *path, size_t *len, FILE *err)
{
	struct file_read file;
	if (file_read_whole(path, MAX_COMPARE_BYTES, &file)) {
		*len = file.size;
		return (char *)file.data;
	}
	switch (file.error) {
	case FILE_READ_OPEN:
		fprintf(err, "vmsim bench: --compare '%s': %s\n", path, strerror(file.errnum));
		break;
	case FILE_READ_NOT_REGULAR:
		fprintf(err, "vmsim bench: --compare '%s': not a regular file\n", path);
		break;
	case FILE_READ_TOO_LARGE:
		fprintf(err, "vmsim bench: --compare '%s': larger than 64 MiB\n", path);
		break;
	case FILE_READ_OK:
	case FILE_READ_SHORT:
		fprintf(err, "vmsim bench: --compare '%s': cannot read it\n", path);
		break;
	}
	return NULL;
}

struct bench_compare_old *vmsim_bench_compare_load(const char *path, FILE *err)
{
	size_t len = 0;
	char *text = read_file(path, &len, err);
	if (!text)
		return NULL;
	json_error_t error;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
	free(text);
	if (!root) {
		fprintf(err, "vmsim bench: '%s' is not a vmsim bench JSON document: %s (line %d, column %d)\n", path,
		        error.text, error.line, error.column);
		return NULL;
	}
	const char *why = NULL;
	json_t *records = json_object_get(root, "records");
	if (!json_is_object(root))
		why = "the document is not an object";
	else if (!json_is_array(records))
		why = "no \"records\" array";
	for (size_t i = 0; !why && i < json_array_size(records); i++) {
		json_t *rec = json_array_get(records, i);
		if (!json_is_object(rec) || !json_is_string(json_object_get(rec, "backend")) ||
		    !json_is_string(json_object_get(rec, "model")) || !json_is_string(json_object_get(rec, "case")))
			why = "a record is not an object with string backend, model and case";
	}
	struct bench_compare_old *old = why ? NULL : calloc(1, sizeof *old);
	if (old && !(old->path = strdup(path))) {
		free(old);
		old = NULL;
	}
	if (!old) {
		fprintf(err, "vmsim bench: '%s' is not a vmsim bench JSON document: %s\n", path, why ? why : "out of memory");
		json_decref(root);
		return NULL;
	}
	old->root = root;
	old->records = records;
	return old;
}

void vmsim_bench_compare_free(struct bench_compare_old *old)
{
	if (!old)
		return;
	json_decref(old->root);
	free(old->path);
	free(old);
}

static const char *str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s ? s : "";
}

static double num(const json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const json_t *find_old(const json_t *records, const struct bench_record *rec)
{
	for (size_t i = 0; i < json_array_size(records); i++) {
		const json_t *o = json_array_get(records, i);
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

void vmsim_bench_compare(const struct bench_report *r, const struct bench_compare_old *old, FILE *out)
{
	const json_t *records = old->records;
	const char *old_json = old->path;
	const json_t *prov = json_object_get(old->root, "provenance");
	fprintf(out, "\nchange against %s (git %s, %s)\n", old_json, str(prov, "git_revision"), str(prov, "date"));
	fprintf(out, "%-8s %-5s %-22s %10s %10s %9s %8s %8s %9s\n", "backend", "model", "case", "old p50", "new p50",
	        "p50", "old rat", "new rat", "ratio");
	unsigned flagged = 0;
	for (size_t i = 0; i < r->count; i++) {
		const struct bench_record *rec = &r->records[i];
		const json_t *o = find_old(records, rec);
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
	for (size_t i = 0; i < json_array_size(records); i++) {
		const json_t *o = json_array_get(records, i);
		bool present = false;
		for (size_t k = 0; k < r->count && !present; k++)
			present = !strcmp(str(o, "backend"), r->records[k].backend) &&
			          !strcmp(str(o, "model"), r->records[k].model) && !strcmp(str(o, "case"), r->records[k].name);
		if (!present)
			fprintf(out, "%-8s %-5s %-22s gone from this run\n", str(o, "backend"), str(o, "model"), str(o, "case"));
	}
	fprintf(out, "%u case(s) whose ratio grew by more than %.0f%%\n", flagged, (REGRESSION_FACTOR - 1) * 100);
}
