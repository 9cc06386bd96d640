/* core/model_table.h - the per-architecture ops tables behind model.h and what they share; private to model*.c. */
#ifndef VMSIM_CORE_MODEL_TABLE_H
#define VMSIM_CORE_MODEL_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include <vmsim/model.h>

/* Qualifications of one exit kind: may adjust *code (e.g. WRMSR, exception vector). */
typedef void (*qual_encode_fn)(const struct vmsim_exit *exit, uint64_t *code, uint64_t *qual_primary,
                               uint64_t *qual_secondary);
/* The inverse: out has kind, rip and insn_len set; INVALID_ARGUMENT for bits encode never writes. */
typedef enum vmsim_result (*qual_decode_fn)(unsigned code, uint64_t qual_primary, uint64_t qual_secondary,
                                            struct vmsim_exit *out);

/*
 * One table per architecture (model_svm.c, model_vmx.c). Every op is pure:
 * no I/O, no allocation, no state. model.c checks the model value and the
 * pointers before it calls an op, so ops may assume non-NULL arguments.
 */
struct model_ops {
	const char *name;
	/* Exit encoding (the frame is shared in model.c): kind <-> code, then per-kind qualifications. */
	const long *kind_codes;                       /* [VMSIM_EXIT_KIND_COUNT], -1 = none */
	enum vmsim_exit_kind (*kind_of_code)(unsigned exit_reason); /* NONE if not decodable */
	const qual_encode_fn *qual_encoders;          /* [VMSIM_EXIT_KIND_COUNT], NULL = both 0 */
	const qual_decode_fn *qual_decoders;          /* [VMSIM_EXIT_KIND_COUNT], NULL = both must be 0 */
	const char *(*exit_name)(unsigned exit_reason); /* NULL if the code has no name */
	/*
	 * VMX: ip_len is the VM-exit instruction-length field, so > 15 is refused.
	 * SVM: hardware has no such field and base-hw leaves ip_len stale, so a
	 * value > 15 or an uncharged one only means "unknown" (insn_len 0).
	 */
	bool ip_len_architectural;
	/*
	 * Exits without a qualification: VMX clears the exit qualification (SDM
	 * vol. 3C 28.2.1), so qual_primary must be 0; SVM leaves EXITINFO1/2
	 * undefined. qual_secondary (VMX guest-physical address) is undefined on both.
	 */
	bool qual_primary_cleared;
	/* decode_event's architectural checks; encode_event is shared (model_common.c). */
	enum vmsim_result (*decode_event)(uint64_t inj_info, uint64_t inj_error, uint64_t ip_len,
	                                  struct vmsim_event *out, enum vmsim_invalid_reason *reason);
	uint64_t (*encode_intr_state)(uint32_t blocking);
	enum vmsim_result (*decode_intr_state)(uint64_t intr_state, uint32_t *blocking);
	uint64_t (*encode_activity)(uint32_t activity);
	enum vmsim_result (*decode_activity)(uint64_t actv_state, uint32_t *activity);
	enum vmsim_result (*decode_controls)(uint64_t ctrl_primary, uint64_t ctrl_secondary,
	                                     uint32_t *intercepts, enum vmsim_invalid_reason *reason);
	void (*encode_controls)(uint32_t intercepts, uint64_t *ctrl_primary, uint64_t *ctrl_secondary);
	enum vmsim_result (*check_entry)(const struct vmsim_cpu_state *cpu, enum vmsim_invalid_reason *reason);
};


/* Designated-initialiser helpers for the per-model X-macro lists; counts feed _Static_assert. */
#define MODEL_KIND_CODE_(kind, code) [VMSIM_EXIT_##kind] = (code),
#define MODEL_COUNT_ONE_(kind, code) +1

extern const struct model_ops model_svm_ops;
extern const struct model_ops model_vmx_ops;

/* ---- shared encodings (model_common.c, a leaf) -------------------------- */

/* Kind of a code by scanning kind_codes; NONE if no kind has it. */
enum vmsim_exit_kind model_kind_by_code(const long *kind_codes, unsigned exit_reason);

/* Genode's inj_info window-request bits, masked off before the hardware field. */
#define MODEL_INJ_INTR_WINDOW 0x1000u
#define MODEL_INJ_NMI_WINDOW 0x2000u
#define MODEL_INJ_ERROR_VALID 0x800u
#define MODEL_INJ_VALID 0x80000000u
#define MODEL_INJ_RESERVED 0x7fffc000u /* bits 30:12 less the two window bits */
#define MODEL_MAX_INSN_LEN 15u

/* The common inj_info layout (SDM 24.8.3, APM 15.20): vector, type, EV, V. */
struct inj_fields {
	uint8_t vector;
	unsigned type;
	bool has_error;
	bool valid;
	bool want_intr_window;
	bool want_nmi_window;
	bool reserved_set; /* bits 30:12 (less the window bits) or 63:32 set */
};

struct inj_fields model_split_inj_info(uint64_t inj_info);
/*
 * Exceptions that push an error code in protected mode: #DF #TS #NP #SS #GP #PF
 * #AC #CP on both; AMD adds #VC 29 and #SX 30 (APM vol. 2 8.2, Table 8-1).
 */
bool model_vector_has_error(enum vmsim_model model, uint8_t vector);
/* Exactly one VMSIM_ACCESS_* bit set. */
bool model_access_valid(uint8_t access);
/* vmsim_model_encode_event for a table (arguments checked by the caller): decode_event is the judge. */
enum vmsim_result model_encode_event(const struct model_ops *ops, const struct vmsim_event *event,
                                     uint64_t *inj_info, uint64_t *inj_error);

/* Compressed segment access rights (backend.h): type/S/DPL/P/L/DB/unusable. */
static inline unsigned seg_type(uint16_t ar) { return ar & 0xfu; }
static inline bool seg_s(uint16_t ar) { return (ar >> 4) & 1u; }
static inline unsigned seg_dpl(uint16_t ar) { return (ar >> 5) & 3u; }
static inline bool seg_present(uint16_t ar) { return (ar >> 7) & 1u; }
static inline bool seg_long(uint16_t ar) { return (ar >> 9) & 1u; }
static inline bool seg_db(uint16_t ar) { return (ar >> 10) & 1u; }
static inline bool seg_unusable(uint16_t ar) { return (ar >> 12) & 1u; }

#define CR0_PE (1ull << 0)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define RFLAGS_IF (1ull << 9)

#endif
