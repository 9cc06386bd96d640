/* vmsim/log.h - log levels and the sink type shared by the env and backends. */
#ifndef VMSIM_API_LOG_H
#define VMSIM_API_LOG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmsim_log_level {
	VMSIM_LOG_ERROR = 0,
	VMSIM_LOG_WARN = 1,
	VMSIM_LOG_INFO = 2,
	VMSIM_LOG_DEBUG = 3
};

typedef void (*vmsim_log_fn)(void *ctx, enum vmsim_log_level level, const char *message);

/* Copy in to out (size > 0, always terminated, truncated to fit): printable ASCII stays, a backslash
 * becomes \\ and every other byte \xNN, so untrusted names cannot break or forge log lines. */
void vmsim_log_escape(const char *in, char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif
