/* core/tests/model_roundtrip_test.c - decode(encode(x)) == x sweeps, decode strictness, and bad model/pointer handling. */
#include <inttypes.h>
#include <stdio.h>

#include "vt_model.h"

static const enum vmsim_model vt_models[] = { VMSIM_MODEL_SVM, VMSIM_MODEL_VMX };
#define VT_FOR_EACH_MODEL(m) for (size_t vt_i_ = 0; vt_i_ < 2 && ((m) = vt_models[vt_i_], 1); vt_i_++)

static void vt_assert_exit_equal(const struct vmsim_exit *a, const struct vmsim_exit *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->rip, b->rip);
	assert_int_equal(a->insn_len, b->insn_len);
	switch (a->kind) {
	case VMSIM_EXIT_IO:
		assert_int_equal(a->u.io.port, b->u.io.port);
		assert_int_equal(a->u.io.size, b->u.io.size);
		assert_int_equal(a->u.io.in, b->u.io.in);
		assert_int_equal(a->u.io.string, b->u.io.string);
		assert_int_equal(a->u.io.rep, b->u.io.rep);
		assert_int_equal(a->u.io.imm, b->u.io.imm);
		assert_int_equal(a->u.io.addr_size, b->u.io.addr_size);
		assert_int_equal(a->u.io.seg, b->u.io.seg);
		break;
	case VMSIM_EXIT_NPF:
		assert_int_equal(a->u.npf.gpa, b->u.npf.gpa);
		assert_int_equal(a->u.npf.access, b->u.npf.access);
		assert_int_equal(a->u.npf.prot, b->u.npf.prot);
		assert_int_equal(a->u.npf.gla_valid, b->u.npf.gla_valid);
		assert_int_equal(a->u.npf.walk, b->u.npf.walk);
		assert_int_equal(a->u.npf.user, b->u.npf.user);
		break;
	case VMSIM_EXIT_MSR:
		assert_int_equal(a->u.msr.write, b->u.msr.write);
		break;
	case VMSIM_EXIT_EXCEPTION:
		assert_int_equal(a->u.exception.vector, b->u.exception.vector);
		assert_int_equal(a->u.exception.has_error, b->u.exception.has_error);
		assert_int_equal(a->u.exception.error_code, b->u.exception.error_code);
		assert_int_equal(a->u.exception.qual, b->u.exception.qual);
		break;
	default:
		break;
	}
}

/* Encode, decode, compare; then re-encode the decoded exit and compare the raw registers. */
static unsigned vt_round_trip(enum vmsim_model model, const struct vmsim_exit *exit)
{
	struct vmsim_vcpu_state state, again;
	struct vmsim_exit decoded;

	vt_encode(model, exit, &state);
	VT_ASSERT_OK(vmsim_model_decode_exit(model, &state, &decoded));
	vt_assert_exit_equal(exit, &decoded);
	vt_encode(model, &decoded, &again);
	assert_int_equal(again.exit_reason, state.exit_reason);
	assert_int_equal(again.qual_primary.value, state.qual_primary.value);
	assert_int_equal(again.qual_secondary.value, state.qual_secondary.value);
	return 1;
}

