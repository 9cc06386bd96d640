/* vc_report.c - the conformance run's reports: capability matrix, result matrix, JUnit XML and JSON. */
#include <stdlib.h>
#include <string.h>

#include "vc_runner.h"

const char *vc_status_name(enum vc_status status)
{
	return status == VC_PASS ? "PASS" : status == VC_SKIP ? "SKIP" : "FAIL";
}

#define VC_CAP_BIT_(name, bit, text) | VMSIM_CAP_##name
static const uint64_t all_caps_bits = 0 VMSIM_BACKEND_CAP_LIST(VC_CAP_BIT_) VMSIM_BACKEND_CAP_LIST_WIDE(VC_CAP_BIT_);
#undef VC_CAP_BIT_

void vc_print_caps(const struct vc_run *run, FILE *out, const char *prefix)
{
	fprintf(out, "%sbackend capability matrix (yes / -: absent, reason below)\n%s%-20s", prefix, prefix, "capability");
	for (size_t b = 0; b < run->nbackends; b++)
		fprintf(out, " %-12s", run->backends[b].name);
	fputc('\n', out);
	for (uint64_t bit = 1; bit & all_caps_bits; bit <<= 1) {
		fprintf(out, "%s%-20s", prefix, vmsim_backend_cap_name(bit));
		for (size_t b = 0; b < run->nbackends; b++)
			fprintf(out, " %-12s", run->backends[b].ops->caps & bit ? "yes" : "-");
		fputc('\n', out);
	}
	for (size_t b = 0; b < run->nbackends; b++) {
		const struct vmsim_backend_ops *ops = run->backends[b].ops;
		for (uint64_t bit = 1; bit & all_caps_bits; bit <<= 1)
			if (!(ops->caps & bit)) {
				const char *gap = ops->cap_gap ? ops->cap_gap(bit) : NULL;
				fprintf(out, "%s  %s lacks %s: %s\n", prefix, ops->name, vmsim_backend_cap_name(bit),
				        gap ? gap : "(no reason given)");
			}
	}
	fflush(out);
}

/* Sections in order of first appearance. */
static size_t sections(const struct vc_run *run, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < run->ntests; i++) {
		size_t j = 0;
		while (j < n && strcmp(out[j], run->tests[i]->section))
			j++;
		if (j == n && n < max)
			out[n++] = run->tests[i]->section;
	}
	return n;
}

static void count(const struct vc_run *run, const char *section, size_t b, enum vmsim_model m, unsigned c[3])
{
	c[0] = c[1] = c[2] = 0;
	for (size_t i = 0; i < run->nresults; i++) {
		const struct vc_result *r = &run->results[i];
		if (r->backend == b && r->model == m && (!section || !strcmp(r->test->section, section)))
			c[r->status]++;
	}
}

void vc_print_matrix(const struct vc_run *run, FILE *out, const char *prefix)
{
	const char *secs[64];
	size_t ns = sections(run, secs, 64);
	fprintf(out, "%sconformance matrix (pass/skip/fail per section x backend x model), profile %s\n%s%-12s",
	        prefix, run->profile ? run->profile->name : "vmsim", prefix, "section");
	for (size_t b = 0; b < run->nbackends; b++)
		for (size_t m = 0; m < run->nmodels; m++) {
			char col[64];
			snprintf(col, sizeof col, "%s/%s", run->backends[b].name, vmsim_model_name(run->models[m]));
			fprintf(out, " %-16s", col);
		}
	fputc('\n', out);
	for (size_t s = 0; s <= ns; s++) {
		fprintf(out, "%s%-12s", prefix, s < ns ? secs[s] : "TOTAL");
		for (size_t b = 0; b < run->nbackends; b++)
			for (size_t m = 0; m < run->nmodels; m++) {
				unsigned c[3];
				count(run, s < ns ? secs[s] : NULL, b, run->models[m], c);
				char cell[64];
				snprintf(cell, sizeof cell, "%u/%u/%u", c[VC_PASS], c[VC_SKIP], c[VC_FAIL]);
				fprintf(out, " %-16s", cell);
			}
		fputc('\n', out);
	}
	fflush(out);
}

static void xml_escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '<')
			fputs("&lt;", f);
		else if (ch == '>')
			fputs("&gt;", f);
		else if (ch == '&')
			fputs("&amp;", f);
		else if (ch == '"')
			fputs("&quot;", f);
		else if (ch < 0x20 && ch != '\n' && ch != '\t')
			fputc('?', f); /* not allowed in XML 1.0 */
		else
			fputc(ch, f);
	}
}

