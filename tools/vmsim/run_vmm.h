/* tools/vmsim/run_vmm.h - the embedded default VMM behind `vmsim run`: devices stand-ins over the public API. */
#ifndef VMSIM_TOOLS_RUN_VMM_H
#define VMSIM_TOOLS_RUN_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vmsim/vmsim.h>

enum run_mode { RUN_MODE_REAL, RUN_MODE_PROTECTED, RUN_MODE_LONG };

enum { RUN_MAX_CONSOLES = 8 };

/* Exit statuses (docs/vmsim-run.md). The tool's failures are even; a guest's exit-port byte v != 0 is the odd
 * (2v + 1) mod 256 (QEMU isa-debug-exit's convention), v = 0 is 0 like HLT: the two never collide. */
enum {
	RUN_STATUS_USAGE = 2,         /* bad command line or input: nothing was run */
	RUN_STATUS_OUTPUT = 120,      /* the trace or the console output could not be written */
	RUN_STATUS_GUEST_FAULT = 122, /* triple fault, invalid state, fetch from nowhere */
	RUN_STATUS_TIMEOUT = 124,     /* --max-exits or --timeout hit */
	RUN_STATUS_SETUP = 126        /* the VM could not be built (message says why) */
};
#define RUN_STATUS_GUEST(v) ((v) == 0 ? 0 : (int)((((unsigned)(v) << 1) | 1u) & 0xffu))

struct run_config {
	const char *backend;
	enum vmsim_model model;
	enum run_mode mode;
	uint64_t mem;            /* bytes of RAM at guest-physical 0 */
	uint64_t load;           /* where the image goes */
	uint64_t entry;          /* where the vCPU starts */
	bool bios;               /* image ends at 4 GiB, last 128 KiB aliased below 1 MiB, reset vector */
	bool linux_boot;         /* image is a bzImage: Linux's 32-bit boot protocol (zero page, e820, cmdline) */
	const char *cmdline;     /* --linux: the kernel command line ("" if none) */
	uint16_t consoles[RUN_MAX_CONSOLES];
	unsigned console_count;
	uint16_t exit_port;
	uint64_t max_exits;      /* 0: unbounded */
	double timeout;          /* seconds; 0: unbounded */
	FILE *trace;             /* NULL: no trace */
	bool disasm;
	bool minimal_exit_config; /* transfer only exit information plus what the devices need */
	bool host_clock;         /* the devices' time is the host's clock, not the run's virtual one (--clock) */
	uint32_t exceptions;     /* --exceptions: vectors intercepted, traced and handed back to the guest (bit n) */
	FILE *out;               /* console output */
	FILE *err;               /* messages */
};

/* Build the VM around image, run it to its end and return the run's exit status. */
int run_vmm(const struct run_config *config, const uint8_t *image, uint64_t image_size);

#endif