static void round_trip_io_sweep(void **unused)
{
	static const uint16_t ports[] = { 0, 1, 0x80, 0x3f8, 0xfffe, 0xffff };
	static const uint8_t sizes[] = { 1, 2, 4 }, addr_sizes[] = { 0, 2, 4, 8 }, lens[] = { 0, 1, 2, 15 };
	static const uint64_t rips[] = { 0, 0xfff0, 0xfffffffffffffff0ull };
	enum vmsim_model model;
	unsigned count = 0;
	(void)unused;

	VT_FOR_EACH_MODEL(model) {
		bool svm = model == VMSIM_MODEL_SVM;
		for (size_t p = 0; p < 6; p++)
		for (size_t s = 0; s < 3; s++)
		for (unsigned flags = 0; flags < 16; flags++)
		for (size_t a = 0; a < (svm ? 4u : 1u); a++)
		for (uint8_t seg = 0; seg <= (svm ? 5 : 0); seg++)
		for (size_t r = 0; r < 3; r++)
		for (size_t l = 0; l < 4; l++) {
			struct vmsim_exit exit = vt_io(ports[p], sizes[s], flags & 1);
			exit.u.io.string = flags & 2;
			exit.u.io.rep = flags & 4;
			exit.u.io.imm = !svm && (flags & 8); /* SVM has no immediate bit */
			exit.u.io.addr_size = svm ? addr_sizes[a] : 0; /* VMX: not in the qualification */
			exit.u.io.seg = seg;
			exit.rip = rips[r];
			exit.insn_len = lens[l];
			count += vt_round_trip(model, &exit);
		}
	}
	assert_true(count > 10000);
}

static void round_trip_npf_sweep(void **unused)
{
	static const uint64_t gpas[] = { 0, 0xfffff000, 1ull << 51, ~0ull };
	static const uint8_t access[] = { VMSIM_ACCESS_READ, VMSIM_ACCESS_WRITE, VMSIM_ACCESS_FETCH };
	enum vmsim_model model;
	unsigned count = 0;
	(void)unused;

	VT_FOR_EACH_MODEL(model) {
		bool svm = model == VMSIM_MODEL_SVM;
		for (size_t g = 0; g < 4; g++)
		for (size_t a = 0; a < 3; a++)
		for (uint8_t prot = 0; prot < 8; prot++)
		for (unsigned gla = 0; gla < 2; gla++)
		for (unsigned walk = 0; walk <= gla; walk++)
		for (unsigned user = 0; user < 2; user++) {
			/* SVM keeps only "present" (decoded as read-only) and no GLA bit but for a walk (bit 33). */
			if (svm && (prot > VMSIM_PROT_READ || gla != walk))
				continue;
			/* VMX bit 9 (user) is defined only for the final translation of a linear address. */
			if (!svm && user && (!gla || walk))
				continue;
			struct vmsim_exit exit = vt_npf(gpas[g], access[a], prot);
			exit.u.npf.gla_valid = gla;
			exit.u.npf.walk = walk;
			exit.u.npf.user = user;
			count += vt_round_trip(model, &exit);
		}
	}
	/* SVM: 4 gpa x 3 access x 2 prot x 2 walk x 2 user; VMX: 4 x 3 x 8 x (no gla, gla+final x 2 user, walk). */
	assert_int_equal(count, 4 * 3 * 2 * 2 * 2 + 4 * 3 * 8 * 4);
}

static void round_trip_exception_and_plain_sweep(void **unused)
{
	static const uint32_t codes[] = { 0, 0xffff, 0xfffffffe };
	enum vmsim_model model;
	(void)unused;

	VT_FOR_EACH_MODEL(model) {
		bool svm = model == VMSIM_MODEL_SVM;
		for (uint8_t vector = 0; vector < 32; vector++)
		for (unsigned has_error = 0; has_error < 2; has_error++)
		for (size_t c = 0; c < 3; c++) {
			/* SDM vol. 3A 6.15 / APM vol. 2 8.2: AMD adds #VC 29 and #SX 30. */
			bool pushes = vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 ||
			              (svm && (vector == 29 || vector == 30));
			/* An error code only where the vector pushes one; SVM cannot say "no error" for those. */
			if ((has_error && !pushes) || (!has_error && c > 0) || (svm && has_error != pushes))
				continue;
			struct vmsim_exit exit = vt_exception(vector, has_error, has_error ? codes[c] : 0);
			exit.u.exception.qual = vector == 14 ? 0xffff8000c0de0000ull : vector == 1 ? 0x1600f : 0;
			if (svm && vector == 1)
				exit.u.exception.qual = 0; /* SVM reports #DB in the VMCB's DR6, not EXITINFO */
			if (svm) {
				vt_round_trip(model, &exit);
				continue;
			}
			/* VMX: Genode's Vcpu_state carries only the qualification (see vmx_exception_qualification). */
			struct vmsim_vcpu_state state;
			struct vmsim_exit decoded;
			assert_int_equal(vt_encode(model, &exit, &state), 0);
			VT_ASSERT_OK(vmsim_model_decode_exit(model, &state, &decoded));
			assert_int_equal(decoded.u.exception.vector, 0xff);
			assert_int_equal(decoded.u.exception.qual, exit.u.exception.qual);
		}
		for (unsigned kind = VMSIM_EXIT_NONE + 1; kind < VMSIM_EXIT_KIND_COUNT; kind++) {
			if (kind == VMSIM_EXIT_IO || kind == VMSIM_EXIT_NPF || kind == VMSIM_EXIT_EXCEPTION ||
			    vmsim_model_exit_code(model, (enum vmsim_exit_kind)kind) < 0)
				continue;
			struct vmsim_exit exit = vt_exit((enum vmsim_exit_kind)kind, 0xffff0000fff0ull, 3);
			vt_round_trip(model, &exit);
			exit.u.msr.write = kind == VMSIM_EXIT_MSR;
			vt_round_trip(model, &exit);
		}
	}
}

