/* bench/guests.c - the guest loop of each exit case: one exiting instruction and a jump back. */
#include "bench_internal.h"

static const uint8_t out_loop[] = { 0xee, 0xeb, 0xfd };             /* out dx, al; jmp */
static const uint8_t in_loop[] = { 0xec, 0xeb, 0xfd };              /* in al, dx; jmp */
static const uint8_t mmio_write_loop[] = { 0x89, 0x03, 0xeb, 0xfc }; /* mov [rbx], eax; jmp */
static const uint8_t mmio_read_loop[] = { 0x8b, 0x03, 0xeb, 0xfc };  /* mov eax, [rbx]; jmp */
static const uint8_t cpuid_loop[] = { 0x0f, 0xa2, 0xeb, 0xfc };      /* cpuid; jmp */
static const uint8_t hlt_loop[] = { 0xf4, 0xeb, 0xfd };             /* hlt; jmp */
static const uint8_t spin_loop[] = { 0x48, 0xff, 0xc0, 0xeb, 0xfb }; /* inc rax; jmp: no exits */
/*
 * xor edi, edi; mov ecx, 1024; then per iteration mov rax, [rdi + 0x4000] (or the store); add edi, 8;
 * and edi, 0xff8; dec ecx; jnz; and after the 1,024th: out dx, al; jmp to the top. One translated block per
 * iteration, so a per-block cost shows as well as a per-access one.
 */
#define WALK_LOOP(op) { 0x31, 0xff, 0xb9, 0x00, 0x04, 0x00, 0x00, 0x48, op, 0x87, 0x00, 0x40, 0x00, 0x00, 0x83, \
	                0xc7, 0x08, 0x81, 0xe7, 0xf8, 0x0f, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xec, 0xee, 0xeb, 0xe2 }
static const uint8_t loads_loop[] = WALK_LOOP(0x8b);
static const uint8_t stores_loop[] = WALK_LOOP(0x89);
_Static_assert(BENCH_DATA == 0x4000 && BENCH_GUEST_ITERATIONS == 0x400, "the loops encode both");
/*
 * 256 times lock inc dword [0x4000] (f0 ff 04 25 00 40 00 00), run once, then the io_out loop. A guest kernel
 * runs hundreds of distinct LOCKed instructions, IN/OUTs and CR accesses, and the Unicorn backend hooks each
 * one it has seen; this measures an OUT exit in such an engine rather than in one with two hooks.
 */
#define LOCK_INC 0xf0, 0xff, 0x04, 0x25, 0x00, 0x40, 0x00, 0x00
#define LOCK_INC4 LOCK_INC, LOCK_INC, LOCK_INC, LOCK_INC
#define LOCK_INC16 LOCK_INC4, LOCK_INC4, LOCK_INC4, LOCK_INC4
#define LOCK_INC64 LOCK_INC16, LOCK_INC16, LOCK_INC16, LOCK_INC16
static const uint8_t sites_out_loop[] = { LOCK_INC64, LOCK_INC64, LOCK_INC64, LOCK_INC64, 0xee, 0xeb, 0xfd };
_Static_assert(sizeof sites_out_loop == 256 * 8 + 3, "256 LOCKed instructions and the OUT loop");

#define G(name, code, len, base) { name, code, sizeof code, len, base }

static const struct bench_guest guests[BENCH_CASE_COUNT] = {
	[BENCH_IO_OUT] = G("io_out", out_loop, 1, "raw UC_HOOK_INSN(OUT), value from the hook"),
	[BENCH_IO_IN] = G("io_in", in_loop, 1, "raw UC_HOOK_INSN(IN) returning the value"),
	[BENCH_MMIO_WRITE] = G("mmio_write", mmio_write_loop, 2, "raw uc_mmio_map write callback"),
	[BENCH_MMIO_READ] = G("mmio_read", mmio_read_loop, 2, "raw uc_mmio_map read callback"),
	[BENCH_CPUID] = G("cpuid", cpuid_loop, 2, "raw UC_HOOK_INSN(CPUID) writing eax..edx"),
	[BENCH_HLT] = G("hlt_resume", hlt_loop, 1, "raw uc_emu_start returning at HLT, restarted"),
	[BENCH_PAUSE] = G("pause_latency", spin_loop, 0, "raw uc_emu_stop from another thread"),
	[BENCH_IO_OUT_EP] = G("io_out_entrypoint", out_loop, 1, "raw UC_HOOK_INSN(OUT)"),
	[BENCH_IO_OUT_PM32] = G("io_out_pm32", out_loop, 1, "raw UC_HOOK_INSN(OUT), the 64-bit io_out loop"),
	[BENCH_IO_OUT_PM32_PAGED] = G("io_out_pm32_paged", out_loop, 1, "raw UC_HOOK_INSN(OUT), the 64-bit io_out loop"),
	[BENCH_GUEST_LOADS] = G("guest_loads", loads_loop, 1, "raw UC_HOOK_INSN(OUT), the same loop: 1,024 loads per exit"),
	[BENCH_GUEST_STORES] = G("guest_stores", stores_loop, 1, "raw UC_HOOK_INSN(OUT), the same loop: 1,024 stores per exit"),
	[BENCH_IO_OUT_SITES] = G("io_out_256_sites", sites_out_loop, 1, "raw UC_HOOK_INSN(OUT), the same guest (its 256 LOCKed instructions unhooked)"),
	[BENCH_IO_OUT_FULL] = G("io_out_full_state", out_loop, 1, "raw UC_HOOK_INSN(OUT) + one uc_reg_read_batch of GPRs, segments, tables, CRs, FPU, XMM"),
};

const struct bench_guest *vmsim_bench_guest(enum bench_case c)
{
	return (unsigned)c < BENCH_CASE_COUNT ? &guests[c] : NULL;
}
