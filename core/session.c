/* core/session.c - the VM session: open/close with quota donation, upgrade, accessors, region queries. */
#include <assert.h>
#include <string.h>

#include "gpa_map.h"
#include "internal.h"
#include "npt.h"

/* A backend result for the caller: within the vocabulary and never OK for a failure. */
static enum vmsim_result backend_failure(enum vmsim_result result)
{
	if ((unsigned)result >= VMSIM_RESULT_COUNT || result == VMSIM_OK)
		return VMSIM_BACKEND_ERROR;
	return result;
}

/* Free what open built; every pointer may still be NULL. The donation is the caller's to return. */
static void free_session(struct vmsim_env *env, struct vmsim_session *session, bool mutex_ready)
{
	if (session->npt) {
		npt_destroy(env, session->npt);
		vmsim_env_free(env, session->npt, sizeof(*session->npt));
	}
	vmsim_env_free(env, session->regions, sizeof(*session->regions));
	if (session->label)
		vmsim_env_free(env, session->label, strlen(session->label) + 1);
	if (mutex_ready)
		pthread_mutex_destroy(&session->lock);
	vmsim_env_free(env, session, sizeof(*session));
}

/* Everything after the donation is withdrawn and covers the cost: build, then ask the backend for a VM. */
/* The intercepts the profile's forced controls add to what a VMM that charged nothing gets. */
static uint32_t forced_intercepts(const struct vmsim_profile *profile, enum vmsim_model model)
{
	uint64_t primary = 0, secondary = 0;
	uint32_t base = 0, forced = 0;
	enum vmsim_invalid_reason why;

	vmsim_model_encode_controls(model, 0, &primary, &secondary);
	if (vmsim_model_decode_controls(model, primary, secondary, &base, &why) != VMSIM_OK)
		return 0;
	vmsim_profile_controls(profile, model, &primary, &secondary);
	if (vmsim_model_decode_controls(model, primary, secondary, &forced, &why) != VMSIM_OK)
		return 0;
	return forced & ~base;
}

static enum vmsim_result build_session(struct vmsim_env *env, const struct vmsim_session_args *args,
                                       const struct vmsim_backend_ops *ops, struct vmsim_session **out)
{
	struct vmsim_session *session = vmsim_env_alloc(env, sizeof(*session));
	if (!session)
		return VMSIM_OUT_OF_RAM;
	session->env = env;
	session->model = args->model;
	session->ops = ops;
	session->profile = vmsim_profile_find(args->profile ? args->profile : "vmsim");
	/* the generic root: strtoul semantics and PRIORITY_LIMIT - 1; the base-hw root ignores the argument */
	unsigned long priority = (unsigned long)args->priority;
	session->priority = priority > VMSIM_SESSION_PRIORITY_LIMIT - 1 ? VMSIM_SESSION_PRIORITY_LIMIT - 1 : priority;
	if (session->profile->priority_ignored)
		session->priority = 0;
	session->affinity = args->affinity;
	session->forced_intercepts = forced_intercepts(session->profile, args->model);
	session->ram = (struct quota_guard){args->ram_quota, VMSIM_COST_SESSION_RAM};
	session->caps = (struct quota_guard){args->cap_quota, VMSIM_COST_SESSION_CAPS};

	const char *label = args->label ? args->label : "";
	size_t label_size = strlen(label) + 1;
	session->label = vmsim_env_alloc(env, label_size);
	if (session->label) /* at once: free_session measures the label to give its size back */
		memcpy(session->label, label, label_size);
	session->regions = vmsim_env_alloc(env, sizeof(*session->regions));
	session->npt = vmsim_env_alloc(env, sizeof(*session->npt));
	if (!session->label || !session->regions || !session->npt) {
		free_session(env, session, false);
		return VMSIM_OUT_OF_RAM;
	}
	gpa_map_init(session->regions);
	npt_init(session->npt);
	if (pthread_mutex_init(&session->lock, NULL) != 0) {
		free_session(env, session, false);
		return VMSIM_OUT_OF_RAM;
	}
	vcpu_registry_init(&session->vcpus);

	session->log = args->log;
	session->log_ctx = args->log_ctx;
	session->host = (struct vmsim_backend_host){session_host_log, session, session->label};
	enum vmsim_result result = ops->vm_create(&session->host, &session->backend_vm);
	if (result == VMSIM_OK && !session->backend_vm)
		result = VMSIM_BACKEND_ERROR;
	else if (result != VMSIM_OK)
		result = backend_failure(result);
	if (result != VMSIM_OK) {
		session_log(session, VMSIM_LOG_WARN, "session \"%s\": backend %s could not create a VM: %s", label,
		              ops->name, vmsim_result_name(result));
		vcpu_registry_destroy_all(session);
		free_session(env, session, true);
		return result;
	}
	*out = session;
	return VMSIM_OK;
}

