/* tools/vmsim/run_vmm.h - the embedded default VMM behind `vmsim run`: devices stand-ins over the public API. */
#ifndef VMSIM_TOOLS_RUN_VMM_H
#define VMSIM_TOOLS_RUN_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vmsim/vmsim.h>

enum run_mode { RUN_MODE_REAL, RUN_MODE_PROTECTED, RUN_MODE_LONG };

enum { RUN_MAX_CONSOLES = 8 };

/* Exit statuses beyond the guest's own exit-port value. */
enum {
	RUN_STATUS_TIMEOUT = 124,     /* --max-exits or --timeout hit */
	RUN_STATUS_GUEST_FAULT = 125, /* triple fault, invalid state, fetch from nowhere */
	RUN_STATUS_SETUP = 126        /* the VM could not be built (message says why) */
};

struct run_config {
	const char *backend;
	enum vmsim_model model;
	enum run_mode mode;
	uint64_t mem;            /* bytes of RAM at guest-physical 0 */
	uint64_t load;           /* where the image goes */
	uint64_t entry;          /* where the vCPU starts */
	bool bios;               /* image ends at 4 GiB, last 128 KiB aliased below 1 MiB, reset vector */
	uint16_t consoles[RUN_MAX_CONSOLES];
	unsigned console_count;
	uint16_t exit_port;
	uint64_t max_exits;      /* 0: unbounded */
	double timeout;          /* seconds; 0: unbounded */
	FILE *trace;             /* NULL: no trace */
	bool disasm;
	bool minimal_exit_config; /* transfer only exit information plus what the devices need */
	FILE *out;               /* console output */
	FILE *err;               /* messages */
};

/* Build the VM around image, run it to its end and return the run's exit status. */
int run_vmm(const struct run_config *config, const uint8_t *image, uint64_t image_size);

#endif
