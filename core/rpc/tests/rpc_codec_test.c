/* core/rpc/tests/rpc_codec_test.c - the wire codec: byte-exact frames, round trips, and every refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <vmsim/vmsim.h>
#include <vmsim/rpc.h>

static uint8_t buf[VMSIM_RPC_MAX_FRAME + 64];

/* Encode q, decode it back, and require the same bytes from the decoded copy. */
static size_t vt_roundtrip_request(const struct vmsim_rpc_request *q)
{
	static struct vmsim_rpc_request back;
	static uint8_t again[VMSIM_RPC_MAX_FRAME];
	size_t len, len2;
	assert_int_equal(vmsim_rpc_encode_request(q, buf, sizeof buf, &len), VMSIM_OK);
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_OK);
	assert_int_equal(back.op, q->op);
	assert_int_equal(back.seq, q->seq);
	assert_int_equal(vmsim_rpc_encode_request(&back, again, sizeof again, &len2), VMSIM_OK);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, again, len);
	return len;
}

static void test_open_frame_is_byte_exact(void **state)
{
	(void)state;
	struct vmsim_rpc_request q = {.op = VMSIM_RPC_SESSION_OPEN, .seq = 0x01020304};
	q.u.open.ram = 0x500000;
	q.u.open.caps = 10;
	q.u.open.model = VMSIM_MODEL_VMX;
	strcpy(q.u.open.label, "vm");
	strcpy(q.u.open.backend, "null");
	size_t len;
	assert_int_equal(vmsim_rpc_encode_request(&q, buf, sizeof buf, &len), VMSIM_OK);
	static const uint8_t expect[] = {
		28, 0, 0, 0, 1, 0, 1, 0, 4, 3, 2, 1,          /* header: payload 28, version 1, op 1, seq */
		0, 0, 0x50, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, /* ram, caps */
		2, 0, 0, 0, 2, 'v', 'm', 4, 'n', 'u', 'l', 'l'};
	assert_int_equal(len, sizeof expect);
	assert_memory_equal(buf, expect, sizeof expect);
	vt_roundtrip_request(&q);
}

static void test_every_request_roundtrips(void **state)
{
	(void)state;
	for (uint16_t op = 1; op < VMSIM_RPC_OP_END; op++) {
		static struct vmsim_rpc_request q;
		memset(&q, 0, sizeof q);
		q.op = op;
		q.seq = op * 7u;
		q.u.attach.session = 0x1111; /* overlays the first cap field of every layout */
		if (op == VMSIM_RPC_ATTACH)
			q.u.attach.flags = VMSIM_RPC_ATTACH_WRITEABLE;
		if (op == VMSIM_RPC_VCPU_STATE_PUT) {
			q.u.put.vcpu = 0x2222;
			q.u.put.flags = VMSIM_RPC_PUT_RESUME;
			vmsim_charge(&q.u.put.state, r15, 15);
			vmsim_charge(&q.u.put.state, ldtr, (struct vmsim_segment){1, 2, 3, 4});
			memset(q.u.put.state.fpu.buffer, 0xab, 100);
			vmsim_charge_fpu(&q.u.put.state, 100);
		}
		assert_non_null(vmsim_rpc_op_name(op));
		vt_roundtrip_request(&q);
	}
	assert_null(vmsim_rpc_op_name(0));
	assert_null(vmsim_rpc_op_name(VMSIM_RPC_OP_END));
}

