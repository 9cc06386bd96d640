/* uc_internal.h - private types of the Unicorn 2.0.1 backend (sim/unicorn); not a public header. */
#ifndef VMSIM_SIM_UC_INTERNAL_H
#define VMSIM_SIM_UC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>
#include <unicorn/unicorn.h>

#include <vmsim/backend.h>

/* Engine modes: Unicorn fixes the mode at uc_open, so a vCPU owns up to one engine per mode. */
enum ucb_mode { UCB_REAL = 0, UCB_PROT = 1, UCB_LONG = 2, UCB_MODE_COUNT = 3 };

/* One guest-physical mapping as the VM holds it (and as an engine has applied it). */
struct ucb_mapping {
	uint64_t gpa;
	uint64_t size;
	void *hva;
	unsigned prot;
};

/* Instructions the block scanner hooks by address (Unicorn 2.0.1 cannot hook them by type). */
enum ucb_site_kind {
	UCB_SITE_IO = 1,
	UCB_SITE_CPUID,
	UCB_SITE_HLT,
	UCB_SITE_RDTSC,
	UCB_SITE_RDTSCP,
	UCB_SITE_RDMSR,
	UCB_SITE_WRMSR,
	UCB_SITE_VMCALL,
	UCB_SITE_SWINT,
	UCB_SITE_MOVCR,   /* MOV to/from a control register (uc_mmu.c while the guest pages) */
	UCB_SITE_INVLPG
};

/* What the byte classifier learnt about one instruction. */
struct ucb_insn {
	uint8_t kind;      /* enum ucb_site_kind, 0 = not interesting */
	uint8_t len;
	uint8_t io_size;   /* 1, 2, 4 */
	bool io_in, io_string, io_rep, io_imm;
	uint8_t io_port_imm;
	uint8_t addr_size; /* 2, 4, 8 */
	uint8_t seg;       /* 0 = ES ... 5 = GS */
	uint8_t vector;    /* SWINT */
	bool into;         /* SWINT: INTO, only taken with OF=1 */
	bool sw_exception; /* SWINT: INT3 (CC), INTO (CE) or INT1 (F1); INT imm8 (CD) is an interrupt, even INT 3 */
	uint8_t cr, gpr;   /* MOVCR: control register and general register numbers */
	bool cr_read;      /* MOVCR: MOV from CRn */
	bool loads_cs;     /* any kind: it may load CS (ucb_insn_changes_cs) */
	bool limit_check;  /* any kind: its target may lie beyond the CS limit (ucb_insn_checks_cs_limit) */
	uint8_t far_ret;   /* any kind: a far RET (CA/CB) popping this many bytes per slot (2 or 4); 0 otherwise */
	uint16_t ret_imm;  /* far_ret: the bytes CA iw releases after the pops */
};

/*
 * An MMIO site (uc_exits.c mmio_exit): a MOV between memory and a general register or an immediate in 64-bit code,
 * whose access once reached no attachment. Its code hook presents the NPF exit before the instruction runs, instead
 * of the fault stopping the engine. Valid while the site's decode is (ucb_site_fresh drops it with that).
 */
enum { UCB_MMIO_NONE = -1, UCB_MMIO_RIP = 16, UCB_MMIO_MISSES = 16 };
struct ucb_mmio_op {
	bool valid;
	bool write;
	uint8_t size;      /* of the access: 1, 2, 4, 8 */
	uint8_t len;       /* of the instruction */
	uint8_t addr_size; /* 4 or 8 */
	uint8_t scale;
	int8_t base;       /* register number 0-15, UCB_MMIO_RIP or UCB_MMIO_NONE */
	int8_t index;      /* register number 0-15 or UCB_MMIO_NONE */
	int8_t src;        /* write: the register stored, UCB_MMIO_NONE for imm */
	uint8_t src_shift; /* 8 for AH, CH, DH, BH */
	uint8_t misses;    /* runs in a row that reached memory: at UCB_MMIO_MISSES the op is dropped */
	int64_t disp;
	uint64_t imm;
};

struct ucb_site {
	uint64_t addr;     /* linear address, 0 slot = empty is handled by used flag */
	bool used;
	uint64_t gen;      /* memory generation the bytes were decoded under */
	struct ucb_insn insn;
	struct ucb_mmio_op mmio;
	uint8_t code[8];   /* its first code_len bytes as decoded: a VMM that rewrites it during its exit is seen */
	uint8_t code_len;
	const uint8_t *code_hva; /* where those bytes are in host memory ... */
	uint64_t code_hva_gen;   /* ... while the VM's memory generation is this one (+1; 0: not known) ... */
	uint64_t code_hva_maps;  /* ... and the engine's shadow unmaps + flushes this many (its mappings as then) */
};

enum { UCB_PAGE = 4096, UCB_XCODE_FILTER_BYTES = (1 << 20) / 8 /* one bit per page below 4 GiB */ };

/* Open-addressing set of 64-bit keys (scanned blocks). */
struct ucb_set {
	uint64_t *keys; /* key+1 stored, 0 = empty */
	size_t cap, count;
	/* key+1 of the last two ucb_set_has_memo hits (a loop of two blocks, e.g. an exit that re-enters mid-block),
	 * 0 = none; every removal clears them */
	uint64_t memo, memo2;
};

/* Sites by address. */
struct ucb_sites {
	struct ucb_site *slots;
	size_t cap, count;
};

struct ucb_vcpu;

/* One linear region a paged engine maps onto guest-physical backing (uc_mmu.c). */
struct ucb_shadow_region {
	uint64_t lin, size, gpa;
	void *hva;
	void *att_hva;       /* the attachment hva lies in, and its size */
	uint64_t att_size;
	void *host;          /* what the engine maps: hva's pages at a host address no other live region uses */
	bool unaliased;      /* host is hva although another live region maps it too (no alias could be made) */
	unsigned prot;       /* UC_PROT_* */
	uint64_t pt[5];      /* guest-physical pages of the paging structures its walk used */
	unsigned npt;
	/* the top-level entry its walk used: offset into the top-level table, size (4 or 8) and value */
	uint64_t root_off, root_val;
	unsigned root_size;
};

