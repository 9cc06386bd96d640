/* core/rpc/rpc_wire.h - bounded little-endian readers and writers shared by the RPC codec. */
#ifndef VMSIM_CORE_RPC_WIRE_H
#define VMSIM_CORE_RPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vmsim/rpc.h>

/* A read cursor: every get fails (and sticks failed) instead of reading past end. */
struct wire_reader {
	const uint8_t *p;
	size_t left;
	bool failed;
};

/* A write cursor: every put fails (and sticks failed) instead of writing past end. */
struct wire_writer {
	uint8_t *p;
	size_t left;
	size_t written;
	bool failed;
};

static inline const uint8_t *wire_take(struct wire_reader *r, size_t n)
{
	if (r->failed || r->left < n) {
		r->failed = true;
		return NULL;
	}
	const uint8_t *at = r->p;
	r->p += n;
	r->left -= n;
	return at;
}

static inline uint64_t wire_get(struct wire_reader *r, size_t n)
{
	const uint8_t *at = wire_take(r, n);
	uint64_t v = 0;
	for (size_t i = 0; at && i < n; i++)
		v |= (uint64_t)at[i] << (8 * i);
	return v;
}

static inline uint8_t wire_u8(struct wire_reader *r) { return (uint8_t)wire_get(r, 1); }
static inline uint16_t wire_u16(struct wire_reader *r) { return (uint16_t)wire_get(r, 2); }
static inline uint32_t wire_u32(struct wire_reader *r) { return (uint32_t)wire_get(r, 4); }
static inline uint64_t wire_u64(struct wire_reader *r) { return wire_get(r, 8); }

static inline uint8_t *wire_reserve(struct wire_writer *w, size_t n)
{
	if (w->failed || w->left < n) {
		w->failed = true;
		return NULL;
	}
	uint8_t *at = w->p;
	w->p += n;
	w->left -= n;
	w->written += n;
	return at;
}

static inline void wire_put(struct wire_writer *w, uint64_t v, size_t n)
{
	uint8_t *at = wire_reserve(w, n);
	for (size_t i = 0; at && i < n; i++)
		at[i] = (uint8_t)(v >> (8 * i));
}

static inline void wire_put_bytes(struct wire_writer *w, const void *src, size_t n)
{
	uint8_t *at = wire_reserve(w, n);
	if (at && n)
		memcpy(at, src, n);
}

/* A length-prefixed (u8) string of at most max bytes without NUL; dst holds max + 1. */
static inline void wire_string(struct wire_reader *r, char *dst, size_t max)
{
	size_t n = wire_u8(r);
	const uint8_t *at = wire_take(r, r->failed || n > max ? SIZE_MAX : n);
	if (!at)
		return;
	if (memchr(at, 0, n)) {
		r->failed = true;
		return;
	}
	memcpy(dst, at, n);
	dst[n] = '\0';
}

static inline void wire_put_string(struct wire_writer *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n > max) {
		w->failed = true;
		return;
	}
	wire_put(w, n, 1);
	wire_put_bytes(w, s, n);
}

/* The frame header; the payload length is patched in by wire_finish_frame. */
static inline void wire_put_header(struct wire_writer *w, uint16_t op, uint32_t seq)
{
	wire_put(w, 0, 4);
	wire_put(w, VMSIM_RPC_VERSION, 2);
	wire_put(w, op, 2);
	wire_put(w, seq, 4);
}

/* Patch the payload length into a frame written from buf; false if it failed or is too long. */
static inline bool wire_finish_frame(struct wire_writer *w, uint8_t *buf, size_t *len)
{
	if (w->failed || w->written - VMSIM_RPC_HEADER_SIZE > VMSIM_RPC_MAX_PAYLOAD)
		return false;
	uint32_t payload = (uint32_t)(w->written - VMSIM_RPC_HEADER_SIZE);
	for (int i = 0; i < 4; i++)
		buf[i] = (uint8_t)(payload >> (8 * i));
	*len = w->written;
	return true;
}

/* Vcpu_state on the wire (rpc_state.c): charged bitmap, values, exit_reason, FPU size and bytes. */
void wire_put_state(struct wire_writer *w, const struct vmsim_vcpu_state *state);
void wire_state(struct wire_reader *r, struct vmsim_vcpu_state *state);

/*
 * One field list serves both directions: a codec has exactly one of r (decode into the fields) and w (encode
 * them; the fields are only read then). rpc_ops.c describes every opcode's payload once with these.
 */
struct wire_codec {
	struct wire_reader *r;
	struct wire_writer *w;
};

static inline void wire_f8(struct wire_codec *c, uint8_t *v)
{
	if (c->r)
		*v = wire_u8(c->r);
	else
		wire_put(c->w, *v, 1);
}

static inline void wire_f32(struct wire_codec *c, uint32_t *v)
{
	if (c->r)
		*v = wire_u32(c->r);
	else
		wire_put(c->w, *v, 4);
}

static inline void wire_f64(struct wire_codec *c, uint64_t *v)
{
	if (c->r)
		*v = wire_u64(c->r);
	else
		wire_put(c->w, *v, 8);
}

static inline void wire_fstring(struct wire_codec *c, char *s, size_t max)
{
	if (c->r)
		wire_string(c->r, s, max);
	else
		wire_put_string(c->w, s, max);
}

static inline void wire_fstate(struct wire_codec *c, struct vmsim_vcpu_state *state)
{
	if (c->r)
		wire_state(c->r, state);
	else
		wire_put_state(c->w, state);
}

/* A decoded value outside its documented set makes the frame invalid (encoding does not check). */
static inline void wire_refuse_if(struct wire_codec *c, bool bad)
{
	if (c->r && bad)
		c->r->failed = true;
}

/* An opcode's request arguments / reply outputs in codec c (rpc_ops.c); false for an unknown opcode. */
bool rpc_op_args(struct wire_codec *c, struct vmsim_rpc_request *q);
bool rpc_op_outputs(struct wire_codec *c, struct vmsim_rpc_reply *p);

#endif
