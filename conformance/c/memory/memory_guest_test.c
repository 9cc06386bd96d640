/* memory_guest_test.c - attachment protections and flushes enforced in the guest: every violation is an NPF exit. */
#include <string.h>

#include "../vc.h"

#define NPF_CAPS (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_NPF)

/* Expected NPF qualifications, from x86-exit-encodings.md (not from core's tables). */
static void expect_npf(const struct vt_exit *e, uint64_t ip, uint64_t gpa, unsigned access, unsigned prot,
                       uint64_t insn_len)
{
	assert_int_equal(e->reason, vc_svm() ? 0xfc : 48);
	assert_int_equal(e->ip, ip);
	assert_int_equal(e->qual_secondary, gpa);
	if (vc_svm()) {
		/* EXITINFO1 as a #PF error code: P if mapped, RW for a write, ID for a fetch, bit 32 final gpa */
		uint64_t want = (prot ? 1u : 0u) | (access == VMSIM_ACCESS_WRITE ? 2u : 0u) |
		                (access == VMSIM_ACCESS_FETCH ? 0x10u : 0u) | (1ull << 32);
		assert_int_equal(e->qual_primary, want);
	} else {
		/* bits 0-2 read/write/fetch, bits 3-5 the entry's R/W/X; bit 8 only together with bit 7 */
		assert_int_equal(e->qual_primary & 0x3f, access | (prot << 3));
		if (e->qual_primary & 0x100)
			assert_true(e->qual_primary & 0x80);
		assert_int_equal(e->qual_primary & ~0x1bfull, 0);
	}
	/* a fetch has no instruction to decode; a data access has its length where the backend decodes */
	if (access == VMSIM_ACCESS_FETCH)
		assert_int_equal(e->ip_len, 0);
	else if (vc_target()->ops->caps & VMSIM_CAP_EXIT_MMIO_DECODE)
		assert_int_equal(e->ip_len, insn_len);
}

static unsigned npf_code(void)
{
	return vc_svm() ? 0xfc : 48;
}

static int stop_on_npf(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	return st->exit_reason == npf_code() ? 0 : -1;
}

/* STARTUP with EBX = vm->user (a jump target); NPFs stop. */
static int start_with_ebx(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != VMSIM_EXIT_CODE_STARTUP)
		return stop_on_npf(c, st);
	vt_charge_start(c, st, c->start_ip);
	vmsim_charge(st, bx, (uint64_t)(uintptr_t)c->vm->user);
	return 1;
}

static void write_to_readonly_faults(const void *p)
{
	bool sealed = p != NULL;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0x30000, 0x31000);
	vmsim_ds_cap page = vt_ds(vm.env, 4096);
	if (sealed)
		assert_int_equal(vmsim_ds_seal(vm.env, page), VMSIM_OK);
	/* sealed: asked writeable and executable, downgraded to R+X; else plainly read-only */
	assert_int_equal(vt_attach(vm.session, page, 0x30000, 0, 0, sealed, sealed), VMSIM_OK);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_write_ro", stop_on_npf);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	unsigned prot = VMSIM_PROT_READ | (sealed ? VMSIM_PROT_EXEC : 0);
	expect_npf(&c->log[1], vt_addr(&vm, "x_write_ro"), 0x30000, VMSIM_ACCESS_WRITE, prot, 10);
	assert_int_equal(vmsim_ds_free(vm.env, page), VMSIM_OK);
	vt_vm_close(&vm);
}

static const int sealed_flag = 1;

/* Written before the vCPU thread exists, read by its handler. */
static vmsim_ds_cap reattach_page;

/* After the write fault the VMM re-attaches the page writeable and resumes: the write lands. */
static int reattach_writeable(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP)
		return start_with_ebx(c, st);
	if (st->exit_reason == (vc_svm() ? 0x78u : 12u))
		return 0; /* the HLT the guest reaches after the write: stop there */
	if (st->exit_reason != npf_code())
		return -1;
	if (c->user_state++)
		return 0;
	assert_int_equal(vmsim_session_detach(c->vm->session, 0x30000, 4096), VMSIM_OK);
	assert_int_equal(vt_attach(c->vm->session, reattach_page, 0x30000, 0, 0, true, false), VMSIM_OK);
	vmsim_vcpu_state_discharge(st);
	return 1; /* re-execute the faulting write */
}

static void reattach_after_fault_resumes(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0x30000, 0x31000);
	vmsim_ds_cap page = vt_ds(vm.env, 4096);
	reattach_page = page;
	struct vmsim_local_attr la = { 0, 0, true };
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(vm.env, page, &la, &local), VMSIM_OK);
	assert_int_equal(vt_attach(vm.session, page, 0x30000, 0, 0, false, false), VMSIM_OK);
	vm.ram[VT_DATA] = 0xf4; /* x_jump_nx jumps here: HLT */
	vm.user = (void *)(uintptr_t)VT_DATA;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_write_ro", reattach_writeable);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->log[1].reason, npf_code());
	assert_int_equal(c->log[2].reason, vc_svm() ? 0x78 : 12);
	assert_int_equal(c->log[2].ip, VT_DATA);
	uint32_t written;
	memcpy(&written, local.ptr, 4);
	assert_int_equal(written, 1); /* movl $1, 0x30000 landed in the re-attached page */
	vmsim_local_release(vm.env, &local);
	assert_int_equal(vmsim_ds_free(vm.env, page), VMSIM_OK);
	vt_vm_close(&vm);
}

