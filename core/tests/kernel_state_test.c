/* core/tests/kernel_state_test.c - kernel-state mode: core checks the page/VMCB a backend's kernel produced. */
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <vmsim/genode_layout.h>
#include <vmsim/hwstate.h>
#include <vmsim/vmsim.h>

#include "vt_wait.h"

/*
 * A backend whose "kernel" runs one exit per vCPU: an OUT to port 0x80 at 0x1000 (2 bytes), and then
 * hands over the image the test put in `image` (test-process statics, one test at a time).
 */
static struct vmsim_kernel_state image;
static enum vmsim_result image_result;
static uint8_t vmcb[4096];
static struct vmsim_vcpu_state page_state;
static uint8_t page_2023[2048];

struct ks_vcpu {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, exited;
	struct vmsim_cpu_state cpu;
};

static enum vmsim_result ks_vm_create(const struct vmsim_backend_host *host, void **vm)
{
	(void)host;
	static int token;
	*vm = &token;
	return VMSIM_OK;
}

static void ks_vm_destroy(void *vm)
{
	(void)vm;
}

static enum vmsim_result ks_map(void *vm, uint64_t gpa, void *hva, uint64_t size, unsigned prot)
{
	(void)vm, (void)gpa, (void)hva, (void)size, (void)prot;
	return VMSIM_OK;
}

static enum vmsim_result ks_unmap(void *vm, uint64_t gpa, uint64_t size)
{
	(void)vm, (void)gpa, (void)size;
	return VMSIM_OK;
}

static enum vmsim_result ks_vcpu_create(void *vm, unsigned id, void **out)
{
	(void)vm, (void)id;
	struct ks_vcpu *v = aligned_alloc(alignof(struct ks_vcpu), sizeof *v); /* vmsim_cpu_state is 64-aligned */
	assert_non_null(v);
	memset(v, 0, sizeof *v);
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->wake, NULL);
	*out = v;
	return VMSIM_OK;
}

static void ks_vcpu_destroy(void *opaque)
{
	struct ks_vcpu *v = opaque;
	pthread_mutex_destroy(&v->lock);
	pthread_cond_destroy(&v->wake);
	free(v);
}

static enum vmsim_result ks_run(void *opaque, vmsim_exit_fn on_exit, void *ctx)
{
	struct ks_vcpu *v = opaque;
	if (!v->exited) {
		v->exited = true;
		struct vmsim_exit e = { .kind = VMSIM_EXIT_IO, .rip = 0x1000, .insn_len = 2 };
		e.u.io.port = 0x80;
		e.u.io.size = 1;
		if (on_exit(ctx, &e) == VMSIM_EXIT_ACTION_STOP)
			return VMSIM_OK;
	}
	pthread_mutex_lock(&v->lock);
	while (!v->stop)
		pthread_cond_wait(&v->wake, &v->lock);
	v->stop = false;
	pthread_mutex_unlock(&v->lock);
	return VMSIM_OK;
}

static void ks_stop(void *opaque)
{
	struct ks_vcpu *v = opaque;
	pthread_mutex_lock(&v->lock);
	v->stop = true;
	pthread_cond_signal(&v->wake);
	pthread_mutex_unlock(&v->lock);
}

static enum vmsim_result ks_get(void *opaque, uint32_t groups, struct vmsim_cpu_state *out)
{
	struct ks_vcpu *v = opaque;
	(void)groups;
	out->rip = v->cpu.rip;
	out->rflags = v->cpu.rflags;
	out->intercepts = v->cpu.intercepts;
	return VMSIM_OK;
}

static enum vmsim_result ks_set(void *opaque, uint32_t groups, const struct vmsim_cpu_state *in)
{
	struct ks_vcpu *v = opaque;
	if (groups & VMSIM_GROUP_IP)
		v->cpu.rip = in->rip, v->cpu.rflags = in->rflags;
	if (groups & VMSIM_GROUP_INTERCEPTS)
		v->cpu.intercepts = in->intercepts;
	return VMSIM_OK;
}

static enum vmsim_result ks_kernel_state(void *opaque, struct vmsim_kernel_state *out)
{
	(void)opaque;
	*out = image;
	return image_result;
}

static const char *ks_gap(uint64_t cap)
{
	(void)cap;
	return "test double";
}

