/*
 * core/log.c - log lines to the env's sink or a session's own, and the escaping of names in them: a leaf every module
 * calls (it calls nothing else in core).
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

enum { LOG_LINE_MAX = 512 };

void vmsim_log_escape(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (!out || !size)
		return;
	for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p; p++) {
		bool plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
		size_t need = plain ? 1 : *p == '\\' ? 2 : 4;
		if (o + need >= size)
			break; /* a whole escape or nothing: never half of one */
		if (plain) {
			out[o++] = (char)*p;
		} else if (*p == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = 0;
}

/* Format and hand one line to sink, at the env's level: the env's own lines and a session's alike. */
__attribute__((format(printf, 5, 0))) static void log_to(const struct vmsim_env *env, vmsim_log_fn sink, void *ctx,
                                                         enum vmsim_log_level level, const char *fmt, va_list args)
{
	if (!fmt || level > env->log_level)
		return;
	char line[LOG_LINE_MAX];
	vsnprintf(line, sizeof(line), fmt, args);
	sink(ctx, level, line);
}

void vmsim_env_log(const struct vmsim_env *env, enum vmsim_log_level level, const char *fmt, ...)
{
	if (!env)
		return;
	va_list args;
	va_start(args, fmt);
	log_to(env, env->log, env->log_ctx, level, fmt, args);
	va_end(args);
}

void session_log(const struct vmsim_session *session, enum vmsim_log_level level, const char *fmt, ...)
{
	const struct vmsim_env *env = session->env;
	va_list args;
	va_start(args, fmt);
	if (session->log)
		log_to(env, session->log, session->log_ctx, level, fmt, args);
	else
		log_to(env, env->log, env->log_ctx, level, fmt, args);
	va_end(args);
}

void session_host_log(void *ctx, enum vmsim_log_level level, const char *message)
{
	session_log(ctx, level, "%s", message ? message : "");
}
