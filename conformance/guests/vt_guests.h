/* vt_guests.h - the assembled guest programs and their x_* labels, for tests (built from *.S). */
#ifndef VMSIM_CONFORMANCE_VT_GUESTS_H
#define VMSIM_CONFORMANCE_VT_GUESTS_H

#include <stddef.h>
#include <stdint.h>

struct vt_guest_symbol {
	const char *name;
	uint64_t offset;
};

struct vt_guest {
	const char *name;
	const unsigned char *bytes;
	size_t size;
	const struct vt_guest_symbol *symbols; /* ends with a NULL name */
};

/* Offset of label name inside guest g; aborts the test binary if the label does not exist. */
uint64_t vt_guest_sym(const struct vt_guest *g, const char *name);

extern const struct vt_guest vt_guest_rm_exits, vt_guest_pm_exits, vt_guest_lm_exits;
extern const struct vt_guest vt_guest_rm_events, vt_guest_pm_events, vt_guest_lm_events;
extern const struct vt_guest vt_guest_pm_loops, vt_guest_reset, vt_guest_rm_switch, vt_guest_rm_smc,
	vt_guest_rm_xmode_smc, vt_guest_rm_smp_smc, vt_guest_rm_far;
extern const struct vt_guest vt_guest_pm_paging, vt_guest_pm_alias_smc;

#endif