static void test_state_keeps_charged_flags(void **state)
{
	(void)state;
	static struct vmsim_rpc_request q, back;
	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_VCPU_STATE_PUT;
	vmsim_charge(&q.u.put.state, ax, 0xdead);
	q.u.put.state.bx.value = 0xbeef; /* a value travels even when it is not charged */
	vmsim_charge(&q.u.put.state, idtr, (struct vmsim_dtable){0xfff, 0x1000});
	q.u.put.state.exit_reason = 0x7b;
	size_t len;
	vmsim_charge(&q.u.put.state, cs, (struct vmsim_segment){0x08, 0xa09b, 0xffffffff, 0});
	assert_int_equal(vmsim_rpc_encode_request(&q, buf, sizeof buf, &len), VMSIM_OK);
	/* the wire as docs/rpc.md gives it: the charged bitmap (ax bit 0, cs bit 52 + 4, idtr bit 61), then the 52
	 * plain values (ax first, bx fourth), then the segments (cs fifth, 16 bytes each) */
	const uint8_t *state_at = buf + VMSIM_RPC_HEADER_SIZE + 12;
	static const uint8_t bitmap[8] = {0x01, 0, 0, 0, 0, 0, 0, 0x21};
	assert_memory_equal(state_at, bitmap, 8);
	static const uint8_t ax[8] = {0xad, 0xde}, bx[8] = {0xef, 0xbe};
	assert_memory_equal(state_at + 8, ax, 8);
	assert_memory_equal(state_at + 8 + 3 * 8, bx, 8);
	static const uint8_t cs[16] = {0x08, 0, 0x9b, 0xa0, 0xff, 0xff, 0xff, 0xff};
	assert_memory_equal(state_at + 8 + 52 * 8 + 4 * 16, cs, 16);
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_OK);
	assert_true(vmsim_charged(&back.u.put.state, ax));
	assert_int_equal(back.u.put.state.ax.value, 0xdead);
	assert_false(vmsim_charged(&back.u.put.state, bx));
	assert_int_equal(back.u.put.state.bx.value, 0xbeef);
	assert_true(vmsim_charged(&back.u.put.state, idtr));
	assert_int_equal(back.u.put.state.idtr.value.base, 0x1000);
	assert_false(vmsim_charged(&back.u.put.state, gdtr));
	assert_int_equal(back.u.put.state.exit_reason, 0x7b);
	assert_int_equal(vmsim_vcpu_state_charged_count(&back.u.put.state), 3);
}

static void test_malformed_requests_are_refused(void **state)
{
	(void)state;
	static struct vmsim_rpc_request q, back;
	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_DETACH;
	q.seq = 9;
	size_t len;
	assert_int_equal(vmsim_rpc_encode_request(&q, buf, sizeof buf, &len), VMSIM_OK);
	/* one byte short in the frame, and a frame that claims one byte less payload */
	assert_int_equal(vmsim_rpc_decode_request(buf, len - 1, &back), VMSIM_INVALID_ARGUMENT);
	buf[0]--;
	assert_int_equal(vmsim_rpc_decode_request(buf, len - 1, &back), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(back.op, VMSIM_RPC_DETACH); /* the header is still reported */
	assert_int_equal(back.seq, 9);
	buf[0]++;
	/* a trailing byte, announced in the length */
	buf[len] = 0;
	buf[0]++;
	assert_int_equal(vmsim_rpc_decode_request(buf, len + 1, &back), VMSIM_INVALID_ARGUMENT);
	buf[0]--;
	/* another version, an unknown opcode, the reply bit */
	buf[4] = 2;
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_UNSUPPORTED);
	buf[4] = 1;
	buf[6] = 0x63;
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_UNSUPPORTED);
	buf[6] = VMSIM_RPC_DETACH;
	buf[7] = 0x80;
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_UNSUPPORTED);
	buf[7] = 0;
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_OK);
	/* a header alone is too short for anything */
	assert_int_equal(vmsim_rpc_decode_request(buf, 11, &back), VMSIM_INVALID_ARGUMENT);
}

static void test_non_canonical_fields_are_refused(void **state)
{
	(void)state;
	static struct vmsim_rpc_request q, back;
	size_t len;
	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_ATTACH;
	assert_int_equal(vmsim_rpc_encode_request(&q, buf, sizeof buf, &len), VMSIM_OK);
	buf[len - 4] = 4; /* a flag bit nobody defined */
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_INVALID_ARGUMENT);

	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_VCPU_CREATE;
	q.u.vcpu_create.exit_config = 2;
	assert_int_equal(vmsim_rpc_encode_request(&q, buf, sizeof buf, &len), VMSIM_OK);
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_INVALID_ARGUMENT);

	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_VCPU_STATE_PUT;
	assert_int_equal(vmsim_rpc_encode_request(&q, buf, sizeof buf, &len), VMSIM_OK);
	buf[VMSIM_RPC_HEADER_SIZE + 12 + 7] = 0x80; /* bit 63 of the charged bitmap is reserved */
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_INVALID_ARGUMENT);
	buf[VMSIM_RPC_HEADER_SIZE + 12 + 7] = 0;
	buf[len - 2] = 0x01; /* FPU size 2561 */
	buf[len - 1] = 0x0a;
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_INVALID_ARGUMENT);

	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_SESSION_OPEN;
	memset(q.u.open.label, 'a', VMSIM_RPC_MAX_LABEL);
	assert_int_equal(vmsim_rpc_encode_request(&q, buf, sizeof buf, &len), VMSIM_OK);
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_OK);
	buf[VMSIM_RPC_HEADER_SIZE + 21] = 0; /* a NUL inside the label */
	assert_int_equal(vmsim_rpc_decode_request(buf, len, &back), VMSIM_INVALID_ARGUMENT);
	q.u.open.label[VMSIM_RPC_MAX_LABEL] = 'a'; /* one byte over: the encoder refuses too */
	assert_int_equal(vmsim_rpc_encode_request(&q, buf, sizeof buf, &len), VMSIM_INVALID_ARGUMENT);
}

