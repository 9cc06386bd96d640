/* fuzz/tests/crashy_target.c - a target that traps on anything but its seed: the crash-saving path under test. */
#include <string.h>

#include "fuzz_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_CHECK(size == 4 && memcmp(data, "SEED", 4) == 0);
	return 0;
}
