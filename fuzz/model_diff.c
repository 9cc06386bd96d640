/* fuzz/model_diff.c - one neutral exit through both models: each decodes its own encoding back, and they agree. */
#include <string.h>

#include <vmsim/vmsim.h>

#include "fuzz_target.h"

/*
 * Input: a kind byte, then payload bytes folded into a neutral exit inside the
 * architectural domain (sizes 1/2/4, one access bit, ...). Where both models
 * can encode the exit, decode(encode(x)) must give the same neutral exit from
 * SVM and from VMX on every field both carry, and equal x on those fields.
 */
static uint64_t take(const uint8_t **data, size_t *size, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && *size; i++, (*data)++, (*size)--)
		v |= (uint64_t)**data << (8 * i);
	return v;
}

static void build_exit(const uint8_t *data, size_t size, struct vmsim_exit *e)
{
	static const uint8_t io_sizes[] = {1, 2, 4}, addr_sizes[] = {2, 4, 8};
	memset(e, 0, sizeof *e);
	e->kind = (enum vmsim_exit_kind)(take(&data, &size, 1) % VMSIM_EXIT_KIND_COUNT);
	e->rip = take(&data, &size, 8);
	e->insn_len = (uint8_t)(1 + take(&data, &size, 1) % 15);
	uint64_t bits = take(&data, &size, 8);
	switch (e->kind) {
	case VMSIM_EXIT_IO:
		e->u.io.port = (uint16_t)take(&data, &size, 2);
		e->u.io.size = io_sizes[bits % 3];
		e->u.io.in = bits >> 2 & 1;
		e->u.io.string = bits >> 3 & 1;
		e->u.io.rep = e->u.io.string && (bits >> 4 & 1);
		e->u.io.imm = !e->u.io.string && (bits >> 5 & 1) && e->u.io.port < 256;
		e->u.io.addr_size = e->u.io.string ? addr_sizes[(bits >> 6) % 3] : 0;
		e->u.io.seg = e->u.io.string ? (uint8_t)((bits >> 8) % 6) : 0;
		break;
	case VMSIM_EXIT_NPF:
		e->u.npf.gpa = take(&data, &size, 8) & ((UINT64_C(1) << 48) - 1);
		e->u.npf.access = (uint8_t)(1u << (bits % 3));
		e->u.npf.prot = (uint8_t)(bits >> 2 & 7);
		e->u.npf.gla_valid = bits >> 5 & 1;
		e->u.npf.walk = e->u.npf.gla_valid && (bits >> 6 & 1); /* a walk has a linear address */
		e->u.npf.user = bits >> 7 & 1;
		break;
	case VMSIM_EXIT_CPUID:
		e->u.cpuid.leaf = (uint32_t)take(&data, &size, 4);
		e->u.cpuid.subleaf = (uint32_t)take(&data, &size, 4);
		break;
	case VMSIM_EXIT_MSR:
		e->u.msr.index = (uint32_t)take(&data, &size, 4);
		e->u.msr.write = bits & 1;
		break;
	case VMSIM_EXIT_EXCEPTION:
		/* the architecture decides which vectors push an error code (#DF #TS #NP #SS #GP #PF #AC #CP #VC #SX) */
		e->u.exception.vector = (uint8_t)(bits % 32);
		e->u.exception.has_error = (UINT32_C(0x60227d00) >> e->u.exception.vector) & 1;
		e->u.exception.error_code = e->u.exception.has_error ? (uint32_t)take(&data, &size, 4) : 0;
		/* #PF: any linear address; #DB: SDM Table 28-1 bits; otherwise none */
		e->u.exception.qual = e->u.exception.vector == 14  ? take(&data, &size, 8)
		                      : e->u.exception.vector == 1 ? (bits >> 8) & VMSIM_DB_QUAL_MASK
		                                                   : 0;
		break;
	case VMSIM_EXIT_INVALID_STATE:
		e->u.invalid.reason = (enum vmsim_invalid_reason)(1 + bits % VMSIM_INVALID_BACKEND);
		break;
	default:
		break;
	}
}

/*
 * The fields a model carries back (m: 0 SVM, 1 VMX; -1 = both). Losses by the
 * manuals: SVM has no NPF protection bits (only P), no GLA, no #DB qualification;
 * VMX has no user bit off the final translation and no vector in Vcpu_state.
 */
