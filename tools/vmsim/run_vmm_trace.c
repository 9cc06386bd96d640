/* tools/vmsim/run_vmm_trace.c - the default VMM's exit trace (--trace): one JSON object per exit. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "run_vmm_internal.h"

/* ---- trace ----------------------------------------------------------------------------------- */

/* One JSON line for the exit; false (the run ends with RUN_STATUS_OUTPUT) once the trace cannot be written. */
bool vmm_trace(struct vmm *vmm, const struct vmsim_exit *ex, const struct vmsim_vcpu_state *st)
{
	FILE *f = vmm->cfg->trace;
	const char *kind = vmsim_exit_kind_name(ex->kind);
	if (ex->kind == VMSIM_EXIT_NPF && ex->u.npf.decoded && ex->u.npf.access != VMSIM_ACCESS_FETCH)
		kind = "mmio";
	fprintf(f, "{\"vcpu\":0,\"seq\":%" PRIu64 ",\"exit\":%u,\"kind\":\"%s\",\"ip\":%" PRIu64, vmm->seq,
	        st->exit_reason, kind, ex->rip);
	if (ex->kind == VMSIM_EXIT_IO)
		fprintf(f, ",\"port\":%u,\"size\":%u,\"dir\":\"%s\",\"value\":%" PRIu32 ",\"string\":%s,\"rep\":%s",
		        ex->u.io.port, ex->u.io.size, ex->u.io.in ? "in" : "out", ex->u.io.value,
		        ex->u.io.string ? "true" : "false", ex->u.io.rep ? "true" : "false");
	if (ex->kind == VMSIM_EXIT_NPF)
		fprintf(f, ",\"gpa\":%" PRIu64 ",\"size\":%u,\"write\":%s,\"fetch\":%s", ex->u.npf.gpa, ex->u.npf.size,
		        ex->u.npf.access == VMSIM_ACCESS_WRITE ? "true" : "false",
		        ex->u.npf.access == VMSIM_ACCESS_FETCH ? "true" : "false");
	if (ex->kind == VMSIM_EXIT_NPF && ex->u.npf.decoded && ex->u.npf.access == VMSIM_ACCESS_WRITE)
		fprintf(f, ",\"value\":%" PRIu64, ex->u.npf.value);
	if (ex->kind == VMSIM_EXIT_CPUID)
		fprintf(f, ",\"leaf\":%" PRIu32 ",\"subleaf\":%" PRIu32, ex->u.cpuid.leaf, ex->u.cpuid.subleaf);
	if (ex->kind == VMSIM_EXIT_EXCEPTION) {
		fprintf(f, ",\"vector\":%u", ex->u.exception.vector);
		if (ex->u.exception.has_error)
			fprintf(f, ",\"error\":%" PRIu32, ex->u.exception.error_code);
		if (ex->u.exception.vector == 14)
			fprintf(f, ",\"address\":%" PRIu64, ex->u.exception.qual);
		if (ex->u.exception.vector == 1)
			fprintf(f, ",\"dr6\":%" PRIu64, ex->u.exception.qual); /* B0-B3, BD, BS, RTM */
	}
	if (ex->kind == VMSIM_EXIT_MSR)
		fprintf(f, ",\"msr\":%" PRIu32 ",\"write\":%s", ex->u.msr.index, ex->u.msr.write ? "true" : "false");
	if (vmm->cfg->disasm && ex->kind != VMSIM_EXIT_STARTUP) {
		cs_insn *insn = vmm_decode_at(vmm, st);
		if (insn) {
			fprintf(f, ",\"insn\":\"%s%s%s\"", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
			cs_free(insn, 1);
		}
	}
	if (fputs("}\n", f) == EOF || ferror(f)) {
		int err = errno;
		fprintf(vmm->cfg->err, "vmsim run: cannot write the trace: %s\n", strerror(err));
		vmm_finish(vmm, RUN_STATUS_OUTPUT);
		return false;
	}
	return true;
}
