/* bench/provenance.c - where the numbers come from: CPU, cores, kernel, library versions, compiler, build, source. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <capstone/capstone.h>
#include <unicorn/unicorn.h>

#include "bench_internal.h"

#ifndef VMSIM_BENCH_BUILD_TYPE
#define VMSIM_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef VMSIM_BENCH_SOURCE_DIR
#define VMSIM_BENCH_SOURCE_DIR "."
#endif

static void cpu_model(char *out, size_t n)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	snprintf(out, n, "unknown");
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "model name", 10))
			continue;
		const char *v = strchr(line, ':');
		if (v) {
			v += strspn(v + 1, " \t") + 1;
			snprintf(out, n, "%.*s", (int)strcspn(v, "\n"), v);
		}
		break;
	}
	if (f)
		fclose(f);
}

/* The first line a shell command prints, without its newline; false if it printed nothing. */
static bool first_line(const char *cmd, char *out, size_t n)
{
	FILE *p = popen(cmd, "r");
	bool ok = false;
	if (!p)
		return false;
	if (fgets(out, (int)n, p)) {
		out[strcspn(out, "\n")] = 0;
		ok = out[0] != 0;
	}
	/* drain, so the child is never killed by a broken pipe */
	char rest[256];
	while (fgets(rest, sizeof rest, p))
		;
	pclose(p);
	return ok;
}

static void git_revision(char *out, size_t n)
{
	char rev[48], dirty[8];
	if (!first_line("git -C '" VMSIM_BENCH_SOURCE_DIR "' rev-parse --short=12 HEAD 2>/dev/null", rev, sizeof rev)) {
		snprintf(out, n, "unknown");
		return;
	}
	bool is_dirty = first_line("git -C '" VMSIM_BENCH_SOURCE_DIR "' status --porcelain --untracked-files=no "
	                           "2>/dev/null", dirty, sizeof dirty);
	snprintf(out, n, "%s%s", rev, is_dirty ? "-dirty" : "");
}

void vmsim_bench_provenance(struct bench_provenance *p)
{
	memset(p, 0, sizeof *p);
	cpu_model(p->cpu_model, sizeof p->cpu_model);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	p->cores = cores > 0 ? (unsigned)cores : 0;
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(p->kernel, sizeof p->kernel, "%.16s %.72s %.16s", u.sysname, u.release, u.machine);
	unsigned ucmaj = 0, ucmin = 0;
	unsigned uc = uc_version(&ucmaj, &ucmin);
	snprintf(p->unicorn, sizeof p->unicorn, "%u.%u.%u", ucmaj, ucmin, (uc >> 8) & 0xff);
	int csmaj = 0, csmin = 0;
	cs_version(&csmaj, &csmin);
	snprintf(p->capstone, sizeof p->capstone, "%d.%d", csmaj, csmin);
#if defined(__clang__)
	snprintf(p->compiler, sizeof p->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
	snprintf(p->compiler, sizeof p->compiler, "gcc %s", __VERSION__);
#else
	snprintf(p->compiler, sizeof p->compiler, "unknown");
#endif
	snprintf(p->build_type, sizeof p->build_type, "%s", VMSIM_BENCH_BUILD_TYPE);
	git_revision(p->git_revision, sizeof p->git_revision);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(p->date, sizeof p->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(p->sampling, sizeof p->sampling,
	         "exit cases: one sample = mean ns/exit over a batch of consecutive exits (32; 8 for MMIO, HLT, "
	         "entrypoint, guest_loads/stores (1,024 accesses per exit); 1 for pause); p50/p99 over the batches; "
	         "baseline measured just before, same process");
}
