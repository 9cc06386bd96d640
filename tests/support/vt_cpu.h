/* tests/support/vt_cpu.h - a tiny interpreting test backend ("vt-cpu") for the execution-model tests. */
#ifndef VMSIM_TESTS_SUPPORT_VT_CPU_H
#define VMSIM_TESTS_SUPPORT_VT_CPU_H

#include <vmsim/vmsim.h>

/*
 * Interprets a handful of x86 encodings at cs.base + rip in mapped guest memory:
 *   90 nop | f4 hlt | e6 ib out imm8,al | e4 ib in al,imm8 | eb rb jmp rel8 (eb fe spins)
 *   0f a2 cpuid | 0f 01 f9 rdtscp | 0f 01 c1 vmcall
 * A fetch from unmapped memory is an NPF (fetch); anything else is SHUTDOWN.
 * Exits report rip at the instruction; RESUME re-reads rip (unchanged = re-execute).
 * This is a test double for core's execution model, not a CPU model.
 */
const struct vmsim_backend_ops *vt_cpu_ops(void);

#endif