/* xorshift64: the decoders must accept only what the encoders produce. */
static uint64_t vt_next(uint64_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return *seed;
}

/*
 * The bits of qual_primary/qual_secondary the manuals define AND vmsim models,
 * for a state decode accepted (written from the APM/SDM, not from the models):
 * undefined fields (VMX guest-physical address outside EPT exits, SVM EXITINFO
 * of intercepts that define none) and accepted-but-unmodelled bits are masked.
 */
static void vt_defined_quals(enum vmsim_model model, const struct vmsim_vcpu_state *state, uint64_t *q1,
                             uint64_t *q2)
{
	unsigned code = state->exit_reason;

	*q1 = 0;
	*q2 = 0;
	if (code == 0xfe || code == 0xff) /* Genode's synthetic STARTUP/PAUSED: no hardware exit, nothing defined */
		return;
	if (model == VMSIM_MODEL_SVM) {
		if (code == 0x7b) {              /* IOIO: EXITINFO1 and next rIP (APM 15.10.2) */
			*q1 = ~0ull;
			*q2 = ~0ull;
		} else if (code == 0xfc) {       /* NPF: error code less RSV (bit 3, not modelled), gpa */
			*q1 = ~0x8ull;
			*q2 = ~0ull;
		} else if (code == 0x7c) {       /* MSR: EXITINFO1 0/1 (APM 15.11) */
			*q1 = ~0ull;
		} else if (code == 0x4e) {       /* #PF: error code, CR2 (APM 15.12) */
			*q1 = ~0ull;
			*q2 = ~0ull;
		} else if (code == 0x48 || (code >= 0x4a && code <= 0x4d) || code == 0x51 || code == 0x55 ||
		           code == 0x5d || code == 0x5e) {
			*q1 = ~0ull;             /* error-code vectors */
		}
		return;
	}
	*q1 = ~0ull;                             /* the exit qualification: defined or cleared */
	if (code == 48) {                        /* EPT violation, Table 28-7 */
		bool final_linear = (state->qual_primary.value & 0x180) == 0x180;
		*q1 = 0x1bf | (final_linear ? 0x200 : 0);
		*q2 = ~0ull;
	}
}