/* Live shadow mappings: few, since 2.0.1's map cost grows with the region count (docs/backends/unicorn.md). */
enum { UCB_SHADOW_CAP = 64 };

/* INVLPGs an engine catches up on one by one; one further behind drops every region. */
enum { UCB_INVLPG_RING = 16 };

/*
 * An attachment's pages at several host addresses (uc_shadow.c, ucb_shadow_map): layer 0 is the attachment's own
 * address, the others mremap'ed aliases made on first need and kept while the attachment is, so that their host
 * page tables stay filled. Live regions mapping the same guest memory take different layers.
 */
enum { UCB_ALIAS_LAYERS = 8 };
struct ucb_alias_set {
	void *hva;
	uint64_t size;
	void *layer[UCB_ALIAS_LAYERS];
};

struct ucb_shadow {
	struct ucb_shadow_region *live; /* sorted by lin, disjoint */
	size_t n, cap;
	bool paged;                     /* the engine's addresses are linear (guest paging on) */
	bool user;                      /* built for CPL 3 */
	uint64_t gen;                   /* the vCPU's tlb_gen it was built for */
	uint64_t flush_gen;             /* the vCPU's flush_gen it was built for */
	uint64_t invlpg_seen;           /* the vCPU's invlpg_count it has dropped the regions of */
	uint64_t faults, maps, unmaps, flushes; /* counters for benches and tests */
	unsigned unaliased;             /* live regions without an alias: 2.0.1 may file their blocks elsewhere */
	struct ucb_alias_set *alias_sets;
	size_t nalias_sets, alias_sets_cap;
	uint64_t last_fault;            /* the last fault's address and type, and how often it came right back */
	uc_mem_type last_type;
	unsigned repeats;
	uint64_t store_rip, store_lin;  /* a store into a table page: its rip, and the page mapped writable for it */
	/*
	 * A store through an alias into the page that holds the storing instruction (map_page): the alias at step_lin
	 * stays writable for that store alone, and the site hook at step_next (the instruction after it, set by the
	 * run loop) drops the alias and the page's translations (ucb_shadow_step_end).
	 */
	bool step;
	uint64_t step_lin, step_phys, step_next;
};

/* One remembered instruction length (uc_insn.c): valid while none of the generations it was read under moved. */
struct ucb_len_entry {
	uint64_t lin;
	uint64_t applied_gen, tlb_gen, code_gen, shadow_gen;
	uint32_t bits;
	uint8_t len;
	bool used;
};

enum { UCB_LEN_CACHE = 64 };

/* A linear code page of a paged engine and the guest-physical page it was translated to when scanned. */
struct ucb_code_alias {
	uint64_t lin, phys;
};

/*
 * The last MMIO site walk (uc_mmu.c ucb_mmu_unbacked): the entries it read, where they live in host memory and their
 * values after its A/D update. While the paging registers, the attachments and every one of those entries are
 * unchanged, a new walk would read the same entries and write nothing: its result is reused.
 */
struct ucb_mmio_walk {
	bool valid, write, user;
	uint64_t lin_page, gpa_page, tlb_gen, vm_gen;
	unsigned n;
	const uint64_t *at[5];
	uint64_t val[5];
};

/* What the hooks need of CS: its base, its byte-granular limit and the code size its descriptor gives (16/32/64). */
struct ucb_cs_cache {
	uint64_t base;
	uint32_t limit;
	uint32_t bits;
	uint16_t selector;
	bool known;
};

/* Why one of the backend's own accesses to guest memory (ucb_guest_read/write) failed. */
struct ucb_access_fault {
	enum { UCB_ACCESS_OK = 0, UCB_ACCESS_PF, UCB_ACCESS_NPF } kind;
	uint32_t error;  /* PF: the walk's #PF error code */
	uint64_t lin;    /* PF: CR2; NPF: the linear address */
	uint64_t gpa;    /* NPF: the guest-physical address no attachment backs (as the access needs it) */
	bool walk;       /* NPF: on a paging-structure entry */
	bool write;      /* NPF: the access wrote */
};

struct ucb_engine {
	uc_engine *uc;
	enum ucb_mode mode;
	struct ucb_vcpu *vcpu;
	uc_context *ctx;
	size_t env_off;              /* where CPUX86State starts inside a uc_context */
	uint64_t flush_from, flush_to; /* translated code to drop once uc_emu_start returned */
	uint64_t rewritten_page;       /* +1: a code page the VMM wrote during an exit, for the next entry; 0: none */
	uint64_t block;              /* linear start of the block executing now */
	uint32_t seg_flags_set[6];   /* ES..GS descriptor flags as the last state_set wrote them (uc_state.c) */
	struct ucb_mapping *applied; /* what this engine has mapped, sorted by gpa */
	size_t napplied, applied_cap;
	uint64_t applied_gen;
	struct ucb_set scanned;
	struct ucb_sites sites;
	struct ucb_set code_pages;   /* pages holding scanned blocks: a write there forgets their scan */
	/* while paged: the guest-physical page behind each linear page added to code_pages (for stale) */
	struct ucb_code_alias *code_alias;
	size_t ncode_alias, code_alias_cap;
	struct ucb_set stale;        /* guest-physical pages written elsewhere (ucb_vcpu.code_phys), dropped at entry */
	/* engine pages translated blocks started in (hook_block): orphans of their region when it is unmapped */
	struct ucb_set block_pages;
	uint64_t block_page_last;    /* the page last added, so that a loop in one page adds nothing */
	struct ucb_set orphans;      /* guest-physical pages of blocks left under unmapped RAM offsets (ucb_orphan_blocks) */
	uint64_t code_pub_seen;      /* vm->code_pub_gen when writable aliases of published code were last dropped */
	uint64_t code_lo, code_hi;   /* what the write hook watches, [code_lo, code_hi) */
	uc_hook code_write_hook;
	bool code_write_hooked;
	uint64_t code_gen;           /* bumped by every guest store into a watched code page */
	struct ucb_len_entry len_cache[UCB_LEN_CACHE]; /* MMIO instruction lengths by linear rip */
	struct ucb_shadow shadow;
	/*
	 * CR0 (without PG), CR3, CR4 and EFER as last read for a page walk (uc_mmu.c paging_now), good while the
	 * vCPU's tlb_gen stays: every way they change while the guest pages bumps it (MOV to CR, state_set), and every
	 * EFER write does (WRMSR is done by the backend, uc_exits.c wrmsr_efer; LMA is the backend's own).
	 */
	struct {
		uint64_t gen, cr0, cr3, cr4, efer;
		bool valid;
	} paging_memo;
	struct ucb_mmio_walk mmio_walk; /* the last MMIO site walk */
	struct ucb_cs_cache cs;      /* CS as last read (ucb_cs) */
	/*
	 * CS limit checks (hook_block): the state before the last limit-checked transfer, so that one whose target
	 * lies beyond the limit can be undone and fault as itself.
	 */
	uc_context *transfer_ctx;
	uint64_t transfer_rip;       /* its rip, valid while transfer_pending */
	bool transfer_pending;       /* set by its site hook, cleared at the next block start */
	bool transfer_undo;          /* the run loop restores transfer_ctx before delivering the #GP */
	uint64_t limit_fault_at;     /* linear address of an instruction reaching past the limit mid-block, or 0 */
	uint8_t limit_fault_len;     /* its length */
	/* the first fault the backend's own guest accesses met since event delivery cleared it (uc_events.c) */
	struct ucb_access_fault access_fault;
};

