/* tools/vmsim/run.c - `vmsim run`: parse the command line, read the image, hand both to the embedded VMM. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "file_read.h"
#include "commands.h"
#include "run_vmm.h"

enum {
	MAX_BIOS_IMAGE = 16 * 1024 * 1024,
	MAX_MEM_MIB = 4096
};

/* "16M", "4096", "1G", "64k": bytes; false for anything else or an overflow. */
static bool parse_size(const char *text, uint64_t *out)
{
	char *end = NULL;
	if (!text || !*text || *text == '-' || *text == '+')
		return false;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || end == text)
		return false;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || (shift && v > (~0ull >> shift)))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static bool parse_port(const char *text, uint16_t *out)
{
	uint64_t v;
	if (!parse_size(text, &v) || v > 0xffff || strpbrk(text, "kKmMgG"))
		return false;
	*out = (uint16_t)v;
	return true;
}

/* The whole image file; NULL with a message for a missing, unreadable, non-regular, empty or oversized file.
 * Only a regular file is opened (a FIFO or device would block or never end), and O_NONBLOCK covers the race. */
static uint8_t *read_image(const char *path, uint64_t limit, uint64_t *size, FILE *err)
{
	struct file_read file;
	if (file_read_whole(path, limit, &file) && file.size > 0) {
		*size = file.size;
		return file.data;
	}
	switch (file.error) {
	case FILE_READ_OPEN:
		fprintf(err, "vmsim run: cannot open image '%s': %s\n", path, strerror(file.errnum));
		break;
	case FILE_READ_NOT_REGULAR:
		fprintf(err, "vmsim run: image '%s' is not a regular file\n", path);
		break;
	case FILE_READ_OK: /* empty */
	case FILE_READ_TOO_LARGE:
		fprintf(err, "vmsim run: image '%s' is %zu bytes; it must be 1 to %" PRIu64 " bytes here\n", path,
		        file.size, limit);
		break;
	case FILE_READ_SHORT:
		fprintf(err, "vmsim run: cannot read image '%s'%s\n", path,
		        file.errnum == ENOMEM ? "" : " (it changed while read)");
		break;
	}
	free(file.data);
	return NULL;
}

/* What the command line said, as given (checked into a run_config by the functions below). */
struct run_args {
	const char *backend, *model, *mode, *mem, *load, *entry, *console, *exit_port, *trace, *timeout, *cmdline, *clock,
	        *exceptions;
	uint64_t max_exits;
	bool bios, disasm, minimal, linux_boot;
};

/* Model, mode, RAM size, load and entry addresses, and --bios's rules; false with a message. */
static bool check_layout(const struct run_args *a, struct run_config *cfg, FILE *err)
{
	if (vmsim_model_parse(a->model, &cfg->model) != VMSIM_OK) {
		fprintf(err, "vmsim run: unknown model '%s' (svm or vmx)\n", a->model);
		return false;
	}
	if (!strcmp(a->mode, "real"))
		cfg->mode = RUN_MODE_REAL;
	else if (!strcmp(a->mode, "protected"))
		cfg->mode = RUN_MODE_PROTECTED;
	else if (!strcmp(a->mode, "long"))
		cfg->mode = RUN_MODE_LONG;
	else {
		fprintf(err, "vmsim run: unknown mode '%s' (real, protected or long)\n", a->mode);
		return false;
	}
	if (!parse_size(a->mem, &cfg->mem) || cfg->mem < (1u << 20) || cfg->mem > ((uint64_t)MAX_MEM_MIB << 20) ||
	    cfg->mem % 4096) {
		fprintf(err, "vmsim run: --mem '%s': give 1M to %uM in whole 4 KiB pages\n", a->mem, (unsigned)MAX_MEM_MIB);
		return false;
	}
	cfg->load = cfg->mode == RUN_MODE_REAL ? 0x7c00 : 0x100000;
	if (a->load && !parse_size(a->load, &cfg->load)) {
		fprintf(err, "vmsim run: --load '%s' is not an address\n", a->load);
		return false;
	}
	cfg->entry = cfg->load;
	if (a->entry && !parse_size(a->entry, &cfg->entry)) {
		fprintf(err, "vmsim run: --entry '%s' is not an address\n", a->entry);
		return false;
	}
	if (cfg->mode == RUN_MODE_REAL && !a->bios && cfg->entry >= (1u << 20)) {
		fprintf(err, "vmsim run: --entry 0x%" PRIx64 " is beyond real mode's 1 MiB\n", cfg->entry);
		return false;
	}
	if (a->bios && (a->load || a->entry)) {
		fprintf(err, "vmsim run: --bios places the image below 4 GiB and starts at the reset vector; "
		        "drop --%s\n", a->load ? "load" : "entry");
		return false;
	}
	if (a->linux_boot && (a->bios || a->load || a->entry || strcmp(a->mode, "real"))) {
		fprintf(err, "vmsim run: --linux loads the kernel at 1 MiB and enters it in protected mode; drop --%s\n",
		        a->bios ? "bios" : a->load ? "load" : a->entry ? "entry" : "mode");
		return false;
	}
	if (a->cmdline && !a->linux_boot) {
		fprintf(err, "vmsim run: --cmdline is the kernel command line of --linux\n");
		return false;
	}
	if (a->linux_boot) {
		cfg->mode = RUN_MODE_PROTECTED;
		cfg->load = cfg->entry = 0x100000;
		cfg->linux_boot = true;
		cfg->cmdline = a->cmdline ? a->cmdline : "";
	}
	if (a->bios && cfg->mode != RUN_MODE_REAL) {
		fprintf(err, "vmsim run: --bios starts at the reset vector in real mode; drop --mode\n");
		return false;
	}
	return true;
}