static void decode_accepts_only_encoder_image(void **unused)
{
	static const uint64_t masks[] = { ~0ull, 0xffffffff, 0xffff1fff, 0x1000001ffull, 0x1ff, 0x3 };
	uint64_t seed = 0x5eed0f7e57ull;
	enum vmsim_model model;
	unsigned accepted = 0;
	(void)unused;

	printf("seed 0x%" PRIx64 "\n", seed);
	VT_FOR_EACH_MODEL(model) {
		for (unsigned i = 0; i < 200000; i++) {
			struct vmsim_vcpu_state state, again;
			struct vmsim_exit decoded;
			uint64_t r = vt_next(&seed);

			vmsim_vcpu_state_clear(&state);
			state.exit_reason = (unsigned)(r & 0xff);
			state.ip.value = vt_next(&seed) & 0xffff;
			state.ip_len.value = (r >> 8) & 0xf;
			state.qual_primary.value = vt_next(&seed) & masks[(r >> 12) % 6];
			state.qual_secondary.value = ((r >> 16) & 1) ? 0 : vt_next(&seed) & masks[(r >> 20) % 6];
			if (state.exit_reason == (model == VMSIM_MODEL_SVM ? 0x7b : 30) && ((r >> 24) & 1))
				state.qual_secondary.value = model == VMSIM_MODEL_SVM
				                                     ? state.ip.value + state.ip_len.value : 0;
			if (vmsim_model_decode_exit(model, &state, &decoded) != VMSIM_OK)
				continue;
			accepted++;
			if (model == VMSIM_MODEL_VMX && decoded.kind == VMSIM_EXIT_EXCEPTION) {
				assert_int_equal(decoded.u.exception.qual, state.qual_primary.value);
				continue;
			}
			uint64_t q1_mask, q2_mask;
			vt_defined_quals(model, &state, &q1_mask, &q2_mask);
			vt_encode(model, &decoded, &again);
			assert_int_equal(again.exit_reason, state.exit_reason);
			assert_int_equal(again.qual_primary.value & q1_mask, state.qual_primary.value & q1_mask);
			assert_int_equal(again.qual_secondary.value & q2_mask, state.qual_secondary.value & q2_mask);
		}
	}
	assert_true(accepted > 1000);
}

/* The doc's rejection lists, written independently of the models. */
static bool vt_event_legal(enum vmsim_model model, uint32_t info, uint64_t error, uint64_t ip_len)
{
	unsigned type = (info >> 8) & 7, vector = info & 0xff;
	bool ev = info & 0x800, pushes = vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21;

	if (!(info & 0x80000000u))
		return true;
	if (info & 0x7fffc000u)
		return false;
	if (model == VMSIM_MODEL_SVM)
		return type != 1 && type < 5 && !(type == 3 && (vector == 2 || vector > 31)) &&
		       !(ev && (error >> 32));
	return type != 1 && type != 7 && !(type == 2 && vector != 2) &&
	       !(type == 3 && vector > 31) && !(ev && (type != 3 || !pushes)) && !(ev && (error >> 16)) &&
	       !(type >= 4 && type <= 6 && (ip_len < 1 || ip_len > 15));
}

static void event_sweep(void **unused)
{
	static const uint8_t vectors[] = { 0, 2, 3, 8, 13, 14, 21, 31, 32, 0x80, 0xff };
	static const uint64_t errors[] = { 0, 0xfffc, 0x10000 }, ip_lens[] = { 0, 1, 15, 16 };
	static const uint32_t extra[] = { 0, 0x1000, 0x2000, 0x3000, 0x4000, 0x40000000 };
	enum vmsim_model model;
	unsigned legal = 0;
	(void)unused;

	VT_FOR_EACH_MODEL(model)
	for (unsigned valid = 0; valid < 2; valid++)
	for (unsigned type = 0; type < 8; type++)
	for (size_t v = 0; v < sizeof vectors; v++)
	for (unsigned ev = 0; ev < 2; ev++)
	for (size_t x = 0; x < 6; x++)
	for (size_t e = 0; e < 3; e++)
	for (size_t l = 0; l < 4; l++) {
		uint32_t info = (valid ? 0x80000000u : 0) | type << 8 | vectors[v] | (ev ? 0x800u : 0) | extra[x];
		struct vmsim_event event, again;
		enum vmsim_invalid_reason reason;
		uint64_t info2, error2;
		enum vmsim_result result = vmsim_model_decode_event(model, info, errors[e], ip_lens[l], &event, &reason);

		if (!vt_event_legal(model, info, errors[e], ip_lens[l])) {
			VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, result);
			assert_int_equal(reason, VMSIM_INVALID_EVENT);
			continue;
		}
		VT_ASSERT_OK(result);
		legal++;
		VT_ASSERT_OK(vmsim_model_encode_event(model, &event, &info2, &error2));
		assert_int_equal(info2, valid ? info : (info & 0x3000));
		assert_int_equal(error2, valid && ev ? errors[e] : 0);
		VT_ASSERT_OK(vmsim_model_decode_event(model, info2, error2, event.insn_len, &again, &reason));
		assert_int_equal(again.valid, event.valid);
		assert_int_equal(again.type, event.type);
		assert_int_equal(again.vector, event.vector);
		assert_int_equal(again.has_error, event.has_error);
		assert_int_equal(again.error_code, event.error_code);
		assert_int_equal(again.insn_len, event.insn_len);
		assert_int_equal(again.want_intr_window, event.want_intr_window);
		assert_int_equal(again.want_nmi_window, event.want_nmi_window);
	}
	assert_true(legal > 1000);
}