static void test_frame_length_bounds(void **state)
{
	(void)state;
	uint8_t header[VMSIM_RPC_HEADER_SIZE] = {0x00, 0x10, 0, 0, 1, 0, 1, 0};
	size_t len = 0;
	assert_int_equal(vmsim_rpc_frame_length(header, sizeof header, &len), VMSIM_OK);
	assert_int_equal(len, VMSIM_RPC_MAX_FRAME);
	header[0] = 1; /* 4097 */
	assert_int_equal(vmsim_rpc_frame_length(header, sizeof header, &len), VMSIM_DENIED);
	header[3] = 0xff;
	assert_int_equal(vmsim_rpc_frame_length(header, sizeof header, &len), VMSIM_DENIED);
	assert_int_equal(vmsim_rpc_frame_length(header, 11, &len), VMSIM_INVALID_ARGUMENT);
}

static void test_replies_roundtrip_and_errors_carry_nothing(void **state)
{
	(void)state;
	static struct vmsim_rpc_reply p, back;
	size_t len;
	memset(&p, 0, sizeof p);
	p.op = VMSIM_RPC_ATTACH;
	p.seq = 3;
	p.u.range = (struct vmsim_range){0x1000, 0x2000};
	assert_int_equal(vmsim_rpc_encode_reply(&p, buf, sizeof buf, &len), VMSIM_OK);
	assert_int_equal(len, VMSIM_RPC_HEADER_SIZE + 4 + 16);
	assert_int_equal(buf[7], 0x80);
	assert_int_equal(vmsim_rpc_decode_reply(buf, len, &back), VMSIM_OK);
	assert_int_equal(back.u.range.num_bytes, 0x2000);

	p.result = VMSIM_REGION_CONFLICT;
	assert_int_equal(vmsim_rpc_encode_reply(&p, buf, sizeof buf, &len), VMSIM_OK);
	assert_int_equal(len, VMSIM_RPC_HEADER_SIZE + 4);
	assert_int_equal(vmsim_rpc_decode_reply(buf, len, &back), VMSIM_OK);
	assert_int_equal(back.result, VMSIM_REGION_CONFLICT);
	assert_int_equal(back.u.range.start, 0);

	buf[12] = VMSIM_RESULT_COUNT; /* a result outside the vocabulary */
	assert_int_equal(vmsim_rpc_decode_reply(buf, len, &back), VMSIM_INVALID_ARGUMENT);
	buf[12] = VMSIM_REGION_CONFLICT;
	buf[7] = 0; /* a request where a reply belongs */
	assert_int_equal(vmsim_rpc_decode_reply(buf, len, &back), VMSIM_INVALID_ARGUMENT);

	memset(&p, 0, sizeof p);
	p.op = VMSIM_RPC_VCPU_NATIVE;
	strcpy(p.u.native.backend, "kvm");
	p.u.native.fd = -1;
	p.u.native.has_engine = true;
	assert_int_equal(vmsim_rpc_encode_reply(&p, buf, sizeof buf, &len), VMSIM_OK);
	assert_int_equal(vmsim_rpc_decode_reply(buf, len, &back), VMSIM_OK);
	assert_string_equal(back.u.native.backend, "kvm");
	assert_int_equal(back.u.native.fd, -1);
	assert_true(back.u.native.has_engine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_frame_is_byte_exact),
		cmocka_unit_test(test_every_request_roundtrips),
		cmocka_unit_test(test_state_keeps_charged_flags),
		cmocka_unit_test(test_malformed_requests_are_refused),
		cmocka_unit_test(test_non_canonical_fields_are_refused),
		cmocka_unit_test(test_frame_length_bounds),
		cmocka_unit_test(test_replies_roundtrip_and_errors_carry_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
