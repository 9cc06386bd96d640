/* modes_paging_test.c - guests with their own page tables: linear pages on other physical memory, #PF the guest
 * handles (CR2, error code), accessed/dirty bits written like hardware, and an NPF on the guest's own walk. */
#include <string.h>

#include "../vc.h"

/* pm_paging turns on 32-bit paging itself, and its #PF handler returns with IRET */
#define PAGING_CAPS \
	(VC_GUEST_PROT | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_PAGING_LEGACY | VMSIM_CAP_INT_IRET)

static int stop_at_hlt_or_npf(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	return st->exit_reason == vt_code(VMSIM_EXIT_HLT) || st->exit_reason == vt_code(VMSIM_EXIT_NPF) ? 0 : -1;
}

static uint32_t ram32(const struct vt_vm *vm, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, vm->ram + gpa, 4);
	return v;
}

/*
 * SDM Vol. 3A 4.3 (32-bit paging), 4.7 (#PF error code, CR2), 4.8 (A/D): the guest maps linear 0x400000 onto
 * physical 0x30000 and 0x401000 onto 0x31000, reads, writes and calls there, then takes two page faults itself.
 */
static void paging_other_physical_and_guest_pf(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_paging, 0, 0);
	vt_idt(&vm, 14, "x_pf_handler");
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stop_at_hlt_or_npf);
	vt_wait_stopped(c);
	/* STARTUP, OUT (read), OUT in the remapped code, 3 OUTs (PTE rewrite, CR3), 2 OUTs per #PF x 3, HLT */
	assert_int_equal(c->n, 1 + 1 + 1 + 3 + 6 + 1);
	assert_int_equal(c->log[1].neutral.kind, VMSIM_EXIT_IO);
	assert_int_equal(c->log[1].ip, vt_addr(&vm, "x_read"));
	assert_int_equal(c->log[2].neutral.kind, VMSIM_EXIT_IO);
	assert_int_equal(c->log[2].ip, 0x401002); /* the linear address of the OUT, not its physical 0x31002 */
	assert_int_equal(c->nreports, 11);
	assert_int_equal(c->reports[0], 0x600dcafe);  /* read through linear 0x400000 = physical 0x30000 */
	assert_int_equal(c->reports[1], 0x77);        /* the code at physical 0x31000 ran */
	assert_int_equal(c->reports[2], 0x33333333);  /* 0x403000 -> 0x33000 ... */
	assert_int_equal(c->reports[3], 0x44444444);  /* ... -> 0x34000 after the PTE store and INVLPG */
	assert_int_equal(c->reports[4], 0x55555555);  /* the second directory maps 0x400000 -> 0x35000 */
	assert_int_equal(c->reports[5], 0);           /* not present, supervisor read */
	assert_int_equal(c->reports[6], 0x404000);    /* CR2 */
	assert_int_equal(c->reports[7], 3);           /* P | W: read-only page with CR0.WP */
	assert_int_equal(c->reports[8], 0x402000);
	assert_int_equal(c->reports[9], 0);           /* PD[3]'s page table is zeroed memory: not present */
	assert_int_equal(c->reports[10], 0xc00000);
	assert_int_equal(c->log[c->n - 1].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c->log[c->n - 1].ip, vt_addr(&vm, "x_hlt"));
	/* the store went to physical 0x30004; nothing was written at the linear address as a physical one */
	assert_int_equal(ram32(&vm, 0x30004), 0x12345678);
	/* A in the directory entry and in the PTEs used; D only where the guest wrote; untouched PTEs unchanged */
	assert_int_equal(ram32(&vm, 0x50004), 0x52000 | 0x23);
	assert_int_equal(ram32(&vm, 0x52000), 0x30000 | 0x63);
	assert_int_equal(ram32(&vm, 0x52004), 0x31000 | 0x23);
	assert_int_equal(ram32(&vm, 0x5200c), 0x34000 | 0x23); /* as the guest rewrote it, then A */
	assert_int_equal(ram32(&vm, 0x52010), 0);              /* never present */
	vt_vm_close(&vm);
}