int vc_write_junit(const struct vc_run *run, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	unsigned all[3];
	unsigned tot[3] = { 0, 0, 0 };
	for (size_t b = 0; b < run->nbackends; b++)
		for (size_t m = 0; m < run->nmodels; m++) {
			count(run, NULL, b, run->models[m], all);
			for (int i = 0; i < 3; i++)
				tot[i] += all[i];
		}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"vmsim conform\" profile=\"%s\" "
	           "tests=\"%u\" failures=\"%u\" skipped=\"%u\">\n",
	        run->profile ? run->profile->name : "vmsim", tot[0] + tot[1] + tot[2], tot[VC_FAIL], tot[VC_SKIP]);
	for (size_t b = 0; b < run->nbackends; b++)
		for (size_t m = 0; m < run->nmodels; m++) {
			const char *backend = run->backends[b].name, *model = vmsim_model_name(run->models[m]);
			count(run, NULL, b, run->models[m], all);
			fprintf(f, "  <testsuite name=\"%s.%s\" tests=\"%u\" failures=\"%u\" skipped=\"%u\" errors=\"0\">\n",
			        backend, model, all[0] + all[1] + all[2], all[VC_FAIL], all[VC_SKIP]);
			for (size_t i = 0; i < run->nresults; i++) {
				const struct vc_result *r = &run->results[i];
				if (r->backend != b || r->model != run->models[m])
					continue;
				fprintf(f, "    <testcase classname=\"%s.%s.%s\" name=\"%s\" time=\"%.3f\"", backend, model,
				        r->test->section, r->test->name, r->seconds);
				if (r->status == VC_PASS) {
					fputs("/>\n", f);
					continue;
				}
				fputs(">\n", f);
				if (r->status == VC_SKIP) {
					fputs("      <skipped message=\"", f);
					xml_escaped(f, r->message ? r->message : "skipped");
					fputs("\"/>\n", f);
				} else {
					fputs("      <failure message=\"test failed\">", f);
					xml_escaped(f, r->message);
					fputs("</failure>\n", f);
				}
				fputs("    </testcase>\n", f);
			}
			fputs("  </testsuite>\n", f);
		}
	fputs("</testsuites>\n", f);
	return fclose(f) ? 1 : 0;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_backends(const struct vc_run *run, FILE *f)
{
	fputs("  \"backends\": [\n", f);
	for (size_t b = 0; b < run->nbackends; b++) {
		const struct vmsim_backend_ops *ops = run->backends[b].ops;
		fputs("    {\"name\": ", f);
		json_string(f, ops->name);
		fputs(", \"plugin\": ", f);
		if (run->backends[b].plugin)
			json_string(f, run->backends[b].plugin);
		else
			fputs("null", f);
		fputs(", \"caps\": {", f);
		const char *sep = "";
		for (uint64_t bit = 1; bit & all_caps_bits; bit <<= 1) {
			fprintf(f, "%s\"%s\": ", sep, vmsim_backend_cap_name(bit));
			if (ops->caps & bit)
				fputs("true", f);
			else
				json_string(f, ops->cap_gap && ops->cap_gap(bit) ? ops->cap_gap(bit) : "absent");
			sep = ", ";
		}
		fprintf(f, "}}%s\n", b + 1 < run->nbackends ? "," : "");
	}
	fputs("  ],\n", f);
}

int vc_write_json(const struct vc_run *run, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fputs("{\n  \"schema\": \"vmsim-conform-1\",\n  \"profile\": ", f);
	json_string(f, run->profile ? run->profile->name : "vmsim");
	fputs(",\n", f);
	json_backends(run, f);
	fputs("  \"results\": [\n", f);
	for (size_t i = 0; i < run->nresults; i++) {
		const struct vc_result *r = &run->results[i];
		fputs("    {\"backend\": ", f);
		json_string(f, run->backends[r->backend].name);
		fprintf(f, ", \"model\": \"%s\", \"section\": ", vmsim_model_name(r->model));
		json_string(f, r->test->section);
		fputs(", \"name\": ", f);
		json_string(f, r->test->name);
		fprintf(f, ", \"status\": \"%s\", \"seconds\": %.3f, \"message\": ", vc_status_name(r->status), r->seconds);
		json_string(f, r->message ? r->message : "");
		fprintf(f, "}%s\n", i + 1 < run->nresults ? "," : "");
	}
	fputs("  ],\n  \"matrix\": [\n", f);
	const char *secs[64];
	size_t ns = sections(run, secs, 64);
	size_t rows = ns * run->nbackends * run->nmodels, row = 0;
	for (size_t s = 0; s < ns; s++)
		for (size_t b = 0; b < run->nbackends; b++)
			for (size_t m = 0; m < run->nmodels; m++) {
				unsigned c[3];
				count(run, secs[s], b, run->models[m], c);
				fputs("    {\"section\": ", f);
				json_string(f, secs[s]);
				fputs(", \"backend\": ", f);
				json_string(f, run->backends[b].name);
				fprintf(f, ", \"model\": \"%s\", \"pass\": %u, \"skip\": %u, \"fail\": %u}%s\n",
				        vmsim_model_name(run->models[m]), c[VC_PASS], c[VC_SKIP], c[VC_FAIL],
				        ++row < rows ? "," : "");
			}
	fputs("  ]\n}\n", f);
	return fclose(f) ? 1 : 0;
}
