/* bench/report.c - the report's records: adding and filling them, the human table and the JSON document. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

struct bench_record *vmsim_bench_report_add(struct bench_report *r, const char *backend, const char *model,
                                            const char *name, const char *series)
{
	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct bench_record *p = realloc(r->records, cap * sizeof *p);
		if (!p)
			return NULL;
		r->records = p;
		r->cap = cap;
	}
	struct bench_record *rec = &r->records[r->count++];
	memset(rec, 0, sizeof *rec);
	snprintf(rec->backend, sizeof rec->backend, "%s", backend);
	snprintf(rec->model, sizeof rec->model, "%s", model);
	snprintf(rec->name, sizeof rec->name, "%s", name);
	snprintf(rec->series, sizeof rec->series, "%s", series);
	rec->p50_ns = rec->p99_ns = rec->baseline_p50_ns = rec->ratio = NAN;
	rec->per_vcpu_rate = rec->aggregate_rate = NAN;
	return rec;
}

void vmsim_bench_record_fill(struct bench_record *rec, struct bench_samples *s, struct bench_samples *base)
{
	if (!s || !s->n) {
		/* a run that ended without one sample measured nothing: the row says so instead of p50 null */
		snprintf(rec->skip, sizeof rec->skip, "failed: the run ended without a single sample");
		return;
	}
	rec->p50_ns = vmsim_bench_quantile(s, 0.50);
	rec->p99_ns = vmsim_bench_quantile(s, 0.99);
	rec->baseline_p50_ns = base ? vmsim_bench_quantile(base, 0.50) : NAN;
	rec->ratio = rec->baseline_p50_ns > 0 ? rec->p50_ns / rec->baseline_p50_ns : NAN;
}

void vmsim_bench_report_free(struct bench_report *r)
{
	free(r->records);
	r->records = NULL;
	r->count = r->cap = 0;
}

static void cell(FILE *out, double v, const char *fmt)
{
	if (isnan(v))
		fprintf(out, "%10s", "-");
	else
		fprintf(out, fmt, v);
}

static void print_row(FILE *out, const struct bench_record *rec)
{
	fprintf(out, "%-8s %-5s %-22s ", rec->backend, rec->model, rec->name);
	if (rec->skip[0]) {
		fprintf(out, "skipped: %s\n", rec->skip);
		return;
	}
	cell(out, rec->p50_ns, "%10.0f");
	fputc(' ', out);
	cell(out, rec->p99_ns, "%10.0f");
	fputc(' ', out);
	cell(out, rec->baseline_p50_ns, "%10.0f");
	fputc(' ', out);
	if (isnan(rec->ratio))
		fprintf(out, "%8s", "-");
	else
		fprintf(out, "%8.2f", rec->ratio);
	fprintf(out, " %10llu", (unsigned long long)rec->iterations);
	if (!isnan(rec->per_vcpu_rate))
		fprintf(out, "  %.3g exits/s/vCPU, %.3g total", rec->per_vcpu_rate, rec->aggregate_rate);
	fputc('\n', out);
}

void vmsim_bench_print_table(const struct bench_report *r, FILE *out)
{
	fprintf(out, "%-8s %-5s %-22s %10s %10s %10s %8s %10s\n", "backend", "model", "case", "p50 ns", "p99 ns",
	        "base p50", "ratio", "iters");
	/* grouped by series, in the order each series first appears */
	for (size_t first = 0; first < r->count; first++) {
		const char *series = r->records[first].series;
		bool seen = false;
		for (size_t k = 0; k < first && !seen; k++)
			seen = !strcmp(r->records[k].series, series);
		if (seen)
			continue;
		fprintf(out, "-- %s\n", series);
		for (size_t i = first; i < r->count; i++)
			if (!strcmp(r->records[i].series, series))
				print_row(out, &r->records[i]);
	}
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void json_number(FILE *out, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", out);
	else
		fprintf(out, "%.6g", v);
}

static void json_field(FILE *out, const char *key, const char *value, bool last)
{
	fprintf(out, "    ");
	json_string(out, key);
	fputs(": ", out);
	json_string(out, value);
	fputs(last ? "\n" : ",\n", out);
}

bool vmsim_bench_write_json(const struct bench_report *r, FILE *out)
{
	const struct bench_provenance *p = &r->prov;
	fputs("{\n  \"schema\": \"vmsim-bench/1\",\n  \"provenance\": {\n", out);
	json_field(out, "cpu_model", p->cpu_model, false);
	fprintf(out, "    \"cores\": %u,\n", p->cores);
	json_field(out, "kernel", p->kernel, false);
	json_field(out, "unicorn", p->unicorn, false);
	json_field(out, "capstone", p->capstone, false);
	json_field(out, "compiler", p->compiler, false);
	json_field(out, "build_type", p->build_type, false);
	json_field(out, "git_revision", p->git_revision, false);
	json_field(out, "date", p->date, false);
	json_field(out, "sampling", p->sampling, true);
	fprintf(out, "  },\n  \"wall_seconds\": %.1f,\n  \"records\": [\n", r->wall_seconds);
	for (size_t i = 0; i < r->count; i++) {
		const struct bench_record *rec = &r->records[i];
		fputs("    {\"backend\": ", out);
		json_string(out, rec->backend);
		fputs(", \"model\": ", out);
		json_string(out, rec->model);
		fputs(", \"case\": ", out);
		json_string(out, rec->name);
		fputs(", \"series\": ", out);
		json_string(out, rec->series);
		fputs(", \"x\": ", out);
		json_number(out, rec->x);
		fputs(",\n     \"p50_ns\": ", out);
		json_number(out, rec->p50_ns);
		fputs(", \"p99_ns\": ", out);
		json_number(out, rec->p99_ns);
		fputs(", \"baseline_p50_ns\": ", out);
		json_number(out, rec->baseline_p50_ns);
		fputs(", \"ratio\": ", out);
		json_number(out, rec->ratio);
		fprintf(out, ", \"iterations\": %llu", (unsigned long long)rec->iterations);
		if (!isnan(rec->per_vcpu_rate)) {
			fputs(", \"per_vcpu_exits_per_s\": ", out);
			json_number(out, rec->per_vcpu_rate);
			fputs(", \"aggregate_exits_per_s\": ", out);
			json_number(out, rec->aggregate_rate);
		}
		fputs(",\n     \"baseline\": ", out);
		json_string(out, rec->baseline);
		/* every row is measured (a p50) or skipped with a reason, never neither */
		bool unmeasured = !rec->skip[0] && !isfinite(rec->p50_ns);
		fprintf(out, ", \"skipped\": %s, \"reason\": ", rec->skip[0] || unmeasured ? "true" : "false");
		if (rec->skip[0])
			json_string(out, rec->skip);
		else if (unmeasured)
			json_string(out, "failed: no p50 was measured and no reason was given");
		else
			fputs("null", out);
		fputs(i + 1 < r->count ? "},\n" : "}\n", out);
	}
	fputs("  ]\n}\n", out);
	return !ferror(out);
}