/*
 * The guest's page table lies in unattached memory: the NPF is on the walk (SVM EXITINFO1 bit 33, VMX
 * qualification bit 7 without bit 8), its gpa the page-table entry's, its linear address the access's.
 */
static void npf_during_guest_walk(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_paging, 0xa0000, 0xc0000);
	vt_idt(&vm, 14, "x_pf_handler");
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stop_at_hlt_or_npf);
	vt_wait_stopped(c);
	const struct vt_exit *e = &c->log[c->n - 1];
	assert_int_equal(c->nreports, 9); /* up to two guest #PFs: the walk never got to a #PF */
	assert_int_equal(e->reason, vt_code(VMSIM_EXIT_NPF));
	assert_int_equal(e->ip, vt_addr(&vm, "x_walk"));
	assert_int_equal(e->qual_secondary, 0xb0000); /* PT[0] of PD[3] */
	if (vc_svm())
		assert_int_equal(e->qual_primary, 1ull << 33); /* read, not present, during the walk */
	else
		assert_int_equal(e->qual_primary, 0x81);        /* read; linear address valid; not the final access */
	assert_int_equal(e->neutral.kind, VMSIM_EXIT_NPF);
	assert_true(e->neutral.u.npf.walk);
	vt_vm_close(&vm);
}

/* The guest's three page faults, as the unintercepted run reports them (address, error code, faulting label). */
static const struct {
	uint64_t addr;
	uint32_t error;
	const char *at;
} guest_faults[] = { { 0x404000, 0, "x_pf_absent" }, { 0x402000, 3, "x_pf_readonly" }, { 0xc00000, 0, "x_walk" } };

/* What the intercepting VMM saw at each exception exit; the test thread asserts it after the run. */
struct pf_exits {
	unsigned n;
	uint64_t cr2[4];
	enum vmsim_result intercept;
};

static unsigned pf_exit_code(void)
{
	return vc_svm() ? 0x40 + 14 : 0; /* SVM: exception intercept 0x40 + vector; VMX: reason 0 (exception or NMI) */
}

/*
 * A VMM that intercepts #PF (a vmsim extension: Genode's Vcpu_state has no exception bitmap) and hands each fault
 * back by injection, with CR2 as the guest must see it. SVM reports the error code in EXITINFO1; VMX's error code
 * field is not in Vcpu_state, so this VMM injects the one the guest is known to cause.
 */
static int reinject_pf(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	struct pf_exits *seen = c->vm->user;

	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		seen->intercept = vmsim_vcpu_intercept_exceptions(c->self, 1u << 14);
		return -1;
	}
	if (st->exit_reason != pf_exit_code() || seen->n >= 3)
		return stop_at_hlt_or_npf(c, st);
	uint64_t addr = vc_svm() ? st->qual_secondary.value : st->qual_primary.value;
	uint64_t error = vc_svm() ? st->qual_primary.value : guest_faults[seen->n].error;
	seen->cr2[seen->n++] = st->cr2.value;
	vmsim_charge(st, inj_info, (1u << 31) | (1u << 11) | (3u << 8) | 14); /* valid, error code, exception */
	vmsim_charge(st, inj_error, error);
	vmsim_charge(st, cr2, addr);
	return 1;
}

/*
 * APM vol. 2 15.12, SDM Vol. 3C 25.2 and 28.2.1: an intercepted #PF exits before delivery, at the faulting
 * instruction, with the error code (SVM EXITINFO1) and the linear address (SVM EXITINFO2, VMX qualification), CR2
 * unwritten. The VMM's injection then gives the guest what an unintercepted run gave it.
 */
static void paging_pf_intercepted_exits_before_the_guest_sees_it(const void *p)
{
	(void)p;
	struct vt_vm vm;
	struct pf_exits seen = { .intercept = VMSIM_BACKEND_ERROR };
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_paging, 0, 0);
	vt_idt(&vm, 14, "x_pf_handler");
	vm.user = &seen;
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, reinject_pf);
	vt_wait_stopped(c);
	assert_int_equal(seen.intercept, VMSIM_OK);
	assert_int_equal(seen.n, 3);
	assert_int_equal(c->n, 1 + 1 + 1 + 3 + 3 * (1 + 2) + 1); /* the unintercepted run's exits and one per #PF */
	unsigned k = 0;
	for (unsigned i = 0; i < c->n; i++) {
		const struct vt_exit *e = &c->log[i];
		if (e->reason != pf_exit_code())
			continue;
		assert_true(k < 3);
		assert_int_equal(e->ip, vt_addr(&vm, guest_faults[k].at));
		assert_int_equal(e->ip_len, 0);
		assert_int_equal(vc_svm() ? e->qual_secondary : e->qual_primary, guest_faults[k].addr);
		if (vc_svm()) {
			assert_int_equal(e->qual_primary, guest_faults[k].error);
			assert_int_equal(e->neutral.kind, VMSIM_EXIT_EXCEPTION);
			assert_int_equal(e->neutral.u.exception.vector, 14);
		}
		/* CR2 is still what the last delivered #PF left: the intercepted one did not write it */
		assert_int_equal(seen.cr2[k], k ? guest_faults[k - 1].addr : 0);
		/* the guest's handler ran after each exit: its two reports follow */
		assert_int_equal(c->log[i + 1].neutral.kind, VMSIM_EXIT_IO);
		k++;
	}
	assert_int_equal(k, 3);
	assert_int_equal(c->nreports, 11);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(c->reports[5 + 2 * i], guest_faults[i].error);
		assert_int_equal(c->reports[6 + 2 * i], guest_faults[i].addr);
	}
	assert_int_equal(c->log[c->n - 1].reason, vt_code(VMSIM_EXIT_HLT));
	vt_vm_close(&vm);
}

/*
 * SDM Vol. 3A 8.1.3 and 11.6: self-modifying code is detected by physical address. The guest runs a subroutine at
 * linear 0x400000 (physical 0x31000), writes an OUT over its NOPs through the identity address 0x31000 and calls
 * it at 0x400000 again: the new OUT exits there.
 */
static void code_patched_through_another_linear_address_exits_as_written(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_alias_smc, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stop_at_hlt_or_npf);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 5);
	static const struct { uint64_t ip; uint16_t port; } outs[] = { { 0x400002, 0x30 }, { 0x400002, 0x30 },
		                                                       { 0x400004, 0x31 } };
	for (unsigned i = 0; i < 3; i++) {
		const struct vt_exit *e = &c->log[1 + i];
		assert_int_equal(e->neutral.kind, VMSIM_EXIT_IO);
		assert_int_equal(e->ip, outs[i].ip);
		assert_int_equal(e->neutral.u.io.port, outs[i].port);
		assert_int_equal(e->ax & 0xff, 0x41);
	}
	assert_int_equal(c->log[4].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c->log[4].ip, vt_addr(&vm, "x_hlt"));
	vt_vm_close(&vm);
}

/* The same with the store made by another vCPU through its own page tables while the first one is halted. */
static void code_patched_by_another_vcpu_through_another_linear_address(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_alias_smc, 0, 0);
	assert_int_equal(vmsim_entrypoint_create(vm.env, "ep", &vm.ep), VMSIM_OK);
	struct vt_cpu *c0 = vt_cpu_start(&vm, "x_smp_main", stop_at_hlt_or_npf);
	vt_wait_stopped(c0);
	assert_int_equal(c0->n, 3);
	assert_int_equal(c0->log[1].ip, 0x400002);
	assert_int_equal(c0->log[2].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c0->log[2].ip, vt_addr(&vm, "x_wait"));
	struct vt_cpu *c1 = vt_cpu_start(&vm, "x_patcher", stop_at_hlt_or_npf);
	vt_wait_stopped(c1);
	assert_int_equal(c1->n, 2);
	assert_int_equal(c1->log[1].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c1->log[1].ip, vt_addr(&vm, "x_patched"));

	vt_resume_past_hlt(&vm, c0);
	vt_wait_stopped(c0);
	assert_int_equal(c0->n, 6);
	assert_int_equal(c0->log[3].ip, 0x400002);
	assert_int_equal(c0->log[4].neutral.kind, VMSIM_EXIT_IO);
	assert_int_equal(c0->log[4].ip, 0x400004); /* the OUT vCPU 1 wrote */
	assert_int_equal(c0->log[4].neutral.u.io.port, 0x31);
	assert_int_equal(c0->log[5].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c0->log[5].ip, vt_addr(&vm, "x_smp_hlt"));
	vt_vm_close(&vm);
}

static unsigned exits_at(struct vt_cpu *c, uint64_t ip)
{
	pthread_mutex_lock(&c->lock);
	unsigned n = 0;
	for (unsigned i = 0; i < c->n && i < VT_LOG; i++)
		n += c->log[i].ip == ip;
	pthread_mutex_unlock(&c->lock);
	return n;
}

struct exit_wait {
	struct vt_cpu *c;
	uint64_t ip;
};

static bool has_exit_at(void *ctx)
{
	struct exit_wait *w = ctx;
	return exits_at(w->c, w->ip) > 0;
}

/*
 * Both vCPUs running: the writer's writable mapping of the page predates the reader's first run of the code
 * there, and the writer patches through it while the reader spins. Once the reader has left for the VMM and come
 * back (SDM Vol. 3A 8.1.3: the executing CPU serialises), it runs the patched code.
 */
static void code_patched_by_a_running_vcpu_through_an_older_mapping(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_alias_smc, 0, 0);
	struct vt_cpu *writer = vt_cpu_start(&vm, "x_race_writer", stop_at_hlt_or_npf);
	struct exit_wait mapped = { writer, vt_addr(&vm, "x_race_mapped") };
	vt_wait_until(has_exit_at, &mapped, "the writer's OUT after its store next to the subroutine");
	struct vt_cpu *reader = vt_cpu_start(&vm, "x_race_reader", stop_at_hlt_or_npf);
	vt_wait_stopped(reader);
	vt_wait_stopped(writer);
	assert_int_equal(writer->log[writer->n - 1].ip, vt_addr(&vm, "x_race_written"));
	assert_int_equal(reader->n, 6);
	assert_int_equal(reader->log[1].ip, 0x400002);
	assert_int_equal(reader->log[2].ip, vt_addr(&vm, "x_race_sync"));
	assert_int_equal(reader->log[3].ip, 0x400002);
	assert_int_equal(reader->log[4].ip, 0x400004); /* the OUT the writer wrote */
	assert_int_equal(reader->log[4].neutral.u.io.port, 0x31);
	assert_int_equal(reader->log[5].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(exits_at(reader, vt_addr(&vm, "x_race_hlt")), 1);
	vt_vm_close(&vm);
}

static const struct vc_test tests[] = {
	{ "paging", "other_physical_and_guest_pf", PAGING_CAPS, paging_other_physical_and_guest_pf, NULL },
	{ "paging", "npf_during_guest_walk", PAGING_CAPS, npf_during_guest_walk, NULL },
	{ "paging", "pf_intercepted_exits_before_the_guest_sees_it",
	  PAGING_CAPS | VMSIM_CAP_EXCEPTION_INTERCEPT | VMSIM_CAP_INJECT_EXCEPTION,
	  paging_pf_intercepted_exits_before_the_guest_sees_it, NULL },
	{ "paging", "code_patched_through_another_linear_address_exits_as_written", PAGING_CAPS,
	  code_patched_through_another_linear_address_exits_as_written, NULL },
	{ "paging", "code_patched_by_another_vcpu_through_another_linear_address", PAGING_CAPS,
	  code_patched_by_another_vcpu_through_another_linear_address, NULL },
	{ "paging", "code_patched_by_a_running_vcpu_through_an_older_mapping", PAGING_CAPS,
	  code_patched_by_a_running_vcpu_through_an_older_mapping, NULL },
};

struct vc_test_list vc_paging_tests(void)
{
	return VC_LIST(tests);
}