enum vmsim_result vmsim_session_open(struct vmsim_env *env, const struct vmsim_session_args *args,
                                     struct vmsim_session **out)
{
	if (!out)
		return VMSIM_INVALID_ARGUMENT;
	*out = NULL;
	if (!env || !args)
		return VMSIM_INVALID_ARGUMENT;
	if (args->model != VMSIM_MODEL_SVM && args->model != VMSIM_MODEL_VMX) {
		vmsim_env_log(env, VMSIM_LOG_WARN, "session open: model %d is neither SVM nor VMX", (int)args->model);
		return VMSIM_INVALID_ARGUMENT;
	}
	if (args->profile && !vmsim_profile_find(args->profile)) {
		vmsim_env_log(env, VMSIM_LOG_WARN, "session open: no kernel profile named \"%s\" (vmsim, base-hw, nova)",
		              args->profile);
		return VMSIM_INVALID_ARGUMENT;
	}
	const struct vmsim_backend_ops *ops = args->backend ? vmsim_env_backend(env, args->backend) : NULL;
	if (!ops) {
		vmsim_env_log(env, VMSIM_LOG_WARN, "session open: no backend named \"%s\" is registered",
		              args->backend ? args->backend : "(null)");
		return VMSIM_INVALID_ARGUMENT;
	}

	/* The donation leaves the env pool first; only then is the session cost checked against it. */
	pthread_mutex_lock(&env->lock);
	if (!quota_withdraw(&env->ram, args->ram_quota)) {
		pthread_mutex_unlock(&env->lock);
		return VMSIM_OUT_OF_RAM;
	}
	if (!quota_withdraw(&env->caps, args->cap_quota)) {
		quota_replenish(&env->ram, args->ram_quota);
		pthread_mutex_unlock(&env->lock);
		return VMSIM_OUT_OF_CAPS;
	}
	pthread_mutex_unlock(&env->lock);

	enum vmsim_result result;
	struct vmsim_session *session = NULL;
	if (args->ram_quota < VMSIM_COST_SESSION_RAM)
		result = VMSIM_INSUFFICIENT_RAM;
	else if (args->cap_quota < VMSIM_COST_SESSION_CAPS)
		result = VMSIM_INSUFFICIENT_CAPS;
	else
		result = build_session(env, args, ops, &session);

	pthread_mutex_lock(&env->lock);
	if (result == VMSIM_OK) {
		session->env_next = env->sessions;
		if (env->sessions)
			env->sessions->env_prev = session;
		env->sessions = session;
	} else {
		quota_replenish(&env->caps, args->cap_quota);
		quota_replenish(&env->ram, args->ram_quota);
	}
	pthread_mutex_unlock(&env->lock);
	*out = session;
	return result;
}

void vmsim_session_close(struct vmsim_session *session)
{
	if (!session)
		return;
	struct vmsim_env *env = session->env;
	/* vCPUs first and without locks: destroying them may have to stop running threads. */
	vcpu_registry_destroy_all(session);

	pthread_mutex_lock(&env->lock);
	if (session->env_prev)
		session->env_prev->env_next = session->env_next;
	else
		env->sessions = session->env_next;
	if (session->env_next)
		session->env_next->env_prev = session->env_prev;

	pthread_mutex_lock(&session->lock);
	struct region *region;
	while ((region = gpa_map_first(session->regions)) != NULL)
		region_detach(region);
	pthread_mutex_unlock(&session->lock);
	session->ops->vm_destroy(session->backend_vm);

	/* Every object the session paid for is gone: what is left is exactly its own cost. */
	assert(session->ram.used == VMSIM_COST_SESSION_RAM);
	assert(session->caps.used == VMSIM_COST_SESSION_CAPS);
	assert(session->npt->tables == 0);
	quota_replenish(&env->ram, session->ram.limit);
	quota_replenish(&env->caps, session->caps.limit);
	pthread_mutex_unlock(&env->lock);
	free_session(env, session, true);
}

enum vmsim_result vmsim_session_retry(struct vmsim_session *session, vmsim_retry_fn fn, void *ctx,
                                     unsigned max_upgrades, struct vmsim_retry_stats *stats)
{
	struct vmsim_retry_stats local;
	if (!stats)
		stats = &local;
	*stats = (struct vmsim_retry_stats){ 0, 0, VMSIM_OK };
	if (!session || !fn)
		return VMSIM_INVALID_ARGUMENT;
	for (;;) {
		enum vmsim_result r = fn(ctx, session);
		if (r != VMSIM_OUT_OF_RAM && r != VMSIM_OUT_OF_CAPS)
			return r;
		unsigned done = stats->ram_upgrades + stats->cap_upgrades;
		if (done >= max_upgrades) {
			session_log(session, VMSIM_LOG_WARN, "session \"%s\": retry gave up after %u upgrades: %s",
			            session->label, done, vmsim_result_name(r));
			return r;
		}
		bool ram = r == VMSIM_OUT_OF_RAM;
		enum vmsim_result u = vmsim_session_upgrade(session, ram ? VMSIM_RETRY_RAM : 0, ram ? 0 : VMSIM_RETRY_CAPS);
		if (u != VMSIM_OK) {
			stats->upgrade_result = u;
			session_log(session, VMSIM_LOG_WARN, "session \"%s\": retry: upgrade by %s failed: %s", session->label,
			            ram ? "4096 bytes" : "2 caps", vmsim_result_name(u));
			return r;
		}
		if (ram)
			stats->ram_upgrades++;
		else
			stats->cap_upgrades++;
	}
}

