/* bench/plot.c - --plot FILE.png: the exit cases, their ratios and the scaling curves, drawn by gnuplot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_internal.h"

static const struct bench_record *find(const struct bench_report *r, const char *backend, const char *model,
                                       const char *name)
{
	for (size_t i = 0; i < r->count; i++)
		if (!strcmp(r->records[i].backend, backend) && !strcmp(r->records[i].model, model) &&
		    !strcmp(r->records[i].name, name) && !r->records[i].skip[0])
			return &r->records[i];
	return NULL;
}

static double val(const struct bench_record *rec, double field)
{
	return rec ? field : NAN;
}

static void num(FILE *f, double v)
{
	if (isnan(v))
		fputs(" NaN", f);
	else
		fprintf(f, " %g", v);
}

/* exits.dat: case, vmsim p50 svm, vmx, raw p50, ratio svm, vmx (unicorn rows) */
static void write_exits(const struct bench_report *r, FILE *f)
{
	for (unsigned c = 0; c < BENCH_CASE_COUNT; c++) {
		const char *name = vmsim_bench_guest((enum bench_case)c)->name;
		const struct bench_record *s = find(r, "unicorn", "svm", name), *v = find(r, "unicorn", "vmx", name);
		fprintf(f, "%s", name);
		num(f, val(s, s ? s->p50_ns : 0));
		num(f, val(v, v ? v->p50_ns : 0));
		num(f, val(s, s ? s->baseline_p50_ns : 0));
		num(f, val(s, s ? s->ratio : 0));
		num(f, val(v, v ? v->ratio : 0));
		fputc('\n', f);
	}
}

/* series.dat blocks: x and p50 per backend and series, one block per (backend, series) pair */
static void write_series(const struct bench_report *r, FILE *f, const char *backend, const char *series,
                         bool rates)
{
	fprintf(f, "# %s %s\n", backend, series);
	for (size_t i = 0; i < r->count; i++) {
		const struct bench_record *rec = &r->records[i];
		if (strcmp(rec->backend, backend) || strcmp(rec->series, series) || rec->skip[0] || rec->x <= 0)
			continue;
		fprintf(f, "%g", rec->x);
		num(f, rec->p50_ns);
		num(f, rates ? rec->per_vcpu_rate : rec->p99_ns);
		num(f, rates ? rec->aggregate_rate : NAN);
		num(f, rec->baseline_p50_ns);
		fputc('\n', f);
	}
	fputs("\n\n", f);
}

bool vmsim_bench_plot(const struct bench_report *r, const char *png, FILE *err)
{
	if (!find(r, "unicorn", "svm", "io_out") || !find(r, "unicorn", "svm", "vcpus_1")) {
		fprintf(err, "vmsim bench: nothing to plot: the plot needs the Unicorn exit and vCPU rows\n");
		return false;
	}
	char dir[] = "/tmp/vmsim-bench-plot-XXXXXX";
	if (!mkdtemp(dir)) {
		fprintf(err, "vmsim bench: cannot create a temporary directory for the plot\n");
		return false;
	}
	char exits[64], series[64], script[64];
	snprintf(exits, sizeof exits, "%s/exits.dat", dir);
	snprintf(series, sizeof series, "%s/series.dat", dir);
	snprintf(script, sizeof script, "%s/plot.gp", dir);
	FILE *fe = fopen(exits, "w"), *fs = fopen(series, "w"), *fg = fopen(script, "w");
	bool ok = fe && fs && fg;
	if (ok) {
		write_exits(r, fe);
		/* block index: 0 unicorn vcpus, 1-3 null attach/access/detach, 4-6 unicorn attach/access/detach */
		write_series(r, fs, "unicorn", "vcpus", true);
		static const char *const s3[3] = { "attach", "access", "detach" };
		for (int k = 0; k < 3; k++)
			write_series(r, fs, "null", s3[k], false);
		for (int k = 0; k < 3; k++)
			write_series(r, fs, "unicorn", s3[k], false);
		fprintf(fg,
		        "set terminal pngcairo size 1600,1100 font 'sans,10' noenhanced\n"
		        "set output '%s'\n"
		        "set multiplot layout 2,2 title 'vmsim bench (%s, %u cores, git %s, %s)'\n"
		        "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
		        "set xtics rotate by -30\nset grid ytics\nset key top left\n"
		        "set logscale y\nset ylabel 'ns per exit, p50 (guest_*: per exit and 1,024 accesses)'\n"
		        "set title 'Exit round trip on Unicorn: vmsim vs raw Unicorn hook'\n"
		        "plot '%s' using 2:xtic(1) title 'vmsim svm', '' using 3 title 'vmsim vmx', '' using 4 title 'raw unicorn'\n"
		        "unset logscale y\nset logscale y\nset ylabel 'vmsim p50 / raw p50'\n"
		        "set title 'Ratio (target: io_out <= 4, goal 3)'\n"
		        "plot '%s' using 5:xtic(1) title 'svm', '' using 6 title 'vmx', 4.0 with lines lw 2 title 'target 4'\n"
		        "set style data linespoints\nset xtics norotate\nset logscale x 2\nunset logscale y\n"
		        "set xlabel 'vCPUs running OUT loops (2 host cores)'\nset ylabel 'exits per second'\nset logscale y\n"
		        "set title 'vCPU scaling (Unicorn, inline handler, minimal Exit_config)'\n"
		        "plot '%s' index 0 using 1:3 title 'per vCPU', '' index 0 using 1:4 title 'all vCPUs', "
		        "'' index 0 using 1:(1e9/$2) title 'per vCPU while running (1e9/p50)'\n"
		        "set logscale x 10\nset xlabel 'attachments in the session'\nset ylabel 'ns per op (p50)'\n"
		        "set title 'Attachments: cost per op'\n"
		        "plot '%s' index 1 using 1:2 title 'attach (null)', '' index 2 using 1:2 title 'access (null)', "
		        "'' index 3 using 1:2 title 'detach (null)', '' index 4 using 1:2 title 'attach (unicorn)', "
		        "'' index 5 using 1:2 title 'access (unicorn)', '' index 6 using 1:2 title 'detach (unicorn)'\n"
		        "unset multiplot\n",
		        png, r->prov.cpu_model, r->prov.cores, r->prov.git_revision, r->prov.date, exits, exits, series, series);
	}
	if (fe)
		fclose(fe);
	if (fs)
		fclose(fs);
	if (fg)
		fclose(fg);
	if (ok) {
		char cmd[160];
		snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", script);
		FILE *p = popen(cmd, "r");
		char line[256];
		while (p && fgets(line, sizeof line, p))
			fputs(line, err);
		int status = p ? pclose(p) : -1;
		ok = status == 0;
		if (!ok)
			fprintf(err, "vmsim bench: gnuplot failed (is it installed? scripts/setup-deps.sh)\n");
	}
	unlink(exits);
	unlink(series);
	unlink(script);
	rmdir(dir);
	return ok;
}
