/* fuzz/fuzz_target.h - what every fuzz target defines, and how it reports a broken invariant. */
#ifndef VMSIM_FUZZ_TARGET_H
#define VMSIM_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* libFuzzer's entry points; replay_main.c calls the same ones without libFuzzer. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant is a crash: say which, then trap so every engine saves the input. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

#endif