enum vmsim_result vmsim_session_upgrade(struct vmsim_session *session, uint64_t ram, uint64_t caps)
{
	if (!session)
		return VMSIM_INVALID_ARGUMENT;
	struct vmsim_env *env = session->env;
	enum vmsim_result result = VMSIM_OK;
	pthread_mutex_lock(&env->lock);
	if (!quota_withdraw(&env->ram, ram)) {
		result = VMSIM_OUT_OF_RAM;
	} else if (!quota_withdraw(&env->caps, caps)) {
		quota_replenish(&env->ram, ram);
		result = VMSIM_OUT_OF_CAPS;
	} else {
		/* No overflow: a session's limit never exceeds what the env pool has handed out. */
		pthread_mutex_lock(&session->lock);
		session->ram.limit += ram;
		session->caps.limit += caps;
		pthread_mutex_unlock(&session->lock);
	}
	pthread_mutex_unlock(&env->lock);
	return result;
}

/* Accessors take a const session; its lock is not part of its value. */
static struct vmsim_session *lock_session(const struct vmsim_session *session)
{
	struct vmsim_session *mutable_session = (struct vmsim_session *)session;
	pthread_mutex_lock(&mutable_session->lock);
	return mutable_session;
}

void vmsim_session_quota(const struct vmsim_session *session, struct vmsim_quota *out)
{
	if (!session || !out)
		return;
	struct vmsim_session *locked = lock_session(session);
	*out = (struct vmsim_quota){session->ram.limit, session->ram.used, session->caps.limit, session->caps.used};
	pthread_mutex_unlock(&locked->lock);
}

const char *vmsim_session_label(const struct vmsim_session *session)
{
	return session ? session->label : NULL;
}

const struct vmsim_profile *vmsim_session_profile(const struct vmsim_session *session)
{
	return session ? session->profile : NULL;
}

uint64_t vmsim_session_priority(const struct vmsim_session *session)
{
	return session ? session->priority : 0;
}

uint64_t vmsim_session_affinity(const struct vmsim_session *session)
{
	return session ? session->affinity : 0;
}

enum vmsim_model vmsim_session_model(const struct vmsim_session *session)
{
	return session ? session->model : (enum vmsim_model)0;
}

const char *vmsim_session_backend(const struct vmsim_session *session)
{
	return session ? session->ops->name : NULL;
}

struct vmsim_env *vmsim_session_env(const struct vmsim_session *session)
{
	return session ? session->env : NULL;
}

/* ---- region queries ------------------------------------------------------ */

static void region_info(const struct region *region, struct vmsim_region_info *out)
{
	*out = (struct vmsim_region_info){
		.start = region->start,
		.num_bytes = region->size,
		.offset = region->offset,
		.ds = {region->ds ? region->ds->cap : 0},
		.writeable = region->writeable,
		.executable = region->executable,
		.reserved = region->reserved,
	};
}

enum vmsim_result vmsim_session_region_at(const struct vmsim_session *session, uint64_t gpa,
                                          struct vmsim_region_info *out)
{
	if (!session || !out)
		return VMSIM_INVALID_ARGUMENT;
	struct vmsim_session *locked = lock_session(session);
	const struct region *region = gpa_map_find(session->regions, gpa);
	if (region)
		region_info(region, out);
	pthread_mutex_unlock(&locked->lock);
	return region ? VMSIM_OK : VMSIM_INVALID_ARGUMENT;
}

void vmsim_session_for_each_region(const struct vmsim_session *session,
                                   bool (*fn)(void *ctx, const struct vmsim_region_info *region), void *ctx)
{
	if (!session || !fn)
		return;
	/* The lock is dropped around fn, so fn may attach or detach; each step resumes after the last region seen. */
	uint64_t cursor = 0;
	for (;;) {
		struct vmsim_region_info info;
		struct vmsim_session *locked = lock_session(session);
		const struct region *region = gpa_map_first_intersecting(session->regions, cursor, UINT64_MAX);
		if (region)
			region_info(region, &info);
		pthread_mutex_unlock(&locked->lock);
		if (!region || !fn(ctx, &info) || info.start + info.num_bytes == 0)
			return;
		cursor = info.start + info.num_bytes;
	}
}

uint64_t vmsim_session_region_count(const struct vmsim_session *session)
{
	if (!session)
		return 0;
	struct vmsim_session *locked = lock_session(session);
	uint64_t count = gpa_map_count(session->regions);
	pthread_mutex_unlock(&locked->lock);
	return count;
}

uint64_t vmsim_session_page_tables(const struct vmsim_session *session)
{
	if (!session)
		return 0;
	struct vmsim_session *locked = lock_session(session);
	uint64_t tables = session->npt->tables;
	pthread_mutex_unlock(&locked->lock);
	return tables;
}
