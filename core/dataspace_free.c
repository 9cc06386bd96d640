/*
 * core/dataspace_free.c - freeing a dataspace (vmsim_ds_free, and the env's destruction): the guest attachments in
 * every session are flushed first (guest_memory.c), then the dataspace goes (dataspace.c). Above both, so neither
 * calls the other back (docs/architecture.md, "Layers").
 */
#include "gpa_map.h"
#include "internal.h"

void ds_free(struct vmsim_dataspace *ds)
{
	/* #3111: every guest attachment in every session is flushed now and stays reserved. */
	while (ds->regions) {
		struct vmsim_session *session = ds->regions->session;
		pthread_mutex_lock(&session->lock);
		region_flush(ds->regions);
		pthread_mutex_unlock(&session->lock);
	}
	ds_destroy(ds);
}

enum vmsim_result vmsim_ds_free(struct vmsim_env *env, vmsim_ds_cap cap)
{
	if (!env)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&env->lock);
	struct vmsim_dataspace *ds = ds_lookup(env, cap.raw);
	if (ds)
		ds_free(ds);
	pthread_mutex_unlock(&env->lock);
	return ds ? VMSIM_OK : VMSIM_INVALID_CAP;
}