static bool same_exit(const struct vmsim_exit *a, const struct vmsim_exit *b, int m)
{
	bool svm = m == 0, vmx = m == 1;
	if (a->kind != b->kind || a->rip != b->rip || a->insn_len != b->insn_len)
		return false;
	switch (a->kind) {
	case VMSIM_EXIT_IO:
		/*
		 * Not addr_size and seg: VMX keeps them in the instruction-information field Genode drops.
		 * Not imm: SVM's IOIO information has no immediate-operand bit (VMX's qualification has).
		 */
		return a->u.io.port == b->u.io.port && a->u.io.size == b->u.io.size && a->u.io.in == b->u.io.in &&
		       a->u.io.string == b->u.io.string && a->u.io.rep == b->u.io.rep;
	case VMSIM_EXIT_NPF: {
		bool vmx_user = a->u.npf.gla_valid && !a->u.npf.walk; /* bit 9 defined only there */
		return a->u.npf.gpa == b->u.npf.gpa && a->u.npf.access == b->u.npf.access &&
		       !a->u.npf.prot == !b->u.npf.prot && a->u.npf.walk == b->u.npf.walk &&
		       (svm || m < 0 || a->u.npf.gla_valid == b->u.npf.gla_valid) &&
		       (svm || (vmx && !vmx_user) || m < 0 || a->u.npf.user == b->u.npf.user);
	}
	case VMSIM_EXIT_MSR:
		return a->u.msr.write == b->u.msr.write;
	case VMSIM_EXIT_EXCEPTION:
		if (vmx || m < 0) /* VMX: the qualification only (reason 0, vector unknown) */
			return m < 0 || a->u.exception.qual == b->u.exception.qual;
		return a->u.exception.vector == b->u.exception.vector &&
		       a->u.exception.has_error == b->u.exception.has_error &&
		       a->u.exception.error_code == b->u.exception.error_code &&
		       (a->u.exception.vector == 1 || a->u.exception.qual == b->u.exception.qual);
	default:
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum vmsim_model models[2] = {VMSIM_MODEL_SVM, VMSIM_MODEL_VMX};
	static struct vmsim_vcpu_state state;
	struct vmsim_exit exit, decoded[2];
	bool encoded[2];
	build_exit(data, size, &exit);
	for (int m = 0; m < 2; m++) {
		vmsim_vcpu_state_clear(&state);
		enum vmsim_result r = vmsim_model_encode_exit(models[m], &exit, 0, 0, &state);
		FUZZ_CHECK(r == VMSIM_OK || r == VMSIM_UNSUPPORTED || r == VMSIM_INVALID_ARGUMENT);
		encoded[m] = r == VMSIM_OK;
		if (!encoded[m])
			continue;
		/* a kind's code is only its first one (SVM: exception 0x40 + vector; VMX: RDMSR/WRMSR), so: a known name */
		FUZZ_CHECK(strcmp(vmsim_model_exit_name(models[m], state.exit_reason), "unknown") != 0);
		FUZZ_CHECK(vmsim_model_decode_exit(models[m], &state, &decoded[m]) == VMSIM_OK);
		FUZZ_CHECK(same_exit(&exit, &decoded[m], m));
		/* SVM: base-hw leaves ip_len stale; the decode must not depend on it (EXITINFO2 or "unknown") */
		if (m == 0 && exit.kind != VMSIM_EXIT_IO) {
			struct vmsim_exit stale;
			state.ip_len.value = 0x10 + exit.insn_len;
			FUZZ_CHECK(vmsim_model_decode_exit(models[m], &state, &stale) == VMSIM_OK);
			FUZZ_CHECK(stale.insn_len == 0);
		} else if (m == 0) {
			struct vmsim_exit stale;
			state.ip_len.value = 0x10 + exit.insn_len;
			FUZZ_CHECK(vmsim_model_decode_exit(models[m], &state, &stale) == VMSIM_OK);
			FUZZ_CHECK(same_exit(&exit, &stale, m));
		}
	}
	if (encoded[0] && encoded[1])
		FUZZ_CHECK(same_exit(&decoded[0], &decoded[1], -1));
	return 0;
}
