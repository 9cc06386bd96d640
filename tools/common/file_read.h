/* tools/common/file_read.h - the whole of a regular file, for the vmsim command and the bench library. */
#ifndef VMSIM_TOOLS_FILE_READ_H
#define VMSIM_TOOLS_FILE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a read failed; the caller words the message (its own command and argument). */
enum file_read_error {
	FILE_READ_OK,
	FILE_READ_OPEN,        /* stat or open failed: errnum says why */
	FILE_READ_NOT_REGULAR, /* a FIFO, device or directory (it would block or never end) */
	FILE_READ_TOO_LARGE,   /* more than limit bytes */
	FILE_READ_SHORT,       /* out of memory, or the file changed while read */
};

struct file_read {
	uint8_t *data;       /* size bytes and a NUL after them (for text); free() it */
	size_t size;
	enum file_read_error error;
	int errnum;          /* FILE_READ_OPEN: errno at the failing call */
};

/* Read a regular file of at most limit bytes (O_NONBLOCK: a file swapped for a FIFO cannot block); false on error. */
bool file_read_whole(const char *path, uint64_t limit, struct file_read *out);

#endif