static const struct vmsim_backend_ops ks_ops = {
	.abi_version = VMSIM_BACKEND_ABI_VERSION,
	.struct_size = sizeof(struct vmsim_backend_ops),
	.name = "ks",
	.description = "kernel-state test double",
	.caps = VMSIM_CAP_EXIT_IO | VMSIM_CAP_STOP,
	.cap_gap = ks_gap,
	.vm_create = ks_vm_create,
	.vm_destroy = ks_vm_destroy,
	.mem_map = ks_map,
	.mem_unmap = ks_unmap,
	.vcpu_create = ks_vcpu_create,
	.vcpu_destroy = ks_vcpu_destroy,
	.vcpu_run = ks_run,
	.vcpu_stop = ks_stop,
	.state_get = ks_get,
	.state_set = ks_set,
	.kernel_state = ks_kernel_state,
};

struct rec {
	pthread_mutex_t lock;
	unsigned calls;
	char log[512];
};

static bool on_state(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)ctx;
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		vmsim_charge(st, ip, 0x1000); /* ip alone: no entry checks, the vCPU runs */
		return true;
	}
	return false;
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct rec *r = ctx;
	enum vmsim_result res = vmsim_vcpu_with_state(vcpu, on_state, ctx);
	assert_true(res == VMSIM_OK || res == VMSIM_DENIED);
	pthread_mutex_lock(&r->lock);
	r->calls++;
	pthread_mutex_unlock(&r->lock);
}

static bool two_calls(void *ctx)
{
	struct rec *r = ctx;
	pthread_mutex_lock(&r->lock);
	bool done = r->calls >= 2;
	pthread_mutex_unlock(&r->lock);
	return done;
}

static void keep_log(void *ctx, enum vmsim_log_level level, const char *message)
{
	struct rec *r = ctx;
	if (level == VMSIM_LOG_ERROR)
		snprintf(r->log, sizeof r->log, "%s", message);
}

/* One SVM vCPU through STARTUP and the OUT exit with the current image; its kernel-state counters. */
static void run_one(struct vmsim_kernel_state_stats *stats, char log[512])
{
	struct rec r = { .calls = 0 };
	pthread_mutex_init(&r.lock, NULL);
	struct vmsim_env_config cfg = { .log = keep_log, .log_ctx = &r, .log_level = VMSIM_LOG_ERROR };
	struct vmsim_env *env;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(env, &ks_ops), VMSIM_OK);
	struct vmsim_session_args args = { .ram_quota = 1 << 20, .cap_quota = 10, .label = "ks", .backend = "ks",
		                           .model = VMSIM_MODEL_SVM };
	struct vmsim_session *s;
	assert_int_equal(vmsim_session_open(env, &args, &s), VMSIM_OK);
	struct vmsim_vcpu_args va = { handler, &r, NULL, NULL };
	struct vmsim_vcpu *vcpu;
	assert_int_equal(vmsim_vcpu_create(s, &va, &vcpu), VMSIM_OK);
	vt_wait_until(two_calls, &r, "STARTUP and the OUT exit");
	vmsim_vcpu_kernel_state_stats(vcpu, stats);
	vmsim_vcpu_destroy(vcpu);
	vmsim_session_close(s);
	vmsim_env_destroy(env);
	pthread_mutex_destroy(&r.lock);
	if (log)
		memcpy(log, r.log, sizeof r.log);
}

/* OUT imm8 to 0x80 at 0x1000, 2 bytes, as the APM defines the IOIO exit (§15.10.2): literals. */
static void out_page(struct vmsim_vcpu_state *st)
{
	vmsim_vcpu_state_clear(st);
	st->exit_reason = 0x7b;
	vmsim_charge(st, qual_primary, 0x80u << 16 | 0x10); /* port 0x80, SZ8, OUT */
	vmsim_charge(st, qual_secondary, 0x1002);          /* EXITINFO2: the next rip */
	vmsim_charge(st, ip, 0x1000);
	vmsim_charge(st, ip_len, 2);
}

static void put64(size_t off, uint64_t v)
{
	memcpy(vmcb + off, &v, 8);
}

static void out_vmcb(void)
{
	memset(vmcb, 0, sizeof vmcb);
	put64(0x070, 0x7b);              /* EXITCODE */
	put64(0x078, 0x80u << 16 | 0x10); /* EXITINFO1 */
	put64(0x080, 0x1002);            /* EXITINFO2 */
	put64(0x0c8, 0x1002);            /* next RIP */
	put64(0x578, 0x1000);            /* RIP */
}

