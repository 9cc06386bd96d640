/* vmsim/result.h - the one result vocabulary of every fallible vmsim call. */
#ifndef VMSIM_API_RESULT_H
#define VMSIM_API_RESULT_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VMSIM_MUST_CHECK __attribute__((warn_unused_result))
#else
#define VMSIM_MUST_CHECK
#endif

/*
 * Genode's Attach_error/Alloc_error/Session_error vocabulary first, then what a
 * C library needs on top. Values are stable: they travel over the RPC wire.
 */
#define VMSIM_RESULT_LIST(X)                                                         \
	X(OK, 0, "success")                                                            \
	X(OUT_OF_RAM, 1, "RAM quota exhausted")                                       \
	X(OUT_OF_CAPS, 2, "capability quota exhausted")                               \
	X(REGION_CONFLICT, 3, "guest-physical range overlaps an existing region")     \
	X(INVALID_DATASPACE, 4, "invalid, misaligned or out-of-range dataspace")      \
	X(DENIED, 5, "operation denied")                                              \
	X(INSUFFICIENT_RAM, 6, "donated RAM quota does not cover the session cost")   \
	X(INSUFFICIENT_CAPS, 7, "donated cap quota does not cover the session cost")  \
	X(INVALID_ARGUMENT, 8, "invalid argument")                                    \
	X(INVALID_CAP, 9, "stale, foreign or forged capability")                      \
	X(UNSUPPORTED, 10, "not supported by this backend or model")                  \
	X(BACKEND_ERROR, 11, "the CPU backend failed")

enum vmsim_result {
#define VMSIM_RESULT_ENUM_(name, value, text) VMSIM_##name = value,
	VMSIM_RESULT_LIST(VMSIM_RESULT_ENUM_)
#undef VMSIM_RESULT_ENUM_
	VMSIM_RESULT_COUNT
};

/* The enum's name without prefix ("OUT_OF_RAM"); "UNKNOWN_RESULT" for values outside the enum. */
const char *vmsim_result_name(enum vmsim_result result);
/* A one-line English description of the result, never NULL. */
const char *vmsim_result_text(enum vmsim_result result);

#ifdef __cplusplus
}
#endif
#endif
