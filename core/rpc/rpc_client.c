/* core/rpc/rpc_client.c - a client's lifetime: its capability space, budget, and teardown on disconnect. */
#include <string.h>

#include "rpc_client.h"

enum { DEFAULT_CLIENT_RAM = 64u << 20, DEFAULT_CLIENT_CAPS = 1000 };

enum vmsim_result vmsim_rpc_client_create(struct vmsim_env *env, const struct vmsim_rpc_client_config *cfg,
                                          struct vmsim_rpc_client **out)
{
	if (!env || !out)
		return VMSIM_INVALID_ARGUMENT;
	*out = NULL;
	struct vmsim_rpc_client *client = vmsim_env_alloc(env, sizeof *client);
	if (!client)
		return VMSIM_OUT_OF_RAM;
	client->env = env;
	client->ram.limit = cfg && cfg->ram ? cfg->ram : DEFAULT_CLIENT_RAM;
	client->caps.limit = cfg && cfg->caps ? cfg->caps : DEFAULT_CLIENT_CAPS;
	cap_table_init(&client->space, cfg ? cfg->cap_seed : 0);
	pthread_mutex_init(&client->lock, NULL);
	pthread_cond_init(&client->done, NULL);
	*out = client;
	return VMSIM_OK;
}

void client_close_session(struct vmsim_rpc_client *client, struct client_session *cs)
{
	/* the vCPUs die with the session: their names must not outlive it */
	for (struct client_vcpu *cv = client->vcpus, *next; cv; cv = next) {
		next = cv->next;
		if (cv->owner != cs)
			continue;
		cap_table_remove(&client->space, cv->cap);
		CLIENT_UNLINK(client->vcpus, cv);
		vmsim_vcpu_destroy(cv->vcpu);
		vmsim_env_free(client->env, cv, sizeof *cv);
	}
	vmsim_session_close(cs->session);
	cap_table_remove(&client->space, cs->cap);
	CLIENT_UNLINK(client->sessions, cs);
	quota_replenish(&client->ram, cs->donated_ram);
	quota_replenish(&client->caps, cs->donated_caps);
	vmsim_env_free(client->env, cs, sizeof *cs);
}

void client_free_ds(struct vmsim_rpc_client *client, struct client_ds *cd)
{
	/* the env's cap was ours alone; a failure here would mean core lost the dataspace */
	enum vmsim_result r = vmsim_ds_free(client->env, cd->ds);
	if (RPC_NEVER(r != VMSIM_OK))
		vmsim_env_log(client->env, VMSIM_LOG_ERROR, "rpc: freeing a client dataspace failed: %s",
		              vmsim_result_name(r));
	cap_table_remove(&client->space, cd->cap);
	CLIENT_UNLINK(client->dataspaces, cd);
	quota_replenish(&client->ram, cd->size);
	quota_replenish(&client->caps, VMSIM_COST_DATASPACE_CAPS);
	vmsim_env_free(client->env, cd, sizeof *cd);
}

void vmsim_rpc_client_destroy(struct vmsim_rpc_client *client)
{
	if (!client)
		return;
	while (client->sessions)
		client_close_session(client, client->sessions);
	while (client->dataspaces)
		client_free_ds(client, client->dataspaces);
	if (client->ep && RPC_NEVER(vmsim_entrypoint_destroy(client->ep) != VMSIM_OK))
		vmsim_env_log(client->env, VMSIM_LOG_ERROR, "rpc: a client entrypoint could not be destroyed");
	cap_table_destroy(client->env, &client->space);
	pthread_cond_destroy(&client->done);
	pthread_mutex_destroy(&client->lock);
	vmsim_env_free(client->env, client, sizeof *client);
}

void vmsim_rpc_client_quota(const struct vmsim_rpc_client *client, struct vmsim_quota *out)
{
	if (!client || !out)
		return;
	out->ram_limit = client->ram.limit;
	out->ram_used = client->ram.used;
	out->cap_limit = client->caps.limit;
	out->cap_used = client->caps.used;
}