/* Console ports, the exit port and the timeout; false with a message. */
static bool check_devices(const struct run_args *a, struct run_config *cfg, FILE *err)
{
	char *ports = strdup(a->console);
	for (char *save = NULL, *tok = strtok_r(ports, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg->console_count == RUN_MAX_CONSOLES || !parse_port(tok, &cfg->consoles[cfg->console_count++])) {
			fprintf(err, "vmsim run: --console '%s': give up to %d ports 0..0xffff\n", a->console,
			        RUN_MAX_CONSOLES);
			free(ports);
			return false;
		}
	}
	free(ports);
	if (!parse_port(a->exit_port, &cfg->exit_port)) {
		fprintf(err, "vmsim run: --exit-port '%s' is not a port\n", a->exit_port);
		return false;
	}
	if (!strcmp(a->clock, "virtual") || !strcmp(a->clock, "host")) {
		cfg->host_clock = !strcmp(a->clock, "host");
	} else {
		fprintf(err, "vmsim run: --clock '%s': give virtual or host\n", a->clock);
		return false;
	}
	if (a->timeout) {
		char *end = NULL;
		cfg->timeout = strtod(a->timeout, &end);
		if (!end || *end || !(cfg->timeout > 0) || cfg->timeout > 86400) {
			fprintf(err, "vmsim run: --timeout '%s': give seconds, more than 0\n", a->timeout);
			return false;
		}
	}
	return true;
}

/* The architectural mnemonics of vectors 0-31 (SDM Vol. 3A Table 6-1; 2 is the NMI, "" reserved). */
static const char *const vector_names[32] = { "de", "db", "", "bp", "of", "br", "ud", "nm", "df", "", "ts", "np",
	                                      "ss", "gp", "pf", "", "mf", "ac", "mc", "xm", "ve", "cp" };

/* --exceptions LIST: "all", or vectors 0-31 by number or mnemonic, comma-separated; NMI's 2 is not one. */
static bool check_exceptions(const char *list, uint32_t *out, FILE *err)
{
	*out = 0;
	if (!list)
		return true;
	if (!strcmp(list, "all")) {
		*out = ~(uint32_t)(1u << 2);
		return true;
	}
	char *copy = strdup(list);
	bool ok = copy && *copy;
	for (char *save = NULL, *tok = copy ? strtok_r(copy, ",", &save) : NULL; ok && tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *end = NULL;
		bool hex = tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X');
		unsigned long v = strtoul(tok, &end, hex ? 16 : 10); /* "010" is ten, not octal eight */
		if (!*tok || *end) {
			for (v = 0; v < 32 && (!vector_names[v] || !vector_names[v][0] || strcasecmp(tok, vector_names[v])); v++)
				;
		}
		ok = v < 32 && v != 2;
		if (ok)
			*out |= 1u << v;
	}
	free(copy);
	ok = ok && *out; /* "," names none */
	if (!ok)
		fprintf(err, "vmsim run: --exceptions '%s': give all, or vectors 0-31 but 2 (the NMI) by number or name "
		        "(de db bp of br ud nm df ts np ss gp pf mf ac mc xm ve cp), comma-separated\n", list);
	return ok;
}

/* Read the image (as much as fits where it goes), open the trace, run, and close the trace. */
static int run_image(const char *path, const char *trace, struct run_config *cfg, const struct cli_io *io)
{
	uint64_t limit = cfg->bios ? MAX_BIOS_IMAGE : (cfg->load < cfg->mem ? cfg->mem - cfg->load : 0);
	if (cfg->linux_boot)
		limit += 64 * 1024; /* the setup sectors stay out of RAM; load_linux checks what must fit */
	if (!cfg->bios && cfg->mode != RUN_MODE_REAL)
		limit = limit > 8 * 4096 ? limit - 8 * 4096 : 0; /* the top of RAM holds GDT and page tables */
	if (!limit) {
		fprintf(io->err, "vmsim run: --load 0x%" PRIx64 " is outside the %" PRIu64 " bytes of RAM\n", cfg->load,
		        cfg->mem);
		return CLI_EXIT_USAGE;
	}
	uint64_t size = 0;
	uint8_t *image = read_image(path, limit, &size, io->err);
	if (!image)
		return CLI_EXIT_USAGE;

	FILE *trace_file = NULL;
	if (trace) {
		trace_file = !strcmp(trace, "-") ? io->err : fopen(trace, "w");
		if (!trace_file) {
			fprintf(io->err, "vmsim run: cannot write trace '%s': %s\n", trace, strerror(errno));
			free(image);
			return CLI_EXIT_USAGE;
		}
	}
	cfg->trace = trace_file;
	int status = run_vmm(cfg, image, size);
	/* a trace lost at its last flush fails the run too (unless it failed already) */
	bool trace_ok = !trace_file || (trace_file == io->err ? fflush(trace_file) == 0 : fclose(trace_file) == 0);
	if (!trace_ok && status != RUN_STATUS_OUTPUT) {
		int e = errno;
		fprintf(io->err, "vmsim run: cannot write trace '%s': %s\n", trace, strerror(e));
		status = RUN_STATUS_OUTPUT;
	}
	free(image);
	return status;
}