/* Where the vCPU is, for the mem_unmap protocol (docs/backends/unicorn.md). */
enum ucb_run_state { UCB_IDLE = 0, UCB_RUNNING, UCB_IN_CALLBACK };

/* Why the run loop left uc_emu_start (set by hooks on the vCPU thread). */
enum ucb_leave {
	UCB_LEAVE_NONE = 0,
	UCB_LEAVE_RESTART,   /* state changed under the engine: re-enter at the current rip */
	UCB_LEAVE_STOP,      /* on_exit returned STOP */
	UCB_LEAVE_DELIVER,   /* deliver v->deliver_* through the IVT/IDT */
	UCB_LEAVE_HALT,      /* HLT not intercepted: idle */
	UCB_LEAVE_FAULT,     /* unmapped / protection fault recorded in v->fault */
	UCB_LEAVE_WINDOW     /* an interrupt window opened */
};

struct ucb_fault {
	bool valid;
	bool lazy;         /* the VM maps it, this engine does not yet: map and re-run, no exit */
	uc_mem_type type;
	uint64_t addr;
	int size;
	int64_t value;
};

struct ucb_vm;

/* The vCPU thread's last attachment lookups, valid while the VM's mapping generation is gen (ucb_vcpu_phys). */
struct ucb_phys_memo {
	uint64_t gen;
	struct ucb_mapping hit;  /* the attachment found last (hit_valid) */
	uint64_t miss_page;      /* a gpa >> 12 no attachment covered (miss_valid) */
	bool hit_valid, miss_valid;
};

struct ucb_vcpu {
	struct ucb_vm *vm;
	struct ucb_phys_memo phys_memo;
	unsigned id;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int run_state;         /* enum ucb_run_state; changed by the vCPU thread only */
	atomic_int waiters;           /* mem_unmap calls waiting on cond for this vCPU */
	uint64_t acked_gen;           /* under lock: memory generation applied while running */
	uint64_t acked_local;         /* vCPU thread's copy of acked_gen */
	atomic_bool stop_requested;

	struct ucb_engine *engines[UCB_MODE_COUNT];
	struct ucb_engine *active;
	csh cs;
	bool cs_ok;

	/* exit delivery */
	vmsim_exit_fn on_exit;
	void *on_exit_ctx;
	enum ucb_leave leave;
	bool exit_stop;               /* on_exit returned STOP: return once the engine is out */
	bool check_state;             /* state was set: re-run the can-this-run checks */
	bool resume_valid;            /* the rip to re-enter at after a stop inside a hook */
	uint64_t resume_rip;
	uint64_t fault_rip;
	bool rip_written;             /* state_set wrote RIP (2.0.1 then leaves the block by itself) */
	/*
	 * An IN/OUT exit inside its code hook whose handler set RIP just past the instruction: Unicorn executes
	 * the instruction itself (the OUT as a no-op, the IN returning EAX as the handler left it) instead of a
	 * RIP write that would leave and re-enter the translated block.
	 */
	bool retire_eligible;         /* set by the site hook for the exit being handled */
	uint64_t retire_rip;          /* the RIP that means "retire it" */
	bool retire;                  /* state_set saw that RIP and did not write it */
	bool retire_spoiled;          /* state_set wrote more than GPRs/RIP/RFLAGS, or memory changed */
	bool retire_ax_known;         /* the handler set rax during this exit: retire_ax, no read back for an IN */
	uint64_t retire_ax;
	uint64_t fault_rflags;        /* RFLAGS captured in the fault hook (2.0.1 clobbers them on exit) */
	struct ucb_fault fault;
	uint8_t deliver_vector;
	enum vmsim_event_type deliver_type;
	uint64_t deliver_return;
	bool deliver_has_error;
	uint32_t deliver_error;
	uint8_t deliver_insn_len;     /* INT3, INTO, INT1, INT n: the instruction's length; 0 for what the engine raised */
	bool deliver_raised;          /* 2.0.1 raised it (ucb_hook_intr): its double-fault memory must be cleared */

	/*
	 * Self-modifying code across engines: each has its own translation cache, and 2.0.1 only invalidates on
	 * stores made by the same engine through the same linear address. Guest-physical pages holding code an
	 * engine of this vCPU scanned (written by this thread under vm->xcode_lock, read by others under it). A
	 * store there, seen by an engine's write hook or, while the guest pages, by a write fault on a shadow
	 * mapping kept read-only for it (uc_mmu.c), marks the page stale in this vCPU's other engines (their
	 * struct ucb_engine.stale) and, through remote_stale, in other vCPUs' engines, which drop it when entered
	 * next.
	 */
	struct ucb_set code_phys;
	struct ucb_set remote_stale;  /* pages other vCPUs wrote, under vm->xcode_lock */
	atomic_bool remote_pending;   /* remote_stale holds pages */