static void intr_state_activity_controls_sweep(void **unused)
{
	const uint32_t vmx_always = VMSIM_INTERCEPT_CPUID | VMSIM_INTERCEPT_VMCALL | VMSIM_INTERCEPT_SHUTDOWN;
	const uint32_t svm_always = VMSIM_INTERCEPT_TSC_OFFSET | VMSIM_INTERCEPT_UNRESTRICTED_GUEST;
	enum vmsim_invalid_reason reason;
	uint64_t primary, secondary;
	uint32_t out;
	(void)unused;

	for (uint32_t blocking = 0; blocking < 16; blocking++) {
		VT_ASSERT_OK(vmsim_model_decode_intr_state(VMSIM_MODEL_VMX,
		                                           vmsim_model_encode_intr_state(VMSIM_MODEL_VMX, blocking), &out));
		assert_int_equal(out, blocking);
		VT_ASSERT_OK(vmsim_model_decode_intr_state(VMSIM_MODEL_SVM,
		                                           vmsim_model_encode_intr_state(VMSIM_MODEL_SVM, blocking), &out));
		assert_int_equal(out, (blocking & 3) ? VMSIM_BLOCK_STI : 0);
	}
	for (uint32_t activity = 0; activity < 4; activity++) {
		VT_ASSERT_OK(vmsim_model_decode_activity(VMSIM_MODEL_VMX,
		                                         vmsim_model_encode_activity(VMSIM_MODEL_VMX, activity), &out));
		assert_int_equal(out, activity);
		VT_ASSERT_OK(vmsim_model_decode_activity(VMSIM_MODEL_SVM,
		                                         vmsim_model_encode_activity(VMSIM_MODEL_SVM, activity), &out));
		assert_int_equal(out, VMSIM_ACTIVITY_ACTIVE);
	}
	for (uint32_t set = 0; set < (1u << 12); set++) {
		vmsim_model_encode_controls(VMSIM_MODEL_VMX, set, &primary, &secondary);
		VT_ASSERT_OK(vmsim_model_decode_controls(VMSIM_MODEL_VMX, primary, secondary, &out, &reason));
		assert_int_equal(out, set | vmx_always | ((set & VMSIM_INTERCEPT_RDTSCP) ? VMSIM_INTERCEPT_RDTSC : 0));
		vmsim_model_encode_controls(VMSIM_MODEL_SVM, set, &primary, &secondary);
		VT_ASSERT_OK(vmsim_model_decode_controls(VMSIM_MODEL_SVM, primary, secondary, &out, &reason));
		assert_int_equal(out, (set & ~(uint32_t)VMSIM_INTERCEPT_NMI_WINDOW) | svm_always);
	}
}

