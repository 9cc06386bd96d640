/* core/guest_memory.c - attach, detach and flush of guest-physical memory (Genode's guest_memory.h). */
#include "gpa_map.h"
#include "internal.h"
#include "npt.h"

static const uint64_t GPA_LIMIT = UINT64_C(1) << NPT_ADDRESS_BITS;
static const uint64_t PAGE_MASK = VMSIM_PAGE_SIZE - 1;

static unsigned region_prot(const struct region *region)
{
	return VMSIM_PROT_READ | (region->writeable ? VMSIM_PROT_WRITE : 0) |
	       (region->executable ? VMSIM_PROT_EXEC : 0);
}

/* Remove the backend mapping and its page tables; the region's record is the caller's. */
static void unmap_region(struct region *region)
{
	struct vmsim_session *session = region->session;
	enum vmsim_result result = session->ops->mem_unmap(session->backend_vm, region->start, region->size);
	if (result != VMSIM_OK)
		session_log(session, VMSIM_LOG_ERROR, "session \"%s\": unmap of [%#llx, +%#llx) failed: %s",
		              session->label, (unsigned long long)region->start, (unsigned long long)region->size,
		              vmsim_result_name(result));
	npt_unmap(session, region->start, region->size);
}

void region_flush(struct region *region)
{
	unmap_region(region);
	ds_unlink_region(region->ds, region);
	region->ds = NULL;
	region->reserved = true;
	/* The metadata charge stays until the VMM detaches the reserved range. */
}

void region_detach(struct region *region)
{
	struct vmsim_session *session = region->session;
	if (!region->reserved) {
		unmap_region(region);
		ds_unlink_region(region->ds, region);
	}
	gpa_map_remove(session->regions, region);
	vmsim_env_free(session->env, region, sizeof(*region));
	session_uncharge(session, VMSIM_COST_ATTACH_META_RAM, 0);
}

/* Steps a-f of the attach order: normalise size and check the ranges. INVALID_DATASPACE on any failure. */
static enum vmsim_result normalise(const struct vmsim_dataspace *ds, uint64_t gpa, const struct vmsim_attach_attr *attr,
                                   uint64_t *size_out)
{
	uint64_t offset = attr->offset, size = attr->size;
	if ((gpa | offset | size) & PAGE_MASK)
		return VMSIM_INVALID_DATASPACE;
	if (size == 0 && offset < ds->size)
		size = ds->size - offset;
	if (size > ds->size)
		size = ds->size;
	if (offset >= ds->size || offset > ds->size - size)
		return VMSIM_INVALID_DATASPACE;
	/* Beyond the 4-level table's reach (Genode's Page_table INVALID_RANGE), or wrapping. */
	if (gpa >= GPA_LIMIT || size > GPA_LIMIT - gpa)
		return VMSIM_INVALID_DATASPACE;
	*size_out = size;
	return VMSIM_OK;
}

/* Step h: an overlap is a retry (same dataspace around gpa, nothing reserved in range) or a conflict. */
static bool is_retry(const struct gpa_map *map, const struct vmsim_dataspace *ds, uint64_t gpa, uint64_t last)
{
	for (const struct region *region = gpa_map_first_intersecting(map, gpa, last); region && region->start <= last;
	     region = gpa_map_next(region))
		if (region->reserved)
			return false; /* fix 1: Genode would map the new dataspace there untracked */
	const struct region *around = gpa_map_find(map, gpa);
	return around && around->ds == ds;
}

