/* bench/json_read.c - a recursive-descent JSON reader (no \u escapes beyond ASCII): what --compare needs. */
#include <stdlib.h>
#include <string.h>

#include "json_read.h"

struct parser {
	const char *p, *start;
	int depth;
};

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')
		ps->p++;
}

static bool parse_value(struct parser *ps, struct bench_json *out);

static char *parse_string(struct parser *ps)
{
	if (*ps->p != '"')
		return NULL;
	ps->p++;
	size_t cap = 16, n = 0;
	char *s = malloc(cap);
	while (s && *ps->p && *ps->p != '"') {
		char c = *ps->p++;
		if (c == '\\') {
			char e = *ps->p++;
			switch (e) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				unsigned v = 0;
				for (int i = 0; i < 4; i++) {
					char h = *ps->p++;
					v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
				}
				c = v < 0x80 ? (char)v : '?';
				break;
			}
			case '"': case '\\': case '/': c = e; break;
			default: free(s); return NULL;
			}
		}
		if (n + 2 > cap) {
			char *t = realloc(s, cap *= 2);
			if (!t) {
				free(s);
				return NULL;
			}
			s = t;
		}
		s[n++] = c;
	}
	if (!s || *ps->p != '"') {
		free(s);
		return NULL;
	}
	ps->p++;
	s[n] = 0;
	return s;
}

static bool append(struct bench_json *out, char *key, struct bench_json *item)
{
	struct bench_json *items = realloc(out->items, (out->count + 1) * sizeof *items);
	if (!items)
		return false;
	out->items = items;
	if (out->type == BENCH_JSON_OBJECT) {
		char **keys = realloc(out->keys, (out->count + 1) * sizeof *keys);
		if (!keys)
			return false;
		out->keys = keys;
		keys[out->count] = key;
	}
	items[out->count++] = *item;
	return true;
}

static bool parse_container(struct parser *ps, struct bench_json *out, bool object)
{
	char close = object ? '}' : ']';
	out->type = object ? BENCH_JSON_OBJECT : BENCH_JSON_ARRAY;
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		return true;
	}
	for (;;) {
		char *key = NULL;
		struct bench_json item = { 0 };
		skip_ws(ps);
		if (object) {
			key = parse_string(ps);
			skip_ws(ps);
			if (!key || *ps->p != ':') {
				free(key);
				return false;
			}
			ps->p++;
		}
		if (!parse_value(ps, &item) || !append(out, key, &item)) {
			free(key);
			vmsim_bench_json_free(&item);
			return false;
		}
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p != close)
			return false;
		ps->p++;
		return true;
	}
}

static bool parse_value(struct parser *ps, struct bench_json *out)
{
	memset(out, 0, sizeof *out);
	skip_ws(ps);
	if (++ps->depth > 64)
		return false;
	bool ok = true;
	const char *p = ps->p;
	if (*p == '{' || *p == '[') {
		ok = parse_container(ps, out, *p == '{');
	} else if (*p == '"') {
		out->type = BENCH_JSON_STRING;
		ok = (out->string = parse_string(ps)) != NULL;
	} else if (!strncmp(p, "null", 4)) {
		ps->p += 4;
	} else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
		out->type = BENCH_JSON_BOOL;
		out->number = *p == 't';
		ps->p += *p == 't' ? 4 : 5;
	} else {
		char *end;
		out->type = BENCH_JSON_NUMBER;
		out->number = strtod(p, &end);
		ok = end != p;
		ps->p = end;
	}
	ps->depth--;
	return ok;
}

struct bench_json *vmsim_bench_json_parse(const char *text, size_t *error_at)
{
	struct parser ps = { text, text, 0 };
	struct bench_json *v = calloc(1, sizeof *v);
	if (v && parse_value(&ps, v)) {
		skip_ws(&ps);
		if (!*ps.p)
			return v;
	}
	if (error_at)
		*error_at = (size_t)(ps.p - ps.start);
	vmsim_bench_json_free(v);
	free(v);
	return NULL;
}

void vmsim_bench_json_free(struct bench_json *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->count; i++) {
		vmsim_bench_json_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->string);
	memset(v, 0, sizeof *v);
}

const struct bench_json *vmsim_bench_json_get(const struct bench_json *object, const char *key)
{
	if (!object || object->type != BENCH_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < object->count; i++)
		if (!strcmp(object->keys[i], key))
			return &object->items[i];
	return NULL;
}
