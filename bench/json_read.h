/* bench/json_read.h - a small JSON reader for --compare: enough for documents `vmsim bench --json` writes. */
#ifndef VMSIM_BENCH_JSON_READ_H
#define VMSIM_BENCH_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>

enum bench_json_type { BENCH_JSON_NULL, BENCH_JSON_BOOL, BENCH_JSON_NUMBER, BENCH_JSON_STRING,
	               BENCH_JSON_ARRAY, BENCH_JSON_OBJECT };

struct bench_json {
	enum bench_json_type type;
	double number;          /* NUMBER; BOOL as 0/1 */
	char *string;           /* STRING */
	struct bench_json *items; /* ARRAY and OBJECT values */
	char **keys;            /* OBJECT keys, parallel to items */
	size_t count;
};

/* Parse text; NULL on a syntax error (with the byte offset in *error_at) or out of memory. */
struct bench_json *vmsim_bench_json_parse(const char *text, size_t *error_at);
void vmsim_bench_json_free(struct bench_json *v);
/* The member named key of an object, or NULL. */
const struct bench_json *vmsim_bench_json_get(const struct bench_json *object, const char *key);

#endif
