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
	RECALL_INTERVAL_MS = 50,   /* after the timeout: how often the timer recalls a vCPU not yet stopped */
	DEVICE_ACCESS_NS = 1000,   /* virtual clock: what one port or MMIO access takes (an ISA bus cycle, ~1 us) */
	SPIN_CHECK_MS = 100        /* virtual clock: a vCPU without exits this long while a timer IRQ is armed is
	                              recalled, and the clock skips to the IRQ */
};

/* One i8254 channel (run_vmm_pc.c). */
struct vmm_pit_channel {
	uint64_t start_ns;  /* when counting began (the count was loaded) */
	uint64_t edges;     /* output rising edges already raised as IRQs since start_ns (channel 0) */
	uint16_t reload;    /* 0 counts 65536 */
	uint16_t latch;
	uint8_t status;     /* read-back status byte, when status_latched */
	uint8_t mode;       /* 0-5 */
	uint8_t access;     /* 1 low byte, 2 high byte, 3 low then high */
	bool counting;      /* a count was loaded since the last control word */
	bool latched, status_latched, read_high, write_high;
};

/* One i8259A (run_vmm_pc.c): edge-triggered, fixed priority (IRQ 0 highest). */
struct vmm_pic_chip {
	uint8_t irr, isr, imr, base, elcr;
	uint8_t init_step;  /* 0 ready; 1, 2, 3: ICW2, ICW3, ICW4 expected */
	bool want_icw4, single, auto_eoi, read_isr, initialized;
};

/* The PC's timer, clock and interrupt controllers the default VMM answers (run_vmm_pc.c). */
struct vmm_pc {
	struct vmm_pit_channel pit[3];
	struct vmm_pic_chip pic[2]; /* master (0x20), slave (0xa0) on the master's IRQ 2 */
	uint64_t boot_ns;   /* the time vmm_pc_init was given */
	int64_t wall_clock; /* what the RTC showed then, seconds since 1970 */
	uint8_t port_b;
	uint8_t cmos_index;
	uint8_t cmos[128];
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
	struct vmm_pc pc;           /* the vCPU's handler thread only */
	bool window_requested;      /* the handler asked for an interrupt window at the last exit */
	uint64_t vclock;            /* the virtual clock in ns (vmm_now); the handler thread only */

	/* lock and cond (CLOCK_MONOTONIC) are shared with the timer thread, which recalls the vCPU at the timeout
	 * and at irq_due */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool finished;              /* under lock */
	bool timed_out;             /* under lock */
	uint64_t irq_due;           /* under lock: vmm_now() time of the next timer IRQ to recall the vCPU for; 0 none */
	uint64_t progress;          /* under lock: exits seen (the virtual clock's spin watchdog) */
	bool vcpu_clock_known;      /* under lock: vcpu_clock is the vCPU thread's CPU-time clock */
	clockid_t vcpu_clock;
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
/* pc: reset the PIT, the PICs and the CMOS (memory sizes for ram bytes at guest-physical 0) at time now (ns), when
 * the RTC shows wall_clock (seconds since 1970). */
void vmm_pc_init(struct vmm_pc *pc, uint64_t ram, uint64_t now, int64_t wall_clock);
/* pc: a byte read from one of their ports into *value; false if the port is none of theirs. */
bool vmm_pc_in(struct vmm_pc *pc, uint16_t port, uint64_t now, uint8_t *value);
/* pc: a byte written to one of their ports; false if the port is none of theirs. */
bool vmm_pc_out(struct vmm_pc *pc, uint16_t port, uint8_t value, uint64_t now);
/* pc: an edge on IRQ line irq (0-15; 8-15 are the slave's): latched in its PIC's request register. */
void vmm_pc_raise(struct vmm_pc *pc, unsigned irq);
/* pc: raise IRQ 0 if PIT channel 0's output rose since the last call (missed periods coalesce, as on a PIC). */
void vmm_pc_tick(struct vmm_pc *pc, uint64_t now);
/* pc: the time (vmm_now's) of the next IRQ 0 the PIC would take (channel 0 counting, IRQ 0 unmasked); UINT64_MAX if none. */
uint64_t vmm_pc_next_irq(const struct vmm_pc *pc);
/* pc: the vector the PICs would deliver now (an unmasked request above every in-service level), or -1. */
int vmm_pc_pending_vector(const struct vmm_pc *pc);
/* pc: the CPU's interrupt acknowledge: moves the pending request into service; its vector, or -1. */
int vmm_pc_acknowledge(struct vmm_pc *pc);
/* pc: whether the guest has initialised the master PIC (before that, nothing is ever delivered). */
bool vmm_pc_pic_ready(const struct vmm_pc *pc);
/* pc: the host's monotonic clock in ns. */
uint64_t vmm_pc_now(void);
/* The devices' time in ns: the virtual clock, or with --clock host the host's (vmm_pc_now). */
uint64_t vmm_now(const struct vmm *vmm);
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