static void names_parse_and_exit_tables(void **unused)
{
	enum vmsim_model model = VMSIM_MODEL_VMX;
	(void)unused;

	assert_string_equal(vmsim_model_name(VMSIM_MODEL_SVM), "svm");
	assert_string_equal(vmsim_model_name(VMSIM_MODEL_VMX), "vmx");
	VT_ASSERT_OK(vmsim_model_parse("svm", &model));
	assert_int_equal(model, VMSIM_MODEL_SVM);
	VT_ASSERT_OK(vmsim_model_parse("vmx", &model));
	assert_int_equal(model, VMSIM_MODEL_VMX);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_parse("SVM", &model));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_parse("", &model));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_parse("vmxx", &model));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_parse(NULL, &model));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_parse("svm", NULL));

	/* Every kind has a code or -1; the codes vmm_x86 compares are disjoint between the models. */
	VT_FOR_EACH_MODEL(model) {
		assert_int_equal(vmsim_model_exit_code(model, VMSIM_EXIT_NONE), -1);
		assert_int_equal(vmsim_model_exit_code(model, VMSIM_EXIT_KIND_COUNT), -1);
		assert_int_equal(vmsim_model_exit_code(model, (enum vmsim_exit_kind)-1), -1);
		for (unsigned kind = VMSIM_EXIT_NONE + 1; kind < VMSIM_EXIT_KIND_COUNT; kind++) {
			long code = vmsim_model_exit_code(model, (enum vmsim_exit_kind)kind);
			if (code >= 0)
				assert_string_not_equal(vmsim_model_exit_name(model, (unsigned)code), "unknown");
		}
	}
	assert_int_equal(vmsim_model_exit_code(VMSIM_MODEL_VMX, VMSIM_EXIT_HLT), 0x0c);
	assert_int_equal(vmsim_model_exit_code(VMSIM_MODEL_SVM, VMSIM_EXIT_HLT), 0x78);
	assert_int_equal(vmsim_model_exit_code(VMSIM_MODEL_VMX, VMSIM_EXIT_CPUID), 0x0a);
	assert_int_equal(vmsim_model_exit_code(VMSIM_MODEL_VMX, VMSIM_EXIT_NPF), 0x30);
	assert_int_equal(vmsim_model_exit_code(VMSIM_MODEL_SVM, VMSIM_EXIT_NPF), 0xfc);
	assert_int_equal(vmsim_model_exit_code(VMSIM_MODEL_SVM, VMSIM_EXIT_EXCEPTION), 0x40);
}

static void decode_exit_unknown_codes(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit out;
	(void)unused;

	vmsim_vcpu_state_clear(&state);
	state.exit_reason = 0x400; /* hardware VMEXIT_NPF, passed through: decoded like Genode's 0xfc */
	state.qual_primary.value = 0x100000004ull; /* final gpa, user */
	VT_ASSERT_OK(vmsim_model_decode_exit(VMSIM_MODEL_SVM, &state, &out));
	assert_int_equal(out.kind, VMSIM_EXIT_NPF);
	assert_true(out.u.npf.user);
	state.qual_primary.value = 0;
	state.exit_reason = 0xffffffffu; /* VMEXIT_INVALID (-1) as base-hw passes it through */
	VT_ASSERT_OK(vmsim_model_decode_exit(VMSIM_MODEL_SVM, &state, &out));
	assert_int_equal(out.kind, VMSIM_EXIT_INVALID_STATE);
	state.exit_reason = 0x78; /* SVM HLT with a stale ip_len, as base-hw leaves it: length unknown */
	state.ip_len.value = 0x1234;
	VT_ASSERT_OK(vmsim_model_decode_exit(VMSIM_MODEL_SVM, &state, &out));
	assert_int_equal(out.insn_len, 0);
	state.ip_len.value = 0;
	state.exit_reason = 0x42; /* never produced: NMI is 0x61 */
	VT_ASSERT_RESULT(VMSIM_UNSUPPORTED, vmsim_model_decode_exit(VMSIM_MODEL_SVM, &state, &out));
	state.exit_reason = 28; /* CR access: named, not modelled */
	VT_ASSERT_RESULT(VMSIM_UNSUPPORTED, vmsim_model_decode_exit(VMSIM_MODEL_VMX, &state, &out));
	state.exit_reason = 12;
	state.ip_len.value = 16;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(VMSIM_MODEL_VMX, &state, &out));
	state.ip_len.value = 1;
	state.qual_primary.value = 1; /* HLT writes no qualification */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(VMSIM_MODEL_VMX, &state, &out));
}

