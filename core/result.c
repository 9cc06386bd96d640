/* core/result.c - names and texts of results, exit kinds and backend capabilities, from their X-macros. */
#include <vmsim/vmsim.h>

const char *vmsim_result_name(enum vmsim_result result)
{
	switch (result) {
#define NAME_CASE_(name, value, text) case VMSIM_##name: return #name;
	VMSIM_RESULT_LIST(NAME_CASE_)
#undef NAME_CASE_
	default:
		return "UNKNOWN_RESULT";
	}
}

const char *vmsim_result_text(enum vmsim_result result)
{
	switch (result) {
#define TEXT_CASE_(name, value, text) case VMSIM_##name: return text;
	VMSIM_RESULT_LIST(TEXT_CASE_)
#undef TEXT_CASE_
	default:
		return "unknown result";
	}
}

const char *vmsim_exit_kind_name(enum vmsim_exit_kind kind)
{
	switch (kind) {
#define KIND_CASE_(name, text) case VMSIM_EXIT_##name: return text;
	VMSIM_EXIT_KIND_LIST(KIND_CASE_)
#undef KIND_CASE_
	default:
		return "unknown";
	}
}

const char *vmsim_backend_cap_name(uint64_t cap)
{
	switch (cap) {
#define CAP_NAME_CASE_(name, bit, text) case UINT64_C(1) << (bit): return #name;
	VMSIM_BACKEND_CAP_LIST(CAP_NAME_CASE_)
	VMSIM_BACKEND_CAP_LIST_WIDE(CAP_NAME_CASE_)
#undef CAP_NAME_CASE_
	default:
		return NULL;
	}
}

const char *vmsim_backend_cap_text(uint64_t cap)
{
	switch (cap) {
#define CAP_TEXT_CASE_(name, bit, text) case UINT64_C(1) << (bit): return text;
	VMSIM_BACKEND_CAP_LIST(CAP_TEXT_CASE_)
	VMSIM_BACKEND_CAP_LIST_WIDE(CAP_TEXT_CASE_)
#undef CAP_TEXT_CASE_
	default:
		return NULL;
	}
}
