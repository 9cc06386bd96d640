/* vt_tour.h - the exit tour (every exit kind with exact rip, length and fields, per mode), one for every backend. */
#ifndef VMSIM_TESTS_SUPPORT_VT_TOUR_H
#define VMSIM_TESTS_SUPPORT_VT_TOUR_H

#include "vt_ops_vm.h"

enum vt_tour_mode { VT_TOUR_REAL, VT_TOUR_PROT, VT_TOUR_LONG };

/* How a backend runs the tour. */
struct vt_tour_backend {
	/* vt_vm_init_on the backend (may skip the test where it cannot run) */
	void (*init)(struct vt_vm *t, uint64_t skip_lo, uint64_t skip_hi);
	/* after the guest is loaded and the mode's start state made: the backend's own adjustments; NULL: none */
	void (*prepare)(struct vt_vm *t, enum vt_tour_mode mode, const struct vt_guest *g, struct vmsim_cpu_state *s);
	enum vmsim_result (*run)(struct vt_vm *t);
};

/*
 * Run the guest's tour of mode on the backend and check each exit: kind, rip, length, fields. Exits the backend's
 * caps do not declare (vt_tour_kind_missing) are expected absent; the rest in order, then the guest's stop.
 */
void vt_exit_tour(const struct vt_tour_backend *b, enum vt_tour_mode mode);
/* The tour per mode as CMocka tests whose state is the backend; VT_TOUR_TESTS(&backend) lists the three under the
 * names docs/spec-parts cite (test_exits_real, test_exits_protected, test_exits_long). */
void vt_tour_real(void **state);
void vt_tour_protected(void **state);
void vt_tour_long(void **state);
#define VT_TOUR_TESTS(backend)                                          \
	{ "test_exits_real", vt_tour_real, NULL, NULL, (backend) },           \
	{ "test_exits_protected", vt_tour_protected, NULL, NULL, (backend) }, \
	{ "test_exits_long", vt_tour_long, NULL, NULL, (backend) }
/* The capability bit an exit kind needs (0: none), and whether ops lacks it. */
uint64_t vt_tour_exit_cap(enum vmsim_exit_kind kind);
bool vt_tour_kind_missing(const struct vmsim_backend_ops *ops, enum vmsim_exit_kind kind);

#endif