	/* state Unicorn does not hold */
	uint64_t cr0_pg;              /* CR0.PG as the VMM or the guest set it; the engine runs unpaged (docs) */
	uint64_t tlb_gen;             /* bumped by whatever invalidates all translations (CR writes, a failed INVLPG decode) */
	uint64_t flush_gen;           /* bumped with tlb_gen by all of those but a MOV to CR3 (uc_mmu.c keeps regions then) */
	/* INVLPG: the linear pages of the last UCB_INVLPG_RING, by invlpg_count % UCB_INVLPG_RING (uc_mmu.c) */
	uint64_t invlpg_page[UCB_INVLPG_RING];
	uint64_t invlpg_count;
	uint32_t activity;
	struct vmsim_event pending;
	uint64_t tsc_offset, tsc_aux;
	uint64_t pdpte[4];
	uint32_t tpr, tpr_threshold;
	uint64_t xcr0, xss;
	uint32_t intercepts;
	uint32_t exception_intercepts; /* vectors whose exceptions exit (uc_run.c exception_exit) */
};

/* One change to the VM's mapping list, numbered by the generation it produced. */
struct ucb_change {
	uint64_t gen;
	bool add;
	struct ucb_mapping m;
};

enum { UCB_JOURNAL = 64 };

struct ucb_vm {
	struct vmsim_backend_host host;
	pthread_mutex_t update_lock; /* serialises mem_map/mem_unmap/vcpu_destroy */
	pthread_mutex_t list_lock;   /* maps[] and vcpus[] */
	void *maps;                   /* tsearch tree of struct ucb_mapping, disjoint (uc_memory.c) */
	atomic_uint_fast64_t generation;
	struct ucb_change journal[UCB_JOURNAL]; /* the last changes, by generation % UCB_JOURNAL */
	struct ucb_vcpu **vcpus;
	size_t nvcpus, vcpus_cap;
	/*
	 * Code patched elsewhere (uc_engine.c): one bit per 4 KiB guest-physical page below 4 GiB, set while some
	 * vCPU's code_phys holds the page, so that a store elsewhere takes xcode_lock only for such pages (and a
	 * paged engine maps them read-only where it has not scanned them itself); code_pub_gen counts the pages
	 * published; [xcode_lo, xcode_hi) is the span every unpaged engine's write hook covers (it only grows).
	 */
	pthread_mutex_t xcode_lock;   /* taken before list_lock */
	atomic_uchar *xcode_filter;
	atomic_uint_fast64_t xcode_lo, xcode_hi, code_pub_gen;
};

/* Offsets into Unicorn 2.0.1's saved CPUX86State, checked by ucb_layout_probe at engine creation. */
enum {
	UCB_ENV_EIP = 128,
	UCB_ENV_EFLAGS = 136,
	UCB_ENV_CC_OP = 168,
	UCB_ENV_DF = 172,
	UCB_ENV_HFLAGS = 176,
	UCB_ENV_HFLAGS2 = 180,
	UCB_ENV_SEGS = 184,
	UCB_ENV_SEG_SIZE = 24,
	UCB_ENV_LDT = 328,
	UCB_ENV_TR = 352,
	UCB_ENV_GDT = 376,
	UCB_ENV_IDT = 400,
	UCB_ENV_CR = 424,
	UCB_ENV_EFER = 560,
	UCB_ENV_FPSTT = 572,   /* x87 TOP, kept apart from the status word */
	UCB_ENV_FPUS = 576,    /* x87 status word without TOP */
	UCB_ENV_FPUC = 578,
	UCB_ENV_FPTAGS = 580,  /* one byte per physical register, 1 = empty */
	UCB_ENV_FPREGS = 592,  /* 8 x (64-bit mantissa, 16-bit sign/exponent) in 16 bytes */
	UCB_ENV_FPOP = 720,
	UCB_ENV_FPIP = 728,
	UCB_ENV_MXCSR = 784,
	UCB_ENV_XMM = 792,     /* 16 x 64 bytes (ZMM-sized slots) */
	UCB_ENV_XMM_SIZE = 64,
	UCB_ENV_SYSENTER_CS = 4768,
	UCB_ENV_SYSENTER_ESP = 4776,
	UCB_ENV_SYSENTER_EIP = 4784,
	UCB_ENV_STAR = 4792,
	UCB_ENV_LSTAR = 4808,
	UCB_ENV_CSTAR = 4816,
	UCB_ENV_FMASK = 4824,
	UCB_ENV_KERNEL_GS_BASE = 4832,
	UCB_ENV_DR7 = 5424,
	/* int error_code, int exception_is_int, target_ulong exception_next_eip, then dr[8]: placed from DR7's probed
	 * offset, as QEMU 5.0's CPUX86State declares them */
	UCB_ENV_ERROR_CODE = UCB_ENV_DR7 - 7 * 8 - 16,
	UCB_ENV_EXCEPTION_IS_INT = UCB_ENV_ERROR_CODE + 4,
	/* int old_exception: after dr[8] and the 4 breakpoint/watchpoint pointers */
	UCB_ENV_OLD_EXCEPTION = UCB_ENV_DR7 + 8 + 4 * 8
};

/* QEMU hidden-flag bits the backend maintains when it writes segment caches or control registers. */
enum {
	UCB_HF_CPL = 3u,
	UCB_HF_INHIBIT_IRQ = 1u << 3,
	UCB_HF_CS32 = 1u << 4,
	UCB_HF_SS32 = 1u << 5,
	UCB_HF_ADDSEG = 1u << 6,
	UCB_HF_PE = 1u << 7,
	UCB_HF_MP_EM_TS = 7u << 9,
	UCB_HF_LMA = 1u << 14,
	UCB_HF_CS64 = 1u << 15,
	UCB_HF_VM = 1u << 17, /* virtual-8086 mode, as EFLAGS.VM */
	UCB_HF_OSFXSR = 1u << 22,
	UCB_HF2_NMI = 1u << 2
};