int cmd_run(int argc, char **argv, const struct cli_io *io)
{
	struct run_args a = { .backend = "unicorn", .model = "svm", .mode = "real", .mem = "16M", .console = "0x3f8",
		              .exit_port = "0xf4", .clock = "virtual" };
	const struct cli_opt opts[] = {
		{ "backend", 'b', CLI_OPT_STRING, &a.backend, "NAME", "CPU backend: unicorn (default) or kvm" },
		{ "model", 'm', CLI_OPT_STRING, &a.model, "MODEL", "exit encoding: svm (default) or vmx" },
		{ "mode", 0, CLI_OPT_STRING, &a.mode, "MODE", "real (default), protected or long (identity-paged)" },
		{ "mem", 0, CLI_OPT_STRING, &a.mem, "SIZE", "guest RAM at 0, e.g. 16M (default), 1G" },
		{ "load", 0, CLI_OPT_STRING, &a.load, "ADDR", "where the image goes (default 0x7c00 real, 0x100000 else)" },
		{ "entry", 0, CLI_OPT_STRING, &a.entry, "ADDR", "where the vCPU starts (default: --load)" },
		{ "bios", 0, CLI_OPT_FLAG, &a.bios, NULL, "image ends at 4 GiB, last 128 KiB aliased below 1 MiB, reset vector" },
		{ "linux", 0, CLI_OPT_FLAG, &a.linux_boot, NULL, "image is a bzImage: Linux's 32-bit boot protocol at 1 MiB" },
		{ "cmdline", 0, CLI_OPT_STRING, &a.cmdline, "TEXT", "--linux: the kernel command line" },
		{ "console", 0, CLI_OPT_STRING, &a.console, "PORTS", "ports whose OUTs go to stdout, comma-separated (0x3f8)" },
		{ "exit-port", 0, CLI_OPT_STRING, &a.exit_port, "PORT", "an OUT of byte v ends the run: status 0 if v = 0, else 2v+1 mod 256 (0xf4)" },
		{ "max-exits", 0, CLI_OPT_U64, &a.max_exits, "N", "stop after N exits with status 124" },
		{ "timeout", 0, CLI_OPT_STRING, &a.timeout, "S", "stop after S seconds with status 124" },
		{ "trace", 0, CLI_OPT_STRING, &a.trace, "FILE", "one JSON object per exit ('-' for stderr)" },
		{ "disasm", 0, CLI_OPT_FLAG, &a.disasm, NULL, "add the exiting instruction (Capstone) to the trace" },
		{ "fast-exits", 0, CLI_OPT_FLAG, &a.minimal, NULL, "transfer per exit only the state its device needs" },
		{ "clock", 0, CLI_OPT_STRING, &a.clock, "CLOCK", "PIT/RTC time: virtual (default; 1 us per device access, HLT "
		  "skips to the next tick: the same on every backend) or host (the host's clock)" },
		{ "exceptions", 0, CLI_OPT_STRING, &a.exceptions, "LIST", "intercept these exceptions (all, or vectors by number "
		  "or name: pf,gp,ud ...), trace each and hand it back to the guest" },
	};
	const struct cli_spec spec = {
		.command = "run",
		.operands = "IMAGE",
		.description = "Run a raw guest image on one vCPU with stand-in devices: console ports, an exit port, "
		               "a PC's PIT, PICs and CMOS, all-ones reads from absent ports and MMIO. HLT ends the run with "
		               "status 0 unless a timer interrupt can wake the vCPU; the tool's failure statuses are even, "
		               "the guest's odd (docs/vmsim-run.md).",
		.opts = opts,
		.opt_count = sizeof opts / sizeof opts[0],
		.min_operands = 1,
		.max_operands = 1,
	};
	int first = 0;
	enum cli_parse_result parsed = cli_parse(&spec, argc, argv, io, &first);
	if (parsed != CLI_PARSE_OK)
		return cli_parse_exit(parsed);

	struct run_config cfg = { .backend = a.backend, .out = io->out, .err = io->err, .max_exits = a.max_exits,
		                  .bios = a.bios, .disasm = a.disasm, .minimal_exit_config = a.minimal };
	if (!check_layout(&a, &cfg, io->err) || !check_devices(&a, &cfg, io->err) ||
	    !check_exceptions(a.exceptions, &cfg.exceptions, io->err))
		return CLI_EXIT_USAGE;
	return run_image(argv[first], a.trace, &cfg, io);
}
