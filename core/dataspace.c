/*
 * core/dataspace.c - RAM dataspaces (shared anonymous memory named by caps) and Local_rm attachments. Below guest
 * memory: freeing one with guest attachments starts in dataspace_free.c, which flushes them first.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "gpa_map.h"
#include "internal.h"

static uint64_t page_round_up(uint64_t size)
{
	return (size + VMSIM_PAGE_SIZE - 1) & ~(uint64_t)(VMSIM_PAGE_SIZE - 1);
}

struct vmsim_dataspace *ds_lookup(const struct vmsim_env *env, uint64_t raw)
{
	return cap_table_lookup(&env->cap_table, raw, CAP_KIND_DATASPACE);
}

/* The env argument is const in the public API for lookups; its lock is not part of its value. */
static struct vmsim_env *lock_env(const struct vmsim_env *env)
{
	struct vmsim_env *mutable_env = (struct vmsim_env *)env;
	pthread_mutex_lock(&mutable_env->lock);
	return mutable_env;
}

enum vmsim_result vmsim_ds_alloc(struct vmsim_env *env, uint64_t size, vmsim_ds_cap *out)
{
	if (!env || !out)
		return VMSIM_INVALID_ARGUMENT;
	*out = VMSIM_DS_CAP_INVALID;
	if (size == 0)
		return VMSIM_INVALID_ARGUMENT;
	if (size > UINT64_MAX - VMSIM_PAGE_SIZE)
		return VMSIM_OUT_OF_RAM;
	uint64_t rounded = page_round_up(size);

	pthread_mutex_lock(&env->lock);
	/* Quota first, then build: a refused allocation never touches the host. */
	if (!quota_withdraw(&env->ram, rounded)) {
		pthread_mutex_unlock(&env->lock);
		return VMSIM_OUT_OF_RAM;
	}
	if (!quota_withdraw(&env->caps, VMSIM_COST_DATASPACE_CAPS)) {
		quota_replenish(&env->ram, rounded);
		pthread_mutex_unlock(&env->lock);
		return VMSIM_OUT_OF_CAPS;
	}
	enum vmsim_result result = VMSIM_OUT_OF_RAM;
	struct vmsim_dataspace *ds = vmsim_env_alloc(env, sizeof(*ds));
	if (!ds)
		goto fail_quota;
	/* MAP_SHARED so that mremap(old_size 0) can map the same pages a second time. */
	ds->mem = mmap(NULL, (size_t)rounded, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1,
	               0);
	if (ds->mem == MAP_FAILED)
		goto fail_struct;
	result = cap_table_insert(env, &env->cap_table, CAP_KIND_DATASPACE, ds, &ds->cap);
	if (result != VMSIM_OK)
		goto fail_mem;
	ds->env = env;
	ds->size = rounded;
	ds->env_next = env->dataspaces;
	if (env->dataspaces)
		env->dataspaces->env_prev = ds;
	env->dataspaces = ds;
	out->raw = ds->cap;
	pthread_mutex_unlock(&env->lock);
	return VMSIM_OK;

fail_mem:
	munmap(ds->mem, (size_t)rounded);
fail_struct:
	vmsim_env_free(env, ds, sizeof(*ds));
fail_quota:
	quota_replenish(&env->caps, VMSIM_COST_DATASPACE_CAPS);
	quota_replenish(&env->ram, rounded);
	pthread_mutex_unlock(&env->lock);
	return result;
}

void ds_link_region(struct vmsim_dataspace *ds, struct region *region)
{
	region->ds_prev = NULL;
	region->ds_next = ds->regions;
	if (ds->regions)
		ds->regions->ds_prev = region;
	ds->regions = region;
}

void ds_unlink_region(struct vmsim_dataspace *ds, struct region *region)
{
	if (region->ds_prev)
		region->ds_prev->ds_next = region->ds_next;
	else
		ds->regions = region->ds_next;
	if (region->ds_next)
		region->ds_next->ds_prev = region->ds_prev;
	region->ds_next = region->ds_prev = NULL;
}