enum {
	UCB_CR0_PE = 1u,
	UCB_CR0_PG = 1u << 31,
	UCB_EFER_SCE = 1u,
	UCB_EFER_LME = 1u << 8,
	UCB_EFER_LMA = 1u << 10,
	UCB_EFER_NXE = 1u << 11,
	UCB_MSR_EFER = 0xc0000080u,
	UCB_RFLAGS_IF = 1u << 9,
	UCB_RFLAGS_TF = 1u << 8,
	UCB_RFLAGS_VM = 1u << 17,
	UCB_RFLAGS_OF = 1u << 11
};

/* An address Unicorn never reaches: the pc-sync hook's range and uc_emu_start's `until` (ignored: exits are on). */
#define UCB_UNTIL 0x8000dead00000001ull

/*
 * The files in layers, each calling only files in the layers below it (no call cycles: CTest call_cycles_sim_unicorn,
 * docs/backends/unicorn.md "Layers"). Bottom to top:
 *   uc_regs.c (+ the inline helpers below)  registers, CPU context, hidden flags, leave requests, log: calls nothing
 *   uc_shadow.c    dropping an engine's linear (shadow) mappings
 *   uc_memory.c    the VM's guest-physical mappings, engine sync, the unmap protocol
 *   uc_mmu.c       shadow paging; the backend's own guest memory accesses (ucb_guest_read/write)
 *   uc_insn.c, uc_flags.c, uc_fpu.c, uc_events.c  instructions in guest memory (classifier, site table, lengths);
 *                  flags after a fault; the FXSAVE image; event delivery through the IVT/IDT
 *   uc_exits.c     Unicorn hooks -> neutral exits, the in-hook exit protocol
 *   uc_engine.c    one Unicorn instance per vCPU and mode: creates it, registers uc_exits.c's hooks, block scanner
 *   uc_state.c     state groups in and out of an engine; moving to the engine of another mode
 *   uc_run.c       the run loop
 *   uc_backend.c   the ops table, VM and vCPU lifetime
 */

