/* tools/common/file_read.c - one whole-file read loop (vmsim run's image, vmsim bench --compare's JSON). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"

static bool failed(struct file_read *out, enum file_read_error error, int errnum)
{
	out->error = error;
	out->errnum = errnum;
	return false;
}

bool file_read_whole(const char *path, uint64_t limit, struct file_read *out)
{
	*out = (struct file_read){ 0 };
	struct stat st;
	if (stat(path, &st) != 0)
		return failed(out, FILE_READ_OPEN, errno);
	if (!S_ISREG(st.st_mode))
		return failed(out, FILE_READ_NOT_REGULAR, 0);
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return failed(out, FILE_READ_OPEN, errno);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return failed(out, FILE_READ_NOT_REGULAR, 0);
	}
	out->size = (size_t)st.st_size;
	if ((uint64_t)st.st_size > limit) {
		close(fd);
		return failed(out, FILE_READ_TOO_LARGE, 0);
	}
	size_t want = (size_t)st.st_size, got = 0;
	uint8_t *data = malloc(want + 1);
	while (data && got < want) {
		ssize_t n = read(fd, data + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!data || got != want) {
		free(data);
		return failed(out, FILE_READ_SHORT, data ? 0 : ENOMEM);
	}
	data[want] = 0;
	out->data = data;
	return true;
}
