/* bench/bench_internal.h - what the bench/ files share: the exit cases, their guests, batch timing, raw baselines. */
#ifndef VMSIM_BENCH_INTERNAL_H
#define VMSIM_BENCH_INTERNAL_H

#include "bench.h"

/* The exit cases, in table order. */
enum bench_case {
	BENCH_IO_OUT,
	BENCH_IO_IN,
	BENCH_MMIO_WRITE,
	BENCH_MMIO_READ,
	BENCH_CPUID,
	BENCH_HLT,
	BENCH_PAUSE,
	BENCH_IO_OUT_EP,
	BENCH_IO_OUT_FULL,
	BENCH_IO_OUT_PM32,       /* the OUT loop in 32-bit protected mode, paging off */
	BENCH_IO_OUT_PM32_PAGED, /* the same with paging on (identity 4 MiB pages): what guest paging costs */
	BENCH_GUEST_LOADS,       /* 1,024 loads from RAM between OUT exits: guest execution, not the exit path */
	BENCH_GUEST_STORES,      /* 1,024 stores to RAM between OUT exits */
	BENCH_IO_OUT_SITES,      /* the OUT loop after 256 LOCKed instructions ran once: an engine with many sites */
	BENCH_CASE_COUNT
};

/* One guest loop per case (64-bit unless named pm32), loaded at BENCH_CODE; rdx = BENCH_PORT, rbx = BENCH_MMIO. */
struct bench_guest {
	const char *name;        /* the record's case name */
	const uint8_t *code;
	size_t size;
	uint8_t exit_len;        /* length of the exiting instruction */
	const char *baseline;    /* what the raw baseline does */
};

enum {
	BENCH_RAM = 0x10000,     /* guest RAM at gpa 0 */
	BENCH_CODE = 0x1000,
	BENCH_STACK = 0x8000,
	BENCH_PORT = 0x80,
	BENCH_IN_VALUE = 0x5a,
	BENCH_BATCH = 32,        /* exits per timed sample */
	BENCH_GDT = 0x3000,      /* null, 64-bit code (0x08), data (0x10), 32-bit code (0x18) */
	BENCH_TABLES32 = 0x9000, /* a 32-bit page directory of identity 4 MiB pages */
	BENCH_TABLES = 0xa000,   /* six pages of identity tables for 4 GiB (paged backends) */
	BENCH_DATA = 0x4000,     /* the page the guest_loads/guest_stores loops walk */
	BENCH_GUEST_ITERATIONS = 1024 /* loads or stores per exit in those loops */
};
#define BENCH_MMIO 0x40000000ull /* unbacked in vmsim; uc_mmio_map'ed in the raw baseline */

const struct bench_guest *vmsim_bench_guest(enum bench_case c);
/* Fill BENCH_RAM bytes: the guest at BENCH_CODE, the GDT, the identity page tables (vm.c). */
void vmsim_bench_guest_memory(uint8_t *ram, const struct bench_guest *g);

/* How much to measure: at most max_samples batch samples, and not past duration_ns. */
struct bench_limits {
	size_t max_samples;
	uint64_t duration_ns;
	unsigned batch;
};
void vmsim_bench_limits(const struct bench_options *opt, enum bench_case c, struct bench_limits *out);

/*
 * Batch timing: tick() once per exit; every `batch` exits one sample (mean ns
 * per exit over the batch) is added. Returns true once enough was measured.
 */
struct bench_batcher {
	struct bench_limits lim;
	struct bench_samples *out;
	uint64_t t_start, t_prev;
	unsigned k;
	uint64_t exits;
};
void vmsim_bench_batch_start(struct bench_batcher *b, const struct bench_limits *lim, struct bench_samples *out);
bool vmsim_bench_batch_tick(struct bench_batcher *b);

/* Attach, access (region lookup) and detach cost per op at 1..100,000 attachments (attachments.c). */
void vmsim_bench_attachments(const struct bench_options *opt, const char *backend, struct bench_report *report);

/* ---- raw Unicorn baselines (raw_unicorn.c): same guest, exit handled in Unicorn's own hook ---- */

/* Samples ns per exit (pause: ns from uc_emu_stop to uc_emu_start returning). False with *why on failure. */
bool vmsim_bench_raw_uc_case(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out,
                             char *why, size_t why_size);
/* The OUT loop where every exit is a uc_emu_stop in the hook and a uc_emu_start again (the other design). */
bool vmsim_bench_raw_uc_stop_restart(const struct bench_limits *lim, struct bench_samples *out, char *why,
                                     size_t why_size);
/* The io_out or io_in loop under the hooks the backend registers, doing nothing but the exit's own register reads:
 * the part of a vmsim exit that is 2.0.1's, not vmsim's. */
bool vmsim_bench_raw_uc_floor(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out,
                              char *why, size_t why_size);
/* n threads, one engine each, running the OUT loop together for duration_ns after a common start. */
bool vmsim_bench_raw_uc_threads(unsigned n, uint64_t duration_ns, struct bench_samples *out, uint64_t *exits,
                                char *why, size_t why_size);
/* ns per uc_open(UC_MODE_64) + a register write (which builds the machine) + uc_close, count times. */
bool vmsim_bench_raw_uc_open_close(unsigned count, struct bench_samples *out);

/* ---- raw KVM baseline (raw_kvm.c): a bare KVM_RUN loop on the same guest ---- */

/* Why the KVM rows cannot be measured here, or NULL if they can. */
const char *vmsim_bench_kvm_unavailable(const struct vmsim_env *env, char *why, size_t n);
/* Samples ns per exit (pause: ns from the signal to KVM_RUN returning). False with *why on failure. */
bool vmsim_bench_raw_kvm_case(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out,
                              char *why, size_t why_size);
/* What the KVM baseline of case c does (the record's baseline text). */
const char *vmsim_bench_raw_kvm_baseline(enum bench_case c);

#endif