static void invalid_model_and_null_pointers(void **unused)
{
	static const enum vmsim_model bad[] = { (enum vmsim_model)0, (enum vmsim_model)3, (enum vmsim_model)-1 };
	struct vmsim_vcpu_state state;
	struct vmsim_cpu_state cpu;
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_HLT, 0, 1), out;
	struct vmsim_event event = vt_event(VMSIM_EVENT_NMI, 2);
	enum vmsim_invalid_reason reason;
	uint64_t a = 1, b = 1;
	uint32_t u;
	enum vmsim_model model;
	(void)unused;

	vt_reset_state(&cpu, 0);
	vmsim_vcpu_state_clear(&state);
	for (size_t i = 0; i < 3; i++) {
		enum vmsim_model m = bad[i];
		assert_null(vmsim_model_name(m));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(m, &exit, 0, 0, &state));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(m, &state, &out));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_event(m, &event, &a, &b));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_event(m, 0, 0, 0, &event, &reason));
		assert_int_equal(vmsim_model_encode_intr_state(m, VMSIM_BLOCK_STI), 0);
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_intr_state(m, 0, &u));
		assert_int_equal(vmsim_model_encode_activity(m, VMSIM_ACTIVITY_HLT), 0);
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_activity(m, 0, &u));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_controls(m, 0, 1, &u, &reason));
		vmsim_model_encode_controls(m, VMSIM_INTERCEPT_HLT, &a, &b);
		assert_int_equal(a, 0);
		assert_int_equal(b, 0);
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_check_entry(m, &cpu, &reason));
		assert_int_equal(vmsim_model_exit_code(m, VMSIM_EXIT_HLT), -1);
		assert_string_equal(vmsim_model_exit_name(m, 0x78), "unknown");
	}
	VT_FOR_EACH_MODEL(model) {
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(model, NULL, 0, 0, &state));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(model, &exit, 0, 0, NULL));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(model, NULL, &out));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(model, &state, NULL));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_event(model, NULL, &a, &b));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_event(model, &event, NULL, &b));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_event(model, &event, &a, NULL));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_event(model, 0, 0, 0, NULL, &reason));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_event(model, 0, 0, 0, &event, NULL));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_intr_state(model, 0, NULL));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_activity(model, 0, NULL));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_controls(model, 0, 1, NULL, &reason));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_controls(model, 0, 1, &u, NULL));
		vmsim_model_encode_controls(model, VMSIM_INTERCEPT_HLT, NULL, NULL); /* must not crash */
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_check_entry(model, NULL, &reason));
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_check_entry(model, &cpu, NULL));
		exit.kind = (enum vmsim_exit_kind)VMSIM_EXIT_KIND_COUNT;
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(model, &exit, 0, 0, &state));
		exit.kind = VMSIM_EXIT_HLT;
		event.type = (enum vmsim_event_type)8;
		VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_event(model, &event, &a, &b));
		event.type = VMSIM_EVENT_NMI;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_io_sweep),
		cmocka_unit_test(round_trip_npf_sweep),
		cmocka_unit_test(round_trip_exception_and_plain_sweep),
		cmocka_unit_test(decode_accepts_only_encoder_image),
		cmocka_unit_test(event_sweep),
		cmocka_unit_test(intr_state_activity_controls_sweep),
		cmocka_unit_test(names_parse_and_exit_tables),
		cmocka_unit_test(decode_exit_unknown_codes),
		cmocka_unit_test(invalid_model_and_null_pointers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
