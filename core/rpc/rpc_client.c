/* core/rpc/rpc_client.c - a client's lifetime: its capability space, budget, and teardown on disconnect. */
#include <stddef.h>
#include <string.h>

#include "rpc_client.h"

enum { DEFAULT_CLIENT_RAM = 64u << 20, DEFAULT_CLIENT_CAPS = 1000, DEFAULT_CLIENT_THREADS = 64,
       DEFAULT_CLIENT_FDS = 64 };
/* A plugin built before host_cost existed: assume a KVM-like cost, the dearest the project knows. */
#define UNDECLARED_VM (struct vmsim_backend_host_cost){.vm_ram = 1u << 20, .vcpu_ram = 1u << 20, .vm_fds = 2, \
                                                       .vcpu_fds = 1}

static struct vmsim_backend_host_cost declared(const struct vmsim_backend_ops *ops)
{
	if (!ops)
		return (struct vmsim_backend_host_cost){0};
	if (ops->struct_size < offsetof(struct vmsim_backend_ops, host_cost) + sizeof ops->host_cost)
		return UNDECLARED_VM;
	return ops->host_cost;
}

struct host_charge host_vm_cost(const struct vmsim_backend_ops *ops)
{
	struct vmsim_backend_host_cost c = declared(ops);
	return (struct host_charge){c.vm_ram, c.vm_threads, c.vm_fds};
}

struct host_charge host_vcpu_cost(const struct vmsim_backend_ops *ops)
{
	struct vmsim_backend_host_cost c = declared(ops);
	return (struct host_charge){c.vcpu_ram, 1 + (uint64_t)c.vcpu_threads, c.vcpu_fds}; /* 1: core's vCPU thread */
}

void client_set_pool(struct vmsim_rpc_client *client, struct host_pool *pool)
{
	client->pool = pool;
}

enum vmsim_result client_host_take(struct vmsim_rpc_client *client, const struct host_charge *c)
{
	if (!quota_withdraw(&client->host_ram, c->ram))
		return VMSIM_OUT_OF_RAM;
	enum vmsim_result r = VMSIM_OUT_OF_CAPS;
	if (!quota_withdraw(&client->threads, c->threads))
		goto ram;
	if (!quota_withdraw(&client->fds, c->fds))
		goto threads;
	if (!client->pool)
		return VMSIM_OK;
	pthread_mutex_lock(&client->pool->lock);
	bool ram_ok = quota_withdraw(&client->pool->ram, c->ram), threads_ok = false, fds_ok = false;
	if (ram_ok && (threads_ok = quota_withdraw(&client->pool->threads, c->threads)))
		fds_ok = quota_withdraw(&client->pool->fds, c->fds);
	if (!fds_ok) {
		if (threads_ok)
			quota_replenish(&client->pool->threads, c->threads);
		if (ram_ok)
			quota_replenish(&client->pool->ram, c->ram);
	}
	pthread_mutex_unlock(&client->pool->lock);
	if (fds_ok)
		return VMSIM_OK;
	r = ram_ok ? VMSIM_OUT_OF_CAPS : VMSIM_OUT_OF_RAM;
	quota_replenish(&client->fds, c->fds);
threads:
	quota_replenish(&client->threads, c->threads);
ram:
	quota_replenish(&client->host_ram, c->ram);
	return r;
}

void client_host_give(struct vmsim_rpc_client *client, const struct host_charge *c)
{
	if (client->pool) {
		pthread_mutex_lock(&client->pool->lock);
		quota_replenish(&client->pool->ram, c->ram);
		quota_replenish(&client->pool->threads, c->threads);
		quota_replenish(&client->pool->fds, c->fds);
		pthread_mutex_unlock(&client->pool->lock);
	}
	quota_replenish(&client->fds, c->fds);
	quota_replenish(&client->threads, c->threads);
	quota_replenish(&client->host_ram, c->ram);
}

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
	client->host_ram.limit = client->ram.limit; /* Genode-visible RAM and host RAM: two budgets of one size */
	client->threads.limit = cfg && cfg->threads ? cfg->threads : DEFAULT_CLIENT_THREADS;
	client->fds.limit = cfg && cfg->fds ? cfg->fds : DEFAULT_CLIENT_FDS;
	client->log = cfg ? cfg->log : NULL;
	client->log_ctx = cfg ? cfg->log_ctx : NULL;
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
		client_host_give(client, &cv->host);
		vmsim_env_free(client->env, cv, sizeof *cv);
	}
	vmsim_session_close(cs->session);
	client_host_give(client, &cs->host);
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
	else if (client->ep)
		client_host_give(client, &client->ep_host);
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
