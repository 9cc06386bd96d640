/* tests/support/vt_cpu_plugin.c - the vt-cpu double as a dlopen-able backend, like sim/skeleton (its own conformance lane). */
#include <vmsim/backend.h>

#include "vt_cpu.h"

/* The one exported symbol (VMSIM_BACKEND_ENTRY_SYMBOL); everything else is hidden. */
__attribute__((visibility("default"))) const struct vmsim_backend_ops *vmsim_backend_entry_v1(void);

const struct vmsim_backend_ops *vmsim_backend_entry_v1(void)
{
	return vt_cpu_ops();
}