static enum vmsim_result attach_locked(struct vmsim_session *session, struct vmsim_dataspace *ds, uint64_t gpa,
                                       const struct vmsim_attach_attr *attr, struct vmsim_range *out)
{
	uint64_t size;
	enum vmsim_result result = normalise(ds, gpa, attr, &size);
	if (result != VMSIM_OK)
		return result;
	uint64_t last = gpa + size - 1;

	/* g: Genode allocates region metadata before it can see an overlap, so OUT_OF_RAM wins here. */
	result = session_charge(session, VMSIM_COST_ATTACH_META_RAM, 0);
	if (result != VMSIM_OK)
		return result;
	if (gpa_map_first_intersecting(session->regions, gpa, last)) {
		session_uncharge(session, VMSIM_COST_ATTACH_META_RAM, 0);
		if (!is_retry(session->regions, ds, gpa, last))
			return VMSIM_REGION_CONFLICT;
		/* Already mapped: a live region is always mapped, since a failed map is rolled back (fix 2). */
		*out = (struct vmsim_range){gpa, size};
		return VMSIM_OK;
	}

	result = npt_map(session, gpa, size); /* i */
	if (result != VMSIM_OK)
		goto fail_meta;
	struct region *region = vmsim_env_alloc(session->env, sizeof(*region));
	if (!region) {
		result = VMSIM_OUT_OF_RAM;
		goto fail_tables;
	}
	*region = (struct region){
		.start = gpa,
		.size = size,
		.offset = attr->offset,
		.ds = ds,
		.session = session,
		/* Genode silently downgrades a writeable attach of a read-only dataspace. */
		.writeable = attr->writeable && !ds->sealed,
		.executable = attr->executable,
	};
	gpa_map_insert(session->regions, region); /* j */
	ds_link_region(ds, region);

	result = session->ops->mem_map(session->backend_vm, gpa, (char *)ds->mem + attr->offset, size,
	                               region_prot(region)); /* k */
	if (result != VMSIM_OK) {
		/* fix 2: Genode keeps the metadata of a failed map; we undo everything. */
		ds_unlink_region(ds, region);
		gpa_map_remove(session->regions, region);
		vmsim_env_free(session->env, region, sizeof(*region));
		result = ((unsigned)result < VMSIM_RESULT_COUNT) ? result : VMSIM_BACKEND_ERROR;
		goto fail_tables;
	}
	*out = (struct vmsim_range){gpa, size};
	return VMSIM_OK;

fail_tables:
	npt_unmap(session, gpa, size);
fail_meta:
	session_uncharge(session, VMSIM_COST_ATTACH_META_RAM, 0);
	return result;
}

enum vmsim_result vmsim_session_attach(struct vmsim_session *session, vmsim_ds_cap cap, uint64_t gpa,
                                       const struct vmsim_attach_attr *attr, struct vmsim_range *out)
{
	if (!session || !attr || !out)
		return VMSIM_INVALID_ARGUMENT;
	struct vmsim_env *env = session->env;
	/* env->lock keeps the dataspace alive (vmsim_ds_free takes it too); then the session's. */
	pthread_mutex_lock(&env->lock);
	enum vmsim_result result = VMSIM_INVALID_DATASPACE; /* a: Genode's answer to a bad cap */
	struct vmsim_dataspace *ds = ds_lookup(env, cap.raw);
	if (ds) {
		pthread_mutex_lock(&session->lock);
		result = attach_locked(session, ds, gpa, attr, out);
		pthread_mutex_unlock(&session->lock);
	}
	pthread_mutex_unlock(&env->lock);
	return result;
}

enum vmsim_result vmsim_session_detach(struct vmsim_session *session, uint64_t gpa, uint64_t size)
{
	if (!session || size == 0 || ((gpa | size) & PAGE_MASK))
		return VMSIM_INVALID_ARGUMENT;
	uint64_t last = gpa + size - 1;
	if (last < gpa)
		last = UINT64_MAX; /* the range runs off the top of the address space: clip it */
	struct vmsim_env *env = session->env;
	pthread_mutex_lock(&env->lock);
	pthread_mutex_lock(&session->lock);
	/*
	 * Every intersecting region goes, each whole. Genode's probe walk advances by
	 * the region's size from the probe address and can step over a region; we don't.
	 */
	struct region *region;
	while ((region = gpa_map_first_intersecting(session->regions, gpa, last)) != NULL) {
		uint64_t region_last = region->start + region->size - 1;
		region_detach(region);
		/* regions do not overlap: one reaching past the range ends the walk without another tree descent */
		if (region_last >= last)
			break;
		gpa = region_last + 1;
	}
	pthread_mutex_unlock(&session->lock);
	pthread_mutex_unlock(&env->lock);
	return VMSIM_OK;
}

enum vmsim_result vmsim_session_attach_pic(struct vmsim_session *session, uint64_t gpa, struct vmsim_range *out)
{
	(void)gpa;
	if (!session || !out)
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_INVALID_DATASPACE; /* ARM GIC only; x86 Genode answers this */
}
