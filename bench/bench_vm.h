/* bench/bench_vm.h - the benchmark's VMM (vm.c): a session, guest RAM with one exit loop, vCPUs and their handler. */
#ifndef VMSIM_BENCH_VM_H
#define VMSIM_BENCH_VM_H

#include <pthread.h>
#include <stdatomic.h>

#include "bench_internal.h"

struct bench_vm;

/* Per vCPU: its own batch clock and samples, so concurrent vCPUs never share a line. */
struct bench_vcpu {
	struct bench_vm *vm;
	struct vmsim_vcpu *vcpu;
	unsigned index;
	struct bench_batcher batch;
	struct bench_samples samples;
};

/* Scaling hooks: return what with_state's function returns (true = resume). */
typedef bool (*bench_vcpu_hook)(struct bench_vcpu *vc);

struct bench_vm_args {
	const char *backend;
	enum vmsim_model model;
	enum bench_case which;
	struct bench_limits lim;
	bool entrypoint;     /* handlers on a dispatching entrypoint instead of inline */
	bool full_state;     /* vmsim_exit_config_all instead of minimal */
	unsigned vcpus;      /* 0 or 1: one */
	bench_vcpu_hook on_start; /* after the start state is charged; NULL: start the batch clock */
	bench_vcpu_hook on_exit;  /* after each handled exit; NULL: batch clock until the limits */
	void *user;
	uint64_t extra_ram_quota; /* on top of what the VM itself needs (attachment series) */
};

struct bench_vm {
	struct vmsim_env *env;
	struct vmsim_session *session;
	struct vmsim_entrypoint *ep;
	vmsim_ds_cap ram_ds;
	struct vmsim_local_attachment ram;
	struct bench_vcpu *vcpus;
	unsigned nvcpus;
	enum vmsim_model model;
	enum bench_case which;
	const struct bench_guest *guest;
	struct bench_limits lim;
	unsigned expect;             /* the model's exit code of the case's exit */
	bench_vcpu_hook on_start, on_exit;
	void *user;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool finished;
	char failure[160];
	atomic_uint_fast64_t pause_at; /* pause case: when vmsim_vcpu_pause was called */
	atomic_uint_fast64_t answered; /* pause case: PAUSED exits seen */
};

/* Build env, session, RAM and the vCPUs (which start running at once). On failure everything is undone. */
enum vmsim_result vmsim_bench_vm_open(struct bench_vm *b, const struct bench_vm_args *args);
/* Wait until a handler finished the run (or timeout_ns passed); true if it finished without failure. */
bool vmsim_bench_vm_wait(struct bench_vm *b, uint64_t timeout_ns);
/* Wait until vCPU i's STARTUP was answered and it runs (or timeout_ns passed); *last: its last exit then. */
bool vmsim_bench_vm_wait_running(struct bench_vm *b, unsigned i, uint64_t timeout_ns, struct vmsim_exit *last);
/* End the run from outside (with a failure message, or NULL); handlers stop at their next exit. */
void vmsim_bench_vm_finish(struct bench_vm *b, const char *failure);
void vmsim_bench_vm_close(struct bench_vm *b);

#endif
