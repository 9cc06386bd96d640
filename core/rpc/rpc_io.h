/* core/rpc/rpc_io.h - whole-buffer socket reads and writes shared by the server and the client library. */
#ifndef VMSIM_CORE_RPC_IO_H
#define VMSIM_CORE_RPC_IO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* Read exactly n bytes; false on EOF or error (a short frame loses the connection). */
static inline bool io_read_full(int fd, uint8_t *buf, size_t n)
{
	while (n) {
		ssize_t got = read(fd, buf, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return false;
		buf += got;
		n -= (size_t)got;
	}
	return true;
}

/* Write exactly n bytes without raising SIGPIPE on a peer that went away. */
static inline bool io_write_full(int fd, const uint8_t *buf, size_t n)
{
	while (n) {
		ssize_t put = send(fd, buf, n, MSG_NOSIGNAL);
		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return false;
		buf += put;
		n -= (size_t)put;
	}
	return true;
}

#endif