static void matching_images_pass(void **unused)
{
	(void)unused;
	struct vmsim_kernel_state_stats stats;
	out_page(&page_state);
	image = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_VCPU_STATE, &page_state, sizeof page_state };
	image_result = VMSIM_OK;
	run_one(&stats, NULL);
	assert_int_equal(stats.checked, 1);
	assert_int_equal(stats.mismatches, 0);
	assert_string_equal(stats.last, "");

	out_vmcb();
	image = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_VMCB, vmcb, sizeof vmcb };
	run_one(&stats, NULL);
	assert_int_equal(stats.checked, 1);
	assert_int_equal(stats.mismatches, 0);

	assert_int_equal(vmsim_genode_layout_export(VMSIM_GENODE_LAYOUT_2023, &page_state, page_2023, sizeof page_2023),
	                 VMSIM_OK);
	image = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_GENODE_2023, page_2023,
		                             vmsim_genode_layout_size(VMSIM_GENODE_LAYOUT_2023) };
	run_one(&stats, NULL);
	assert_int_equal(stats.checked, 1);
	assert_int_equal(stats.mismatches, 0);

	/* nothing for this stop: not counted */
	image_result = VMSIM_UNSUPPORTED;
	run_one(&stats, NULL);
	assert_int_equal(stats.checked, 0);
}

static void expect_mismatch(const char *what)
{
	struct vmsim_kernel_state_stats stats;
	char log[512];
	run_one(&stats, log);
	assert_int_equal(stats.checked, 1);
	assert_int_equal(stats.mismatches, 1);
	if (!strstr(stats.last, what))
		fail_msg("mismatch '%s' lacks '%s'", stats.last, what);
	assert_non_null(strstr(log, "vcpu 0: kernel state for a 'io' exit differs from the model: "));
	assert_non_null(strstr(log, what));
}

static void mismatches_are_counted_and_logged(void **unused)
{
	(void)unused;
	image_result = VMSIM_OK;
	image = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_VCPU_STATE, &page_state, sizeof page_state };
	out_page(&page_state);
	page_state.exit_reason = 0x7a; /* INVLPGA, not IOIO */
	expect_mismatch("exit_reason 0x7a, the model's 0x7b");
	out_page(&page_state);
	page_state.qual_primary.value = 0x81u << 16 | 0x10;
	expect_mismatch("port 0x81, the exit's 0x80");
	out_page(&page_state);
	page_state.qual_primary.value = 0x80u << 16 | 0x11; /* IN */
	expect_mismatch("I/O size/direction/string/REP 1/1/0/0, the exit's 1/0/0/0");
	out_page(&page_state);
	page_state.qual_secondary.value = 0x1000 + 20; /* EXITINFO2 is rip + 1..15 (APM 15.10.2) */
	expect_mismatch("the svm model refuses it (INVALID_ARGUMENT)");
	out_page(&page_state);
	page_state.ip.value = 0x1001;
	page_state.qual_secondary.value = 0x1003;
	expect_mismatch("ip 0x1001, the exit's 0x1000");
}

static void refused_images(void **unused)
{
	(void)unused;
	image_result = VMSIM_OK;
	out_page(&page_state);
	image = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_VCPU_STATE, &page_state, sizeof page_state - 1 };
	expect_mismatch("image (format 1, ");
	image = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_VMCB, vmcb, 100 };
	expect_mismatch("refused: INVALID_ARGUMENT");
	image = (struct vmsim_kernel_state){ (enum vmsim_kernel_state_format)99, vmcb, sizeof vmcb };
	expect_mismatch("image (format 99, 4096 bytes) refused");
	image = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_GENODE_2023, page_2023, 100 };
	expect_mismatch("refused: INVALID_ARGUMENT");
	image = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_VCPU_STATE, NULL, sizeof page_state };
	expect_mismatch("refused: INVALID_ARGUMENT");
	image_result = VMSIM_BACKEND_ERROR;
	expect_mismatch("kernel_state failed: BACKEND_ERROR");
	image_result = VMSIM_OK;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(matching_images_pass),
		cmocka_unit_test(mismatches_are_counted_and_logged),
		cmocka_unit_test(refused_images),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