static void unlink_local(struct local_mapping **head, struct local_mapping *mapping)
{
	if (mapping->prev)
		mapping->prev->next = mapping->next;
	else
		*head = mapping->next;
	if (mapping->next)
		mapping->next->prev = mapping->prev;
	mapping->next = mapping->prev = NULL;
}

static void link_local(struct local_mapping **head, struct local_mapping *mapping)
{
	mapping->prev = NULL;
	mapping->next = *head;
	if (*head)
		(*head)->prev = mapping;
	*head = mapping;
}

void ds_destroy(struct vmsim_dataspace *ds)
{
	struct vmsim_env *env = ds->env;
	assert(!ds->regions); /* the guest attachments went first (dataspace_free.c) */
	/* Local attachments keep their address reserved (PROT_NONE) until the owner releases them. */
	while (ds->locals) {
		struct local_mapping *mapping = ds->locals;
		unlink_local(&ds->locals, mapping);
		mmap(mapping->ptr, (size_t)mapping->size, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
		mapping->ds = NULL;
		link_local(&env->orphans, mapping);
	}
	munmap(ds->mem, (size_t)ds->size);
	cap_table_remove(&env->cap_table, ds->cap);
	quota_replenish(&env->ram, ds->size);
	quota_replenish(&env->caps, VMSIM_COST_DATASPACE_CAPS);
	if (ds->env_prev)
		ds->env_prev->env_next = ds->env_next;
	else
		env->dataspaces = ds->env_next;
	if (ds->env_next)
		ds->env_next->env_prev = ds->env_prev;
	vmsim_env_free(env, ds, sizeof(*ds));
}

void ds_release_orphans(struct vmsim_env *env)
{
	while (env->orphans) {
		struct local_mapping *mapping = env->orphans;
		unlink_local(&env->orphans, mapping);
		munmap(mapping->ptr, (size_t)mapping->size);
		vmsim_env_free(env, mapping, sizeof(*mapping));
	}
}

enum vmsim_result vmsim_ds_size(const struct vmsim_env *env, vmsim_ds_cap cap, uint64_t *out)
{
	if (!env || !out)
		return VMSIM_INVALID_ARGUMENT;
	struct vmsim_env *locked = lock_env(env);
	struct vmsim_dataspace *ds = ds_lookup(env, cap.raw);
	if (ds)
		*out = ds->size;
	pthread_mutex_unlock(&locked->lock);
	return ds ? VMSIM_OK : VMSIM_INVALID_CAP;
}

enum vmsim_result vmsim_ds_seal(struct vmsim_env *env, vmsim_ds_cap cap)
{
	if (!env)
		return VMSIM_INVALID_ARGUMENT;
	enum vmsim_result result = VMSIM_OK;
	pthread_mutex_lock(&env->lock);
	struct vmsim_dataspace *ds = ds_lookup(env, cap.raw);
	if (!ds)
		result = VMSIM_INVALID_CAP;
	else if (ds->writeable_locals)
		result = VMSIM_DENIED; /* a ROM nobody can write: refuse while someone still can */
	else
		ds->sealed = true;
	pthread_mutex_unlock(&env->lock);
	return result;
}

bool vmsim_ds_writeable(const struct vmsim_env *env, vmsim_ds_cap cap)
{
	if (!env)
		return false;
	struct vmsim_env *locked = lock_env(env);
	struct vmsim_dataspace *ds = ds_lookup(env, cap.raw);
	bool writeable = ds && !ds->sealed;
	pthread_mutex_unlock(&locked->lock);
	return writeable;
}

enum vmsim_result vmsim_local_attach(struct vmsim_env *env, vmsim_ds_cap cap, const struct vmsim_local_attr *attr,
                                     struct vmsim_local_attachment *out)
{
	if (!env || !attr || !out)
		return VMSIM_INVALID_ARGUMENT;
	memset(out, 0, sizeof(*out));
	enum vmsim_result result = VMSIM_INVALID_DATASPACE;
	pthread_mutex_lock(&env->lock);
	struct vmsim_dataspace *ds = ds_lookup(env, cap.raw);
	if (!ds) {
		result = VMSIM_INVALID_CAP;
		goto out;
	}
	if (attr->offset % VMSIM_PAGE_SIZE || attr->offset >= ds->size)
		goto out;
	uint64_t size = attr->size ? attr->size : ds->size - attr->offset;
	if (size > ds->size - attr->offset)
		goto out;
	size = page_round_up(size); /* cannot pass ds->size - offset: both are page multiples */
	if (attr->writeable && ds->sealed)
		goto out;

	result = VMSIM_OUT_OF_RAM;
	struct local_mapping *mapping = vmsim_env_alloc(env, sizeof(*mapping));
	if (!mapping)
		goto out;
	/* old_size 0 on a shared mapping: a second, independent mapping of the same pages. */
	void *ptr = mremap((char *)ds->mem + attr->offset, 0, (size_t)size, MREMAP_MAYMOVE);
	if (ptr == MAP_FAILED) {
		vmsim_env_free(env, mapping, sizeof(*mapping));
		goto out;
	}
	if (!attr->writeable && mprotect(ptr, (size_t)size, PROT_READ) != 0) {
		munmap(ptr, (size_t)size);
		vmsim_env_free(env, mapping, sizeof(*mapping));
		goto out;
	}
	mapping->env = env;
	mapping->ds = ds;
	mapping->ptr = ptr;
	mapping->size = size;
	mapping->writeable = attr->writeable;
	mapping->id = ++env->local_ids;
	link_local(&ds->locals, mapping);
	if (attr->writeable)
		ds->writeable_locals++;
	out->ptr = ptr;
	out->num_bytes = size;
	out->_priv = mapping;
	out->_id = mapping->id;
	result = VMSIM_OK;
out:
	pthread_mutex_unlock(&env->lock);
	return result;
}

/* The live mapping an attachment names, found among env's without following its pointer; env->lock held. */
static struct local_mapping *live_mapping(struct vmsim_env *env, const struct vmsim_local_attachment *attachment)
{
	if (!attachment->_priv)
		return NULL;
	for (struct vmsim_dataspace *ds = env->dataspaces; ds; ds = ds->env_next)
		for (struct local_mapping *m = ds->locals; m; m = m->next)
			if (m == attachment->_priv && m->id == attachment->_id)
				return m;
	for (struct local_mapping *m = env->orphans; m; m = m->next)
		if (m == attachment->_priv && m->id == attachment->_id)
			return m;
	return NULL;
}

enum vmsim_result vmsim_local_release(struct vmsim_env *env, struct vmsim_local_attachment *attachment)
{
	if (!env || !attachment)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&env->lock);
	struct local_mapping *mapping = live_mapping(env, attachment);
	if (!mapping) {
		pthread_mutex_unlock(&env->lock);
		vmsim_env_log(env, VMSIM_LOG_WARN, "local release: not a live attachment of this env (released twice?)");
		return VMSIM_DENIED;
	}
	if (mapping->ds) {
		unlink_local(&mapping->ds->locals, mapping);
		if (mapping->writeable)
			mapping->ds->writeable_locals--;
	} else {
		unlink_local(&env->orphans, mapping);
	}
	munmap(mapping->ptr, (size_t)mapping->size);
	vmsim_env_free(env, mapping, sizeof(*mapping));
	pthread_mutex_unlock(&env->lock);
	memset(attachment, 0, sizeof(*attachment));
	return VMSIM_OK;
}

enum vmsim_result vmsim_local_done(struct vmsim_env *env, struct vmsim_local_attachment *attachment)
{
	if (!env || !attachment)
		return VMSIM_INVALID_ARGUMENT;
	if (attachment->keep || (!attachment->_priv && !attachment->ptr))
		return VMSIM_OK; /* kept (Genode's deallocate = false), or owning nothing (moved from, empty) */
	return vmsim_local_release(env, attachment);
}

void vmsim_local_move(struct vmsim_env *env, struct vmsim_local_attachment *dst, struct vmsim_local_attachment *src)
{
	if (!env || !dst || !src || dst == src)
		return;
	(void)vmsim_local_done(env, dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}
