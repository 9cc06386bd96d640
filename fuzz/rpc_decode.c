/* fuzz/rpc_decode.c - arbitrary bytes into the RPC decoders: never a crash, and whatever decodes re-encodes exactly. */
#include <string.h>

#include <vmsim/rpc.h>

#include "fuzz_target.h"

/*
 * Strictness made checkable: the decoders accept only canonical frames, so
 * encode(decode(x)) must give back x byte for byte, for requests and replies.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmsim_rpc_request q;
	static struct vmsim_rpc_reply p;
	static uint8_t again[VMSIM_RPC_MAX_FRAME];
	size_t len = 0, frame_len = 0;

	enum vmsim_result framing = vmsim_rpc_frame_length(data, size, &frame_len);
	FUZZ_CHECK(framing == VMSIM_OK || framing == VMSIM_DENIED || framing == VMSIM_INVALID_ARGUMENT);
	FUZZ_CHECK(framing != VMSIM_OK || frame_len <= VMSIM_RPC_MAX_FRAME);

	enum vmsim_result r = vmsim_rpc_decode_request(data, size, &q);
	FUZZ_CHECK((unsigned)r < VMSIM_RESULT_COUNT);
	if (r == VMSIM_OK) {
		FUZZ_CHECK(framing == VMSIM_OK && frame_len == size);
		FUZZ_CHECK(vmsim_rpc_op_name(q.op) != NULL);
		FUZZ_CHECK(vmsim_rpc_encode_request(&q, again, sizeof again, &len) == VMSIM_OK);
		FUZZ_CHECK(len == size && memcmp(again, data, size) == 0);
	}

	r = vmsim_rpc_decode_reply(data, size, &p);
	FUZZ_CHECK((unsigned)r < VMSIM_RESULT_COUNT);
	if (r == VMSIM_OK) {
		FUZZ_CHECK(framing == VMSIM_OK && frame_len == size);
		FUZZ_CHECK(vmsim_rpc_encode_reply(&p, again, sizeof again, &len) == VMSIM_OK);
		FUZZ_CHECK(len == size && memcmp(again, data, size) == 0);
	}
	return 0;
}
