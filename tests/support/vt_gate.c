/* tests/support/vt_gate.c - the gate of vt_gate.h. */
#include "vt_gate.h"

void vt_gate_job(void *gate)
{
	struct vt_gate *g = gate;
	pthread_mutex_lock(&g->lock);
	g->entered = true;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

bool vt_gate_entered(void *gate)
{
	struct vt_gate *g = gate;
	pthread_mutex_lock(&g->lock);
	bool entered = g->entered;
	pthread_mutex_unlock(&g->lock);
	return entered;
}

void vt_gate_open(struct vt_gate *gate)
{
	pthread_mutex_lock(&gate->lock);
	gate->open = true;
	pthread_cond_broadcast(&gate->cond);
	pthread_mutex_unlock(&gate->lock);
}
