/* tools/vmsim/run_vmm_internal.h - what the default VMM's files share (run_vmm.c, _boot, _devices, _trace). */
#ifndef VMSIM_TOOLS_RUN_VMM_INTERNAL_H
#define VMSIM_TOOLS_RUN_VMM_INTERNAL_H

#include <capstone/capstone.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "run_vmm.h"

enum {
	PAGE = 4096,
	BIOS_ALIAS = 128 * 1024,
	LOW_MEM_END = 0xe0000,     /* RAM below the firmware alias */
	MIB = 1024 * 1024,
	TABLE_PAGES = 7,           /* long mode: PML4, PDPT, 4 PDs (4 GiB of 2 MiB pages), GDT */
	STRING_IO_CHUNK = 4096,    /* REP INS/OUTS elements per exit; the rest re-executes (a new exit) */
	RECALL_INTERVAL_MS = 50    /* after the timeout: how often the timer recalls a vCPU not yet stopped */
};

struct vmm {
	const struct run_config *cfg;
	struct vmsim_env *env;
	struct vmsim_session *session;
	struct vmsim_vcpu *vcpu;
	vmsim_ds_cap ram_ds, rom_ds;
	struct vmsim_local_attachment ram, rom;
	uint64_t rom_base;          /* guest-physical start of the ROM (bios) */
	csh cs[3];                  /* capstone handles: 16, 32, 64 bit */
	uint64_t seq;
	uint64_t msr_pat;           /* the one MSR kept here rather than in the vCPU */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool finished;              /* under lock */
	bool timed_out;             /* under lock */
	int status;
};

/* devices: host pointer for [gpa, gpa+len) if RAM or ROM backs all of it, else NULL. */
uint8_t *vmm_guest_ptr(struct vmm *vmm, uint64_t gpa, uint64_t len);
/* devices: the instruction at cs:ip (Capstone), NULL if its bytes are not in RAM/ROM; cs_free(insn, 1). */
cs_insn *vmm_decode_at(struct vmm *vmm, const struct vmsim_vcpu_state *st);
/* devices: an I/O exit (console, exit port, all-ones reads, string I/O); false: the run ends. */
bool vmm_handle_io(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st);
/* devices: unbacked memory (reads float high, writes dropped, a fetch ends the run); false: the run ends. */
bool vmm_handle_npf(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st);
/* devices: charge rip past the exiting instruction (its length, or fallback_len where the exit gives none). */
void vmm_skip(const struct vmsim_exit *ex, struct vmsim_vcpu_state *st, uint64_t fallback_len);
/* devices: RDMSR/WRMSR on the MSR file (state MSRs written through to the vCPU). */
void vmm_msr_access(struct vmm *vmm, struct vmsim_vcpu_state *st, bool write);
/* trace: one JSON line for the exit; false once the trace cannot be written (RUN_STATUS_OUTPUT). */
bool vmm_trace(struct vmm *vmm, const struct vmsim_exit *ex, const struct vmsim_vcpu_state *st);
/* boot: charge the start state of cfg->mode (or the reset vector with --bios). */
void vmm_start_state(struct vmm *vmm, struct vmsim_vcpu_state *st);
/* boot: RAM at 0, the image, and for --bios the ROM; 0 or a RUN_STATUS_*. */
int vmm_build_memory(struct vmm *vmm, const uint8_t *image, uint64_t image_size);
/* boot: the env, the session and the entry conditions; 0 or a RUN_STATUS_*. */
int vmm_open_session(struct vmm *vmm);
/* A setup call failed: the message, and RUN_STATUS_SETUP. */
int vmm_setup_error(const struct run_config *cfg, const char *what, enum vmsim_result r);
/* End the run with status (the first status wins) and wake run_vmm. */
void vmm_finish(struct vmm *vmm, int status);

#endif