/* uc_regs.c */
extern const int ucb_gpr64[16], ucb_gpr32[8]; /* Unicorn's ids of the general registers by x86 number */
void ucb_log(struct ucb_vm *vm, enum vmsim_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint32_t ucb_code_bits(struct ucb_engine *eng);
enum ucb_mode ucb_mode_of(uint64_t cr0, uint64_t efer);
void ucb_hflags_recompute(uint8_t *env);
void ucb_seg_from_env(const uint8_t *env, int off, struct vmsim_segment *seg);
void ucb_seg_to_env(uint8_t *env, int off, const struct vmsim_segment *seg);

/* Fields of the saved CPUX86State (the UCB_ENV_* offsets). */
static inline uint32_t env_u32(const uint8_t *env, int off)
{
	uint32_t v;
	memcpy(&v, env + off, 4);
	return v;
}

static inline uint64_t env_u64(const uint8_t *env, int off)
{
	uint64_t v;
	memcpy(&v, env + off, 8);
	return v;
}

static inline void env_put32(uint8_t *env, int off, uint32_t v)
{
	memcpy(env + off, &v, 4);
}

static inline void env_put64(uint8_t *env, int off, uint64_t v)
{
	memcpy(env + off, &v, 8);
}

/* The engine's CPU state as a CPUX86State in eng->ctx (*env), for the hidden state uc_reg_* cannot reach. */
static inline bool ucb_ctx_load(struct ucb_engine *eng, uint8_t **env)
{
	if (uc_context_save(eng->uc, eng->ctx) != UC_ERR_OK)
		return false;
	*env = (uint8_t *)eng->ctx + eng->env_off;
	return true;
}

static inline bool ucb_ctx_store(struct ucb_engine *eng)
{
	eng->cs.known = false; /* the restored context may hold another CS */
	return uc_context_restore(eng->uc, eng->ctx) == UC_ERR_OK;
}

/*
 * Read back as two 4-byte halves: 2.0.1 stores 4 bytes for EAX, EIP, EFLAGS ..., and an 8-byte load of a 4-byte
 * store stalls store-to-load forwarding; each half lies in one store whichever width 2.0.1 wrote (volatile keeps
 * the compiler from merging the loads).
 */
static inline uint64_t ucb_read_reg(struct ucb_engine *eng, int id)
{
	uint32_t half[2] = { 0, 0 };
	volatile const uint32_t *back = half;

	uc_reg_read(eng->uc, id, half);
	return (uint64_t)back[1] << 32 | back[0];
}

static inline uint64_t ucb_read_rip(struct ucb_engine *eng)
{
	return ucb_read_reg(eng, eng->mode == UCB_LONG ? UC_X86_REG_RIP : UC_X86_REG_EIP);
}

static inline bool ucb_write_rip(struct ucb_engine *eng, uint64_t rip)
{
	if (eng->mode != UCB_LONG)
		rip = (uint32_t)rip;
	return uc_reg_write(eng->uc, eng->mode == UCB_LONG ? UC_X86_REG_RIP : UC_X86_REG_EIP, &rip) == UC_ERR_OK;
}

/* Segment register seg's base (0 = ES ... 5 = GS). */
static inline uint64_t ucb_seg_base(struct ucb_engine *eng, int seg)
{
	uint8_t *env;
	uint64_t base = 0;

	if (ucb_ctx_load(eng, &env))
		base = env_u64(env, UCB_ENV_SEGS + seg * UCB_ENV_SEG_SIZE + 8);
	return base;
}

/*
 * 2.0.1 offers CS's base, limit and size only through a uc_context_save of the whole
 * CPU state (~45 ns, a quarter of a 32-bit OUT exit), so the engine remembers
 * them until CS may have changed: a context restore, a state set, a CR0 write,
 * or a hooked instruction that loads CS (ucb_insn_changes_cs: the block
 * scanner hooks them all, so none runs unseen). It survives uc_emu_start.
 */
static inline const struct ucb_cs_cache *ucb_cs(struct ucb_engine *eng)
{
	uint8_t *env;

	if (eng->cs.known)
		return &eng->cs;
	eng->cs.base = 0;
	eng->cs.selector = 0;
	eng->cs.limit = UINT32_MAX;
	eng->cs.bits = eng->mode == UCB_LONG ? 64 : eng->mode == UCB_PROT ? 32 : 16;
	if (ucb_ctx_load(eng, &env)) {
		uint32_t hf = env_u32(env, UCB_ENV_HFLAGS);
		eng->cs.selector = (uint16_t)env_u32(env, UCB_ENV_SEGS + 1 * UCB_ENV_SEG_SIZE);
		eng->cs.base = env_u64(env, UCB_ENV_SEGS + 1 * UCB_ENV_SEG_SIZE + 8);
		eng->cs.limit = env_u32(env, UCB_ENV_SEGS + 1 * UCB_ENV_SEG_SIZE + 16);
		eng->cs.bits = (hf & UCB_HF_CS64) ? 64 : (hf & UCB_HF_CS32) ? 32 : 16;
		eng->cs.known = true;
	}
	return &eng->cs;
}

/*
 * 2.0.1 syncs the PC for hooks by storing the linear address into EIP, so with
 * a CS base other than 0 the EIP seen in hooks is off by the base: undo it.
 */
static inline uint64_t ucb_cs_base(struct ucb_engine *eng)
{
	return eng->mode == UCB_LONG ? 0 : ucb_cs(eng)->base;
}

static inline uint64_t ucb_host_tsc(void)
{
	return __builtin_ia32_rdtsc();
}

/* Ask the run loop to act once uc_emu_start returned (a STOP also ends vcpu_run); the first reason but RESTART wins. */
static inline void ucb_request_leave(struct ucb_vcpu *v, enum ucb_leave why)
{
	if (why == UCB_LEAVE_STOP) {
		v->exit_stop = true;
		why = UCB_LEAVE_RESTART;
	}
	if (v->leave == UCB_LEAVE_NONE || v->leave == UCB_LEAVE_RESTART)
		v->leave = why;
}

/* Leave uc_emu_start from inside a hook; the run loop re-enters at rip (a RIP write here could lose the stop). */
/* Every translation may have changed (CR0/CR4/EFER, state_set, an INVLPG that cannot be decoded): mappings all go. */
static inline void ucb_translations_changed(struct ucb_vcpu *v)
{
	v->tlb_gen++;
	v->flush_gen++;
}

static inline void ucb_stop_at(struct ucb_engine *eng, uint64_t rip)
{
	struct ucb_vcpu *v = eng->vcpu;

	v->resume_rip = rip;
	v->resume_valid = true;
	ucb_request_leave(v, UCB_LEAVE_RESTART);
	uc_emu_stop(eng->uc);
}

/* The hash the block scanner's tables (uc_engine.c, uc_insn.c) spread 64-bit keys with. */
static inline uint64_t ucb_mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

/* Room for one more element after count in *array (doubling *cap, 8 at first); false without memory, *array kept. */
static inline bool ucb_grow(void **array, size_t *cap, size_t count, size_t elem)
{
	if (count < *cap)
		return true;
	size_t n = *cap ? *cap * 2 : 8;
	void *p = realloc(*array, n * elem);
	if (!p)
		return false;
	*array = p;
	*cap = n;
	return true;
}

static inline void ucb_set_clear(struct ucb_set *set)
{
	if (set->keys)
		memset(set->keys, 0, set->cap * sizeof *set->keys);
	set->count = 0;
	set->memo = set->memo2 = 0;
}

/* uc_code.c: the scanner's sets and code written elsewhere */
bool ucb_set_has(const struct ucb_set *set, uint64_t key);
/* ucb_set_has that remembers its last hit: a loop's block start is looked up once, not at every iteration. */
bool ucb_set_has_memo(struct ucb_set *set, uint64_t key);
/* Add key (false: out of memory, the set unchanged). */
bool ucb_set_add(struct ucb_set *set, uint64_t key);
/* Drop every key in [lo, hi). */
void ucb_set_remove_range(struct ucb_set *set, uint64_t lo, uint64_t hi);
/* Keep only the keys keep(key, ctx) accepts. */
void ucb_set_keep_if(struct ucb_set *set, bool (*keep)(uint64_t key, const void *ctx), const void *ctx);
/* Whether some engine of the VM holds a scan of guest-physical page phys (a hint, read without a lock). */
bool ucb_code_published(const struct ucb_vm *vm, uint64_t phys);
/* A store into guest-physical page phys, which holds code: every engine that scanned it drops it (at entry). */
void ucb_code_stored(struct ucb_engine *eng, uint64_t phys);
/* Forget which pages hold scanned code (their scans go with them). */
void ucb_code_pages_clear(struct ucb_engine *eng);
/* Must a store by this engine at linear lin (guest-physical phys) fault? Published code it does not watch itself. */
bool ucb_code_guarded(const struct ucb_engine *eng, uint64_t lin, uint64_t phys);
/* ucb_code_guarded for any page of [gpa, gpa + size) mapped at lin (the filter read a byte, 8 pages, at a time). */
bool ucb_code_guarded_in(const struct ucb_engine *eng, uint64_t lin, uint64_t gpa, uint64_t size);
/* Record that v scanned code in guest-physical page: set its bit, widen the VM's span, count the publication;
 * the code_pub_gen it produced (0 above 4 GiB, where nothing is counted). */
uint64_t ucb_code_publish(struct ucb_vcpu *v, uint64_t page);
/* The VM's span of published pages below 4 GiB, [*lo, *hi); false while there is none. */
bool ucb_code_span(const struct ucb_vm *vm, uint64_t *lo, uint64_t *hi);
/* Move the pages other vCPUs wrote into every engine's stale set of v (v's own thread). */
void ucb_code_take_remote(struct ucb_vcpu *v);
/* Before [lo, hi) (guest-physical gpa on) is unmapped: remember the pages its translated blocks came from (orphans). */
void ucb_orphan_blocks(struct ucb_engine *eng, uint64_t lo, uint64_t hi, uint64_t gpa);

/* uc_mmu.c: shadow mappings and code published elsewhere */
/* Does a live writable mapping reach guest-physical page gpa at a linear page the write hook does not watch? */
bool ucb_shadow_writable_alias(const struct ucb_engine *eng, uint64_t gpa);
/* Drop the writable mappings over code published since they were made (ucb_code_guarded). */
void ucb_shadow_guard_code(struct ucb_engine *eng);
/* At addr, the instruction after a stepped alias store (ucb_shadow.step): end the step; true if it ended. */
bool ucb_shadow_step_end(struct ucb_engine *eng, uint64_t addr);

/* uc_shadow.c */
/* Index of the first live region ending above lin. */
size_t ucb_shadow_bound(const struct ucb_shadow *s, uint64_t lin);
/* The live region holding lin, or NULL. */
const struct ucb_shadow_region *ucb_shadow_at(const struct ucb_shadow *s, uint64_t lin);
/* The guest-physical page a live shadow mapping gives linear page lin; false if none maps it. */
bool ucb_shadow_phys(const struct ucb_engine *eng, uint64_t lin, uint64_t *gpa);
/* Map region r into the engine at host addresses no other live region maps (sets r->host); false if 2.0.1 refused. */
bool ucb_shadow_map(struct ucb_engine *eng, struct ucb_shadow_region *r);
/* Unmap the alias layers of every attachment (they may have gone); only while no region is live. */
void ucb_shadow_forget_aliases(struct ucb_engine *eng);
/* Unmap the engine's live linear region i (what its blocks came from is kept: ucb_orphan_blocks). */
void ucb_shadow_drop(struct ucb_engine *eng, size_t i);
/* Unmap the live linear region holding lin, if one does. */
void ucb_shadow_drop_at(struct ucb_engine *eng, uint64_t lin);
/* Unmap every live linear region (and forget the code scanned through them). */
void ucb_mmu_flush(struct ucb_engine *eng);
/* Code at a linear address may be other code now: scan blocks again, re-decode sites. */
void ucb_forget_code(struct ucb_engine *eng);
/* ucb_forget_code for the linear pages [lo, hi) only. */
void ucb_forget_code_range(struct ucb_engine *eng, uint64_t lo, uint64_t hi);
/* The code page at engine address page changed behind the engine (the VMM wrote it): as a guest store there. */
void ucb_code_rewritten(struct ucb_engine *eng, uint64_t page);
/* Forget scans, sites' decodes and code aliases wherever no live region maps the code now (after a new CR3). */
void ucb_forget_code_unmapped(struct ucb_engine *eng);

/* uc_memory.c */
/* uc_ctl_remove_cache over [lo, hi), one call per page (see uc_memory.c). */
void ucb_remove_cache(struct ucb_engine *eng, uint64_t lo, uint64_t hi);
enum vmsim_result ucb_mem_map(void *vm, uint64_t gpa, void *hva, uint64_t size, unsigned prot);
enum vmsim_result ucb_mem_unmap(void *vm, uint64_t gpa, uint64_t size);
bool ucb_engine_sync_memory(struct ucb_engine *eng);
/* Map the attachment backing gpa into the engine if it is not yet (engines map on first touch); true if mapped now. */
bool ucb_engine_map_lazy(struct ucb_engine *eng, uint64_t gpa);
void ucb_vcpu_sync_running(struct ucb_vcpu *v);
/* The attachment holding gpa (copied out under the list lock); false if none. */
bool ucb_phys_lookup(struct ucb_vm *vm, uint64_t gpa, struct ucb_mapping *out);
/* ucb_phys_lookup for v's own thread, remembered until the mapping generation moves. */
bool ucb_vcpu_phys(struct ucb_vcpu *v, uint64_t gpa, struct ucb_mapping *out);
/* The protection of the attachment at gpa as ucb_vcpu_phys finds it, 0 for none. */
unsigned ucb_vcpu_prot(struct ucb_vcpu *v, uint64_t gpa);
/* Unmap every guest-physical mapping of the engine (it is about to hold linear ones). */
void ucb_engine_unmap_all(struct ucb_engine *eng);

/* uc_mmu.c */
enum ucb_mmu_outcome { UCB_MMU_RETRY, UCB_MMU_PF, UCB_MMU_NPF, UCB_MMU_ERROR };
/* What an NPF while the guest pages was about: the exit is built from it by ucb_build_paged_npf (uc_exits.c). */
struct ucb_mmu_npf {
	uint64_t gpa;
	bool walked; /* a paging-structure read of the walk, not the access itself */
	bool user;
};
/* Before uc_emu_start: drop shadow mappings made stale by paging-state changes, switch address spaces. */
void ucb_mmu_prepare(struct ucb_engine *eng);
/* The engine's EFER, as remembered for walks until the vCPU's tlb_gen moves (every EFER write moves it). */
uint64_t ucb_mmu_efer(struct ucb_engine *eng);
/* The guest ran INVLPG on linear address lin: each engine drops the region holding it at its next entry. */
void ucb_mmu_invlpg(struct ucb_vcpu *v, uint64_t lin);
/*
 * A data access of size bytes at linear lin, walked as the fault path would (A/D set): true with its guest-physical
 * address in *gpa when no attachment backs it and nothing else would happen first (no fault, no live mapping of lin).
 */
bool ucb_mmu_unbacked(struct ucb_engine *eng, uint64_t lin, unsigned size, bool write, uint64_t *gpa, bool *user);
/* The recorded fault in a paged engine: mapped (retry), a #PF to deliver, or an NPF described in *npf. */
enum ucb_mmu_outcome ucb_mmu_fault(struct ucb_vcpu *v, uint32_t *error_code, uint64_t *cr2, struct ucb_mmu_npf *npf);
/* uc_mem_read/uc_mem_write at an engine address (linear while the guest pages), mapping what backs it first. */
bool ucb_guest_read(struct ucb_engine *eng, uint64_t addr, void *buf, size_t len);
bool ucb_guest_write(struct ucb_engine *eng, uint64_t addr, const void *buf, size_t len);

/* uc_insn.c */
void ucb_classify(const uint8_t *bytes, size_t n, uint32_t code_bits, struct ucb_insn *out);
/* True for an instruction whose memory accesses happen inside a 2.0.1 helper, which leaves the PC unsynced. */
bool ucb_insn_needs_pc_sync(const uint8_t *bytes, size_t n, uint32_t code_bits);
/* Whether the instruction may load CS (far transfers, software interrupts, SYSCALL/SYSENTER and returns, RSM). */
bool ucb_insn_changes_cs(const uint8_t *bytes, size_t n, uint32_t code_bits);
/* Whether a CS limit check of the instruction's target is not implied by 16-bit arithmetic (docs: "CS limits"). */
bool ucb_insn_checks_cs_limit(const uint8_t *bytes, size_t n, uint32_t code_bits);
struct ucb_site *ucb_site_find(struct ucb_sites *t, uint64_t addr);
struct ucb_site *ucb_site_add(struct ucb_sites *t, uint64_t addr);
/* Keep the first bytes (up to 8) of the instruction a site was decoded from (a VMM's rewrite is compared). */
void ucb_site_set_code(struct ucb_site *s, const uint8_t *bytes, size_t len);
/* The site at addr, its bytes decoded again if memory changed since (which forgets its MMIO op); NULL if none. */
struct ucb_site *ucb_site_fresh(struct ucb_engine *eng, uint64_t addr);
/* The decoded site at addr (decoded again if memory changed since), NULL if none or nothing of interest now. */
const struct ucb_insn *ucb_site_insn(struct ucb_engine *eng, uint64_t addr);
/* The instruction at linear lin as an MMIO site op (struct ucb_mmio_op); false for any other instruction. */
bool ucb_mmio_decode(struct ucb_engine *eng, uint64_t lin, struct ucb_mmio_op *op);
/* Length of the instruction at rip (Capstone, remembered per linear address), 0 if it cannot be decoded. */
uint8_t ucb_insn_len_at(struct ucb_vcpu *v, uint64_t rip);
/* The linear address of the memory operand of the instruction at rip, and its length (Capstone, one decode); false if
 * it has no memory operand or the address cannot be told. */
bool ucb_insn_mem_linear(struct ucb_engine *eng, uint64_t rip, uint64_t *lin, uint8_t *len);

/* uc_flags.c */
bool ucb_fix_fault_flags(struct ucb_engine *eng, uint64_t block, uint64_t fault);

/* uc_fpu.c */
void ucb_fpu_get(const struct ucb_engine *eng, const uint8_t *env, struct vmsim_cpu_state *s); /* env: a saved context */
void ucb_fpu_set(struct ucb_engine *eng, const struct vmsim_cpu_state *s);

/* uc_events.c */
/*
 * UCB_FAULT: the delivery itself raised an exception the architecture names (SDM Vol. 3A 6.12.1, 6.13, and a #PF
 * with CR2 from its own accesses): *fault holds it, nothing of the event was committed. UCB_NPF: the delivery
 * reached memory no attachment backs, or a frame a read-only one (fault->npf): an NPF exit with the event pending.
 * UCB_SHUTDOWN: a failure not classified (a task gate, an LDT selector): the caller goes to #DF.
 */
enum ucb_deliver_result { UCB_DELIVERED, UCB_SHUTDOWN, UCB_DELIVER_ERROR, UCB_FAULT, UCB_NPF };
struct ucb_delivery_fault {
	uint8_t vector;
	uint32_t error;
	bool has_cr2;      /* a #PF: CR2 is written before it is delivered */
	uint64_t cr2;
	struct ucb_access_fault npf;
};
enum ucb_deliver_result ucb_deliver(struct ucb_engine *eng, uint8_t vector, enum vmsim_event_type type,
                                    bool has_error, uint32_t error, uint64_t return_rip,
                                    struct ucb_delivery_fault *fault);
bool ucb_interruptible(struct ucb_engine *eng);
bool ucb_nmi_blocked(struct ucb_engine *eng);

/* uc_exits.c */
void ucb_hook_site(uc_engine *uc, uint64_t addr, uint32_t size, void *user);
bool ucb_hook_fault(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user);
void ucb_hook_intr(uc_engine *uc, uint32_t intno, void *user);
bool ucb_hook_invalid(uc_engine *uc, void *user);
uint32_t ucb_hook_in(uc_engine *uc, uint32_t port, int size, void *user);
int ucb_hook_cpuid(uc_engine *uc, void *user);
void ucb_build_npf(struct ucb_vcpu *v, struct vmsim_exit *exit);
void ucb_build_paged_npf(struct ucb_vcpu *v, struct vmsim_exit *exit, const struct ucb_mmu_npf *npf);
enum vmsim_exit_action ucb_call_exit(struct ucb_vcpu *v, const struct vmsim_exit *exit);

/* uc_engine.c */
struct ucb_engine *ucb_engine_get(struct ucb_vcpu *v, enum ucb_mode mode);
void ucb_engine_destroy(struct ucb_engine *eng);
void ucb_add_sync_site(struct ucb_engine *eng, uint64_t addr);
/* An NPF of the data access at linear rip lin reached no attachment: hook it as an MMIO site if it is one. */
void ucb_learn_mmio_site(struct ucb_engine *eng, uint64_t lin);
/* Before uc_emu_start: drop code other engines of the vCPU rewrote, and watch the pages they scanned. */
void ucb_engine_enter(struct ucb_engine *eng);
/* Leave the engine to deliver #GP(0) at rip, first undoing the limit-checked transfer when undo is set. */
void ucb_limit_fault(struct ucb_engine *eng, bool undo, uint64_t rip);

/* uc_state.c */
enum vmsim_result ucb_state_get(void *vcpu, uint32_t groups, struct vmsim_cpu_state *out);
enum vmsim_result ucb_state_set(void *vcpu, uint32_t groups, const struct vmsim_cpu_state *in);
enum vmsim_result ucb_regs_set(void *vcpu, uint32_t regs, const struct vmsim_cpu_state *in);
enum vmsim_result ucb_engine_get_state(struct ucb_engine *eng, uint32_t groups, struct vmsim_cpu_state *out);
enum vmsim_result ucb_engine_set_state(struct ucb_engine *eng, uint32_t groups, const struct vmsim_cpu_state *in);
/* Before entering the engine: switch to the engine of the mode the guest put itself in. */
enum vmsim_result ucb_follow_guest_mode(struct ucb_vcpu *v);

/* uc_run.c */
enum vmsim_result ucb_vcpu_run(void *vcpu, vmsim_exit_fn on_exit, void *ctx);
void ucb_vcpu_stop(void *vcpu);

#endif
