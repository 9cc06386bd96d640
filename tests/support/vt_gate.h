/* tests/support/vt_gate.h - a gate a job or handler waits at, so a test holds it there while it acts (no sleeps). */
#ifndef VMSIM_TESTS_SUPPORT_VT_GATE_H
#define VMSIM_TESTS_SUPPORT_VT_GATE_H

#include <pthread.h>
#include <stdbool.h>

struct vt_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open, entered;
};

#define VT_GATE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false }

/* Enter the gate (struct vt_gate *) and wait there until it is opened; an entrypoint job as it is. */
void vt_gate_job(void *gate);
/* Whether something entered the gate (struct vt_gate *); a vt_wait_until condition. */
bool vt_gate_entered(void *gate);
/* Let whatever waits at the gate through. */
void vt_gate_open(struct vt_gate *gate);

#endif
