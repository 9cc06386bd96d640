/* vmsim/exit.h - neutral guest events: what happened, before any SVM or VMX encoding. */
#ifndef VMSIM_API_EXIT_H
#define VMSIM_API_EXIT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, trace name). Backends report these; the session's model encodes them. */
#define VMSIM_EXIT_KIND_LIST(X)       \
	X(NONE, "none")                  \
	X(STARTUP, "startup")            \
	X(PAUSED, "paused")              \
	X(IO, "io")                      \
	X(NPF, "npf")                    \
	X(CPUID, "cpuid")                \
	X(HLT, "hlt")                    \
	X(VMCALL, "vmcall")              \
	X(RDTSC, "rdtsc")                \
	X(RDTSCP, "rdtscp")              \
	X(MSR, "msr")                    \
	X(SHUTDOWN, "shutdown")          \
	X(INVALID_STATE, "invalid")      \
	X(INTR_WINDOW, "intr_window")    \
	X(NMI_WINDOW, "nmi_window")      \
	X(EXCEPTION, "exception")

enum vmsim_exit_kind {
#define VMSIM_EXIT_KIND_ENUM_(name, text) VMSIM_EXIT_##name,
	VMSIM_EXIT_KIND_LIST(VMSIM_EXIT_KIND_ENUM_)
#undef VMSIM_EXIT_KIND_ENUM_
	VMSIM_EXIT_KIND_COUNT
};

/* Lower-case name of a kind as the trace format writes it; "unknown" outside the enum. */
const char *vmsim_exit_kind_name(enum vmsim_exit_kind kind);

enum vmsim_access {
	VMSIM_ACCESS_READ = 1,
	VMSIM_ACCESS_WRITE = 2,
	VMSIM_ACCESS_FETCH = 4
};

/* Why the entry checks refused a state; carried by an INVALID_STATE event. */
enum vmsim_invalid_reason {
	VMSIM_INVALID_NONE = 0,
	VMSIM_INVALID_CR0,          /* PG without PE, CD=0 with NW=1, reserved bits */
	VMSIM_INVALID_CR3,
	VMSIM_INVALID_CR4,
	VMSIM_INVALID_EFER,         /* LMA != LME && PG, LME+PG without PAE, SVME clear */
	VMSIM_INVALID_RFLAGS,       /* bit 1 clear or reserved bits set */
	VMSIM_INVALID_SEGMENT,      /* CS/SS access rights inconsistent */
	VMSIM_INVALID_ACTIVITY,     /* activity state out of range */
	VMSIM_INVALID_EVENT,        /* injection the architecture rejects */
	VMSIM_INVALID_CONTROLS,     /* intercept controls the architecture rejects */
	VMSIM_INVALID_UNRESTRICTED, /* real or unpaged mode without unrestricted guest */
	VMSIM_INVALID_BACKEND       /* the backend refused the state */
};

/* One neutral exit. rip is the exiting instruction's address, insn_len its length (0: unknown). */
struct vmsim_exit {
	enum vmsim_exit_kind kind;
	uint64_t rip;
	uint8_t insn_len;
	union {
		struct {
			uint16_t port;
			uint8_t size;      /* 1, 2 or 4 */
			bool in;
			bool string;
			bool rep;
			bool imm;          /* port given as an immediate, not in DX */
			uint8_t addr_size; /* 2, 4 or 8: the string instruction's address size */
			uint8_t seg;       /* effective segment, 0 = ES ... 5 = GS */
			uint32_t value;    /* OUT: the value written; IN: 0 */
		} io;
		struct {
			uint64_t gpa;
			uint64_t gla;
			bool gla_valid;
			uint8_t access;    /* one VMSIM_ACCESS_* bit */
			uint8_t prot;      /* VMSIM_PROT_* of the mapping hit; 0 when nothing is mapped */
			bool decoded;      /* a data access the backend decoded: size/value valid */
			uint8_t size;      /* 1, 2, 4 or 8 */
			/* in what was padding, so that plugins built before them (and zeroing the exit) stay compatible */
			bool walk;         /* fault on the guest's page-table walk, not the final gpa (needs gla_valid) */
			bool user;         /* a user-mode (CPL 3) access */
			uint64_t value;    /* decoded write: the value stored */
		} npf;
		struct {
			uint32_t leaf;
			uint32_t subleaf;
		} cpuid;
		struct {
			uint32_t index;
			bool write;
			uint64_t value;    /* WRMSR: EDX:EAX */
		} msr;
		struct {
			uint8_t vector;    /* 0-31; decoded VMX exits: VMSIM_VECTOR_UNKNOWN (see models.md) */
			bool has_error;
			uint32_t error_code;
			uint64_t qual;     /* #PF: faulting linear address (CR2); #DB: VMSIM_DB_QUAL_* bits; else 0 */
		} exception;
		struct {
			enum vmsim_invalid_reason reason;
		} invalid;
	} u;
};

/*
 * Genode's Vcpu_state has no field for VMX's VM-exit interruption information:
 * a reason-0 exit decoded from it has this vector (and no error code).
 */
enum { VMSIM_VECTOR_UNKNOWN = 0xff };
/* #DB exit qualification bits (SDM vol. 3C 28.2.1, Table 28-1): B0-B3, BD, BS, RTM. */
enum { VMSIM_DB_QUAL_MASK = 0x1600f };

/* Interruptibility as a neutral bit set (VMX's layout; SVM keeps only the STI/MOV SS shadow). */
enum vmsim_blocking {
	VMSIM_BLOCK_STI = 1,
	VMSIM_BLOCK_MOVSS = 2,
	VMSIM_BLOCK_SMI = 4,
	VMSIM_BLOCK_NMI = 8
};

enum vmsim_activity {
	VMSIM_ACTIVITY_ACTIVE = 0,
	VMSIM_ACTIVITY_HLT = 1,
	VMSIM_ACTIVITY_SHUTDOWN = 2,
	VMSIM_ACTIVITY_WAIT_SIPI = 3
};

/* Event types numbered as VMX's interruption-information type field. */
enum vmsim_event_type {
	VMSIM_EVENT_EXTINT = 0,
	VMSIM_EVENT_NMI = 2,
	VMSIM_EVENT_HW_EXCEPTION = 3,
	VMSIM_EVENT_SW_INT = 4,
	VMSIM_EVENT_PRIV_SW_EXCEPTION = 5,
	VMSIM_EVENT_SW_EXCEPTION = 6
};

/* A neutral injection request, decoded from inj_info/inj_error by the session's model. */
struct vmsim_event {
	bool valid;
	enum vmsim_event_type type;
	uint8_t vector;
	bool has_error;
	uint32_t error_code;
	uint8_t insn_len;       /* software events: length of the INTn/INT3/INTO */
	bool want_intr_window;  /* exit once the guest can take an interrupt */
	bool want_nmi_window;   /* exit once the guest can take an NMI */
};

#ifdef __cplusplus
}
#endif
#endif