static void fetch_from_noexec_faults(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0x40000, 0x41000);
	vmsim_ds_cap page = vt_ds(vm.env, 4096);
	struct vmsim_local_attr la = { 0, 0, true };
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(vm.env, page, &la, &local), VMSIM_OK);
	((uint8_t *)local.ptr)[0x10] = 0xf4; /* executable-looking bytes that must not run */
	assert_int_equal(vt_attach(vm.session, page, 0x40000, 0, 0, true, false), VMSIM_OK);
	vm.user = (void *)(uintptr_t)0x40010;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_jump_nx", start_with_ebx);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	expect_npf(&c->log[1], 0x40010, 0x40010, VMSIM_ACCESS_FETCH, VMSIM_PROT_READ | VMSIM_PROT_WRITE, 0);
	vmsim_local_release(vm.env, &local);
	assert_int_equal(vmsim_ds_free(vm.env, page), VMSIM_OK);
	vt_vm_close(&vm);
}

/* The positive side: an executable, read-only attachment runs (here an OUT exit from that page). */
static void executable_attachment_runs(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0x40000, 0x41000);
	vmsim_ds_cap page = vt_ds(vm.env, 4096);
	struct vmsim_local_attr la = { 0, 0, true };
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(vm.env, page, &la, &local), VMSIM_OK);
	static const uint8_t code[] = { 0xe6, 0x44, 0xe6, 0xf0 }; /* out 0x44; out 0xf0 (done) */
	memcpy(local.ptr, code, sizeof code);
	assert_int_equal(vt_attach(vm.session, page, 0x40000, 0, 0, false, true), VMSIM_OK);
	vm.user = (void *)(uintptr_t)0x40000;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_jump_nx", start_with_ebx);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->log[1].reason, vc_svm() ? 0x7b : 30);
	assert_int_equal(c->log[1].ip, 0x40000);
	assert_int_equal(c->log[2].ip, 0x40002);
	vmsim_local_release(vm.env, &local);
	assert_int_equal(vmsim_ds_free(vm.env, page), VMSIM_OK);
	vt_vm_close(&vm);
}

static void read_unbacked_faults(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_read_loop", stop_on_npf);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	expect_npf(&c->log[1], vt_addr(&vm, "x_read_loop"), 0x200000, VMSIM_ACCESS_READ, 0, 5);
	vt_vm_close(&vm);
}

/* The guest spins reading 0x200000; the page is taken away under it (freed or detached) -> NPF. */
static void access_after_removal_faults(const void *p)
{
	bool free_it = p != NULL;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0, 0);
	vmsim_ds_cap page = vt_ds(vm.env, 4096);
	assert_int_equal(vt_attach(vm.session, page, 0x200000, 0, 0, true, false), VMSIM_OK);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_read_loop", stop_on_npf);
	vt_wait_exits(c, 1); /* running: reading mapped memory takes no exit */
	if (free_it)
		assert_int_equal(vmsim_ds_free(vm.env, page), VMSIM_OK);
	else
		assert_int_equal(vmsim_session_detach(vm.session, 0x200000, 4096), VMSIM_OK);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	expect_npf(&c->log[1], vt_addr(&vm, "x_read_loop"), 0x200000, VMSIM_ACCESS_READ, 0, 5);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(vm.session, 0x200000, &info),
	                 free_it ? VMSIM_OK : VMSIM_INVALID_ARGUMENT);
	if (free_it)
		assert_true(info.reserved);
	else
		assert_int_equal(vmsim_ds_free(vm.env, page), VMSIM_OK);
	vt_vm_close(&vm);
}

static const int free_flag = 1;

static const struct vc_test tests[] = {
	{ "memory", "write_to_readonly_faults", NPF_CAPS | VMSIM_CAP_READONLY_MEMORY, write_to_readonly_faults, NULL },
	{ "memory", "write_to_sealed_faults", NPF_CAPS | VMSIM_CAP_READONLY_MEMORY, write_to_readonly_faults,
	  &sealed_flag },
	{ "memory", "reattach_after_fault_resumes",
	  NPF_CAPS | VMSIM_CAP_READONLY_MEMORY | VMSIM_CAP_EXIT_HLT, reattach_after_fault_resumes, NULL },
	{ "memory", "fetch_from_noexec_faults", NPF_CAPS | VMSIM_CAP_NOEXEC_MEMORY, fetch_from_noexec_faults, NULL },
	{ "memory", "executable_attachment_runs", NPF_CAPS | VMSIM_CAP_EXIT_IO, executable_attachment_runs, NULL },
	{ "memory", "read_unbacked_faults", NPF_CAPS, read_unbacked_faults, NULL },
	{ "memory", "access_after_free_faults", NPF_CAPS, access_after_removal_faults, &free_flag },
	{ "memory", "access_after_detach_faults", NPF_CAPS, access_after_removal_faults, NULL },
};

struct vc_test_list vc_guest_memory_tests(void)
{
	return VC_LIST(tests);
}
