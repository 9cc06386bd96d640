/* bench/raw_kvm.c - the KVM rows' hook: when they can run, and the bare KVM_RUN baseline (not written yet). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "bench_internal.h"

/*
 * The KVM rows need two things: the kvm backend registered by
 * vmsim_register_builtin_backends (sim/kvm, being written) and an openable
 * /dev/kvm (inside the QEMU lane, docs/benchmarks.md). Until the bare
 * KVM_RUN loop below exists the rows say so instead of vanishing.
 */
const char *vmsim_bench_kvm_unavailable(const struct vmsim_env *env)
{
	if (!vmsim_env_backend(env, "kvm"))
		return "backend 'kvm' is not built into this libvmsim yet (sim/kvm)";
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return "no usable /dev/kvm on this machine (run inside the QEMU lane)";
	close(fd);
	return NULL;
}

/*
 * The baseline to write here: KVM_CREATE_VM, one memslot with the case's
 * guest (vmsim_bench_guest(c)) at gpa 0, a vCPU in the same flat 64-bit
 * state vm.c charges, and a KVM_RUN loop that answers KVM_EXIT_IO /
 * KVM_EXIT_MMIO / KVM_EXIT_HLT with the same register writes, timed with
 * vmsim_bench_batch_tick exactly as the Unicorn baseline is.
 */
bool vmsim_bench_raw_kvm_case(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out,
                              char *why, size_t why_size)
{
	(void)c, (void)lim, (void)out;
	snprintf(why, why_size, "the bare KVM_RUN baseline is not written yet (bench/raw_kvm.c)");
	return false;
}
