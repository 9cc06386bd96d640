/* vc_env.c - the suite's per-run target, skips, and env/session/quota helpers (test code: statics allowed). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <vmsim/plugin.h>

#include "vc.h"

static struct vc_target current;
static char skip_reason[512];
static bool skipped;

void vc_set_target(const struct vc_target *target)
{
	current = *target;
}

const struct vc_target *vc_target(void)
{
	return &current;
}

enum vmsim_model vc_model(void)
{
	return current.model;
}

bool vc_svm(void)
{
	return current.model == VMSIM_MODEL_SVM;
}

void vc_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof skip_reason, fmt, ap);
	va_end(ap);
	skipped = true;
	skip();
}

const char *vc_skip_reason(void)
{
	return skipped ? skip_reason : NULL;
}

void vc_clear_skip(void)
{
	skipped = false;
	skip_reason[0] = 0;
}

struct vmsim_env *vt_env(uint64_t ram_pool, uint64_t cap_pool)
{
	/* fixed but distinct seeds: runs reproduce, and two envs never issue the same capability */
	static uint64_t envs_made;
	struct vmsim_env_config cfg = { .ram_pool = ram_pool, .cap_pool = cap_pool, .cap_seed = 0x5eed + ++envs_made };
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	if (current.plugin) {
		const struct vmsim_backend_ops *ops = NULL;
		assert_int_equal(vmsim_env_load_backend(env, current.plugin, &ops), VMSIM_OK);
		assert_string_equal(ops->name, current.backend);
	} else {
		assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
		if (!vmsim_env_backend(env, current.backend) && current.ops) /* a test double linked in (core/tests) */
			assert_int_equal(vmsim_env_register_backend(env, current.ops), VMSIM_OK);
	}
	assert_non_null(vmsim_env_backend(env, current.backend));
	return env;
}

struct vmsim_session_args vt_session_args(uint64_t ram, uint64_t caps)
{
	return (struct vmsim_session_args){ .ram_quota = ram, .cap_quota = caps, .label = "conformance",
	                                     .backend = current.backend, .model = current.model,
	                                     .profile = current.profile ? current.profile->name : NULL };
}

struct vmsim_session *vt_session(struct vmsim_env *env, uint64_t ram, uint64_t caps)
{
	struct vmsim_session_args args = vt_session_args(ram, caps);
	struct vmsim_session *s = NULL;
	assert_int_equal(vmsim_session_open(env, &args, &s), VMSIM_OK);
	assert_string_equal(vmsim_session_backend(s), current.backend);
	assert_int_equal(vmsim_session_model(s), current.model);
	return s;
}

void vt_quota(const struct vmsim_session *s, struct vmsim_quota *q)
{
	vmsim_session_quota(s, q);
}

void vt_env_used(const struct vmsim_env *env, uint64_t *ram, uint64_t *caps)
{
	struct vmsim_quota q;
	vmsim_env_quota(env, &q);
	*ram = q.ram_used;
	*caps = q.cap_used;
}

void vt_env_done(struct vmsim_env *env)
{
	vmsim_env_destroy(env);
}

vmsim_ds_cap vt_ds(struct vmsim_env *env, uint64_t size)
{
	vmsim_ds_cap ds = VMSIM_DS_CAP_INVALID;
	assert_int_equal(vmsim_ds_alloc(env, size, &ds), VMSIM_OK);
	return ds;
}

enum vmsim_result vt_attach(struct vmsim_session *s, vmsim_ds_cap ds, uint64_t gpa, uint64_t offset,
                            uint64_t size, bool writeable, bool executable)
{
	struct vmsim_attach_attr attr = { offset, size, executable, writeable };
	struct vmsim_range range;
	enum vmsim_result r = vmsim_session_attach(s, ds, gpa, &attr, &range);
	if (r == VMSIM_OK)
		assert_int_equal(range.start, gpa);
	return r;
}

void vt_snap(const struct vmsim_session *s, struct vt_snapshot *out)
{
	vmsim_session_quota(s, &out->q);
	out->regions = vmsim_session_region_count(s);
	out->tables = vmsim_session_page_tables(s);
}

void vt_assert_snap(const struct vmsim_session *s, const struct vt_snapshot *before)
{
	struct vt_snapshot now;
	vt_snap(s, &now);
	assert_int_equal(now.q.ram_used, before->q.ram_used);
	assert_int_equal(now.q.cap_used, before->q.cap_used);
	assert_int_equal(now.q.ram_limit, before->q.ram_limit);
	assert_int_equal(now.q.cap_limit, before->q.cap_limit);
	assert_int_equal(now.regions, before->regions);
	assert_int_equal(now.tables, before->tables);
}

void vt_handler_result(enum vmsim_result r)
{
	/* DENIED on the handler's own thread means its vCPU is being destroyed (core refuses then) */
	if (r != VMSIM_DENIED)
		assert_int_equal(r, VMSIM_OK);
}

static bool stay_stopped(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)ctx;
	(void)st;
	return false;
}

static void idle_handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	(void)ctx;
	vt_handler_result(vmsim_vcpu_with_state(vcpu, stay_stopped, NULL));
}

enum vmsim_result vt_idle_vcpu(struct vmsim_session *s, struct vmsim_vcpu **out)
{
	struct vmsim_vcpu_args args = { idle_handler, NULL, NULL, NULL };
	return vmsim_vcpu_create(s, &args, out);
}

void vt_known_gap(enum vmsim_result got, const char *backend, enum vmsim_result result, const char *why)
{
	if (got != VMSIM_OK && got == result && !strcmp(vc_target()->backend, backend))
		vc_skip("known %s limitation (%s): %s", backend, vmsim_result_name(result), why);
	assert_int_equal(got, VMSIM_OK);
}

void vt_need(uint64_t cap)
{
	const struct vmsim_backend_ops *ops = vc_target()->ops;
	if (ops->caps & cap)
		return;
	const char *gap = ops->cap_gap ? ops->cap_gap(cap) : NULL;
	vc_skip("needs %s (%s): %s", vmsim_backend_cap_name(cap), vmsim_backend_cap_text(cap),
	        gap ? gap : "the backend does not declare it and gives no reason");
}

void vt_need_model_entry(bool refused_here, bool refused_other)
{
	if (!refused_here && refused_other)
		vt_need(vc_svm() ? VMSIM_CAP_ENTRY_AS_SVM : VMSIM_CAP_ENTRY_AS_VMX);
}
