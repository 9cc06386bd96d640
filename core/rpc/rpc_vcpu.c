/* core/rpc/rpc_vcpu.c - a client's vCPUs: created on its entrypoint, state moved by jobs posted there. */
#include <string.h>
#include <time.h>

#include "rpc_client.h"

/* The server-side handler: the remote VMM polls with STATE_GET, so a signal is only counted. */
static void on_signal(void *ctx, struct vmsim_vcpu *vcpu)
{
	(void)vcpu;
	struct client_vcpu *cv = ctx;
	pthread_mutex_lock(&cv->client->lock);
	cv->signals++;
	pthread_cond_broadcast(&cv->client->done);
	pthread_mutex_unlock(&cv->client->lock);
}

/*
 * A remote VMM cannot wait for signals, so calls that let the vCPU move wait
 * here until it has settled: signalled beyond seen, or (if may_run) running.
 */
static void wait_settled(struct client_vcpu *cv, uint64_t seen, bool may_run)
{
	struct vmsim_rpc_client *client = cv->client;
	pthread_mutex_lock(&client->lock);
	while (cv->signals <= seen) {
		if (may_run) {
			struct vmsim_exit last;
			vmsim_vcpu_last_exit(cv->vcpu, &last);
			if (last.kind == VMSIM_EXIT_NONE)
				break;
		}
		/* going from stopped to running raises no signal: look again shortly */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&client->done, &client->lock, &until);
	}
	pthread_mutex_unlock(&client->lock);
}

enum vmsim_result client_vcpu_create(struct vmsim_rpc_client *client, struct client_session *cs,
                                     uint32_t exit_config, struct vmsim_rpc_reply *out)
{
	enum vmsim_result r;
	if (!client->ep) {
		/* the entrypoint is one more host thread of this client */
		struct host_charge ep = {0, 1, 0};
		if ((r = client_host_take(client, &ep)) != VMSIM_OK)
			return r;
		if ((r = vmsim_entrypoint_create(client->env, "rpc-client", &client->ep)) != VMSIM_OK) {
			client_host_give(client, &ep);
			return r;
		}
		client->ep_host = ep;
	}
	struct client_vcpu *cv = vmsim_env_alloc(client->env, sizeof *cv);
	if (!cv)
		return VMSIM_OUT_OF_RAM;
	cv->owner = cs;
	cv->client = client;
	cv->host = host_vcpu_cost(cs->backend);
	if ((r = client_host_take(client, &cv->host)) != VMSIM_OK)
		goto free_record;
	r = cap_table_insert(client->env, &client->space, CAP_KIND_VCPU, cv, &cv->cap);
	if (r != VMSIM_OK)
		goto give_host;
	struct vmsim_exit_config config;
	if (exit_config == VMSIM_RPC_EXIT_CONFIG_MINIMAL)
		vmsim_exit_config_minimal(&config);
	else
		vmsim_exit_config_all(&config);
	struct vmsim_vcpu_args args = {
		.handler = on_signal, .handler_ctx = cv, .exit_config = &config, .entrypoint = client->ep};
	r = vmsim_vcpu_create(cs->session, &args, &cv->vcpu);
	if (r != VMSIM_OK)
		goto remove_cap;
	CLIENT_LINK(client->vcpus, cv);
	wait_settled(cv, 0, false); /* the startup signal: from now on STATE_GET shows a stopped vCPU */
	out->u.vcpu.cap = cv->cap;
	out->u.vcpu.id = vmsim_vcpu_id(cv->vcpu);
	return VMSIM_OK;

remove_cap:
	cap_table_remove(&client->space, cv->cap);
give_host:
	client_host_give(client, &cv->host);
free_record:
	vmsim_env_free(client->env, cv, sizeof *cv);
	return r;
}

/* One with_state call carried to the entrypoint thread and its answer carried back. */
struct state_job {
	struct vmsim_rpc_client *client;
	struct vmsim_vcpu *vcpu;
	struct vmsim_vcpu_state *get;       /* copy the state out, keep the vCPU stopped */
	const struct vmsim_vcpu_state *put; /* copy the state in */
	bool resume;
	enum vmsim_result result;
	bool done;
};

static bool with_state(void *ctx, struct vmsim_vcpu_state *state)
{
	struct state_job *job = ctx;
	if (job->get) {
		memcpy(job->get, state, sizeof *state);
		return false;
	}
	memcpy(state, job->put, sizeof *state);
	return job->resume;
}

static void run_job(void *ctx)
{
	struct state_job *job = ctx;
	enum vmsim_result r = vmsim_vcpu_with_state(job->vcpu, with_state, job);
	pthread_mutex_lock(&job->client->lock);
	job->result = r;
	job->done = true;
	pthread_cond_broadcast(&job->client->done);
	pthread_mutex_unlock(&job->client->lock);
}

static enum vmsim_result post_and_wait(struct vmsim_rpc_client *client, struct state_job *job)
{
	enum vmsim_result r = vmsim_entrypoint_post(client->ep, run_job, job);
	if (r != VMSIM_OK)
		return r;
	pthread_mutex_lock(&client->lock);
	while (!job->done)
		pthread_cond_wait(&client->done, &client->lock);
	pthread_mutex_unlock(&client->lock);
	return job->result;
}

enum vmsim_result client_vcpu_state_get(struct vmsim_rpc_client *client, struct client_vcpu *cv,
                                        struct vmsim_vcpu_state *out)
{
	struct state_job job = {.client = client, .vcpu = cv->vcpu, .get = out};
	return post_and_wait(client, &job);
}

enum vmsim_result client_vcpu_state_put(struct vmsim_rpc_client *client, struct client_vcpu *cv,
                                        const struct vmsim_vcpu_state *state, bool resume)
{
	struct state_job job = {.client = client, .vcpu = cv->vcpu, .put = state, .resume = resume};
	pthread_mutex_lock(&client->lock);
	uint64_t seen = cv->signals;
	pthread_mutex_unlock(&client->lock);
	enum vmsim_result r = post_and_wait(client, &job);
	if (r == VMSIM_OK && resume)
		wait_settled(cv, seen, true); /* a refused entry is signalled at once: the next GET shows it */
	return r;
}
