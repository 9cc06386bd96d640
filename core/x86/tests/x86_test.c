/* core/x86/tests/x86_test.c - vmsim/x86.h: port-I/O decoding, code size and page walks with literal values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vmsim/x86.h>

/* ---- decode (SDM Vol. 2A 2.1.1; "IN", "INS"; Vol. 2B "OUT", "OUTS") ---- */

static void decode_in_out(void **state)
{
	(void)state;
	struct vmsim_x86_io d;
	static const uint8_t out_imm[] = { 0xe6, 0x80 }, out_dx16[] = { 0x66, 0xef }, in_dx[] = { 0xed };

	assert_true(vmsim_x86_decode_io(out_imm, 2, 16, &d));
	assert_int_equal(d.len, 2);
	assert_int_equal(d.size, 1);
	assert_false(d.in);
	assert_true(d.imm);
	assert_int_equal(d.port, 0x80);
	assert_false(d.string);
	/* 66 in 32-bit code: a 16-bit operand */
	assert_true(vmsim_x86_decode_io(out_dx16, 2, 32, &d));
	assert_int_equal(d.len, 2);
	assert_int_equal(d.size, 2);
	assert_false(d.imm);
	/* ED: operand size follows the code size; 16-bit code without 66 is 2 bytes, 64-bit code 4 */
	assert_true(vmsim_x86_decode_io(in_dx, 1, 16, &d));
	assert_int_equal(d.size, 2);
	assert_true(d.in);
	assert_true(vmsim_x86_decode_io(in_dx, 1, 64, &d));
	assert_int_equal(d.size, 4);
	assert_int_equal(d.len, 1);
}

static void decode_string(void **state)
{
	(void)state;
	struct vmsim_x86_io d;
	static const uint8_t rep_outsw_fs[] = { 0xf3, 0x64, 0x66, 0x6f };
	static const uint8_t rep_insb_a32[] = { 0x67, 0xf3, 0x2e, 0x6c };
	static const uint8_t rex_outsb[] = { 0x48, 0x6e };

	assert_true(vmsim_x86_decode_io(rep_outsw_fs, 4, 32, &d));
	assert_int_equal(d.len, 4);
	assert_true(d.string);
	assert_true(d.rep);
	assert_int_equal(d.size, 2);
	assert_int_equal(d.seg, 4); /* FS override on the OUTS source */
	assert_int_equal(d.addr_size, 4);
	/* INS stores through ES whatever the override; 67 in 16-bit code: 32-bit addresses */
	assert_true(vmsim_x86_decode_io(rep_insb_a32, 4, 16, &d));
	assert_true(d.in);
	assert_int_equal(d.seg, 0);
	assert_int_equal(d.addr_size, 4);
	assert_int_equal(d.size, 1);
	/* REX is skipped in 64-bit code only */
	assert_true(vmsim_x86_decode_io(rex_outsb, 2, 64, &d));
	assert_int_equal(d.len, 2);
	assert_int_equal(d.addr_size, 8);
	assert_false(vmsim_x86_decode_io(rex_outsb, 2, 32, &d)); /* 48 is DEC EAX there */
}

static void decode_rejects(void **state)
{
	(void)state;
	struct vmsim_x86_io d;
	static const uint8_t nop[] = { 0x90 }, cut_imm[] = { 0xe4 }, only_prefixes[] = { 0x66, 0x66 };
	uint8_t fifteen[16];

	assert_false(vmsim_x86_decode_io(nop, 1, 32, &d));
	assert_false(vmsim_x86_decode_io(cut_imm, 1, 32, &d));
	assert_false(vmsim_x86_decode_io(only_prefixes, 2, 32, &d));
	/* an instruction is at most 15 bytes (SDM Vol. 2A 2.3.11): 15 prefixes leave no room for the opcode */
	memset(fifteen, 0x66, sizeof fifteen);
	fifteen[15] = 0xee;
	assert_false(vmsim_x86_decode_io(fifteen, 16, 32, &d));
	assert_true(vmsim_x86_decode_io(fifteen + 2, 14, 32, &d));
	assert_int_equal(d.len, 14);
}

/* What KVM left behind when it retired the OUT before the exit (PVM): find it by its end. */
static void io_ending_at(void **state)
{
	(void)state;
	struct vmsim_x86_io d;
	/* mov al, 0x41; out 0x80, al */
	static const uint8_t out_imm[] = { 0xb0, 0x41, 0xe6, 0x80 };
	/* mov dx, 0x66ee (its last byte looks like a prefix); out dx, al */
	static const uint8_t out_dx[] = { 0xba, 0xee, 0x66, 0xee };
	/* nop; rep outsw (16-bit code: 66 makes it 32-bit) */
	static const uint8_t rep_outsd[] = { 0x90, 0xf3, 0x66, 0x6f };

	assert_int_equal(vmsim_x86_io_ending_at(out_imm, 4, 16, false, 1, 0x80, 0, &d), 2);
	assert_true(d.imm);
	/* the wrong port: no OUT ends there */
	assert_int_equal(vmsim_x86_io_ending_at(out_imm, 4, 16, false, 1, 0x81, 0, &d), 0);
	/* the wrong size: none either */
	assert_int_equal(vmsim_x86_io_ending_at(out_imm, 4, 16, false, 2, 0x80, 0, &d), 0);
	/* DX form: the 66 before EE must not be taken as its prefix */
	assert_int_equal(vmsim_x86_io_ending_at(out_dx, 4, 16, false, 1, 0x3f8, 0x3f8, &d), 1);
	assert_int_equal(vmsim_x86_io_ending_at(out_dx, 4, 16, false, 1, 0x3f8, 0x3f9, &d), 0);
	/* a string instruction keeps its prefixes */
	assert_int_equal(vmsim_x86_io_ending_at(rep_outsd, 4, 16, false, 4, 0x80, 0x80, &d), 3);
	assert_true(d.rep);
	assert_true(d.string);
	/* the direction must match */
	assert_int_equal(vmsim_x86_io_ending_at(rep_outsd, 4, 16, true, 4, 0x80, 0x80, &d), 0);
}

/* SDM Vol. 3A 3.4.5 (CS.D/L), 5.2.1 (IA-32e modes), 20.1 (real mode) */
static void code_bits(void **state)
{
	(void)state;
	assert_int_equal(vmsim_x86_code_bits(0x10, 0, false, false), 16);
	assert_int_equal(vmsim_x86_code_bits(0x10, 0x500, true, false), 16); /* PE clear: real mode, whatever CS says */
	assert_int_equal(vmsim_x86_code_bits(0x11, 0, false, true), 32);
	assert_int_equal(vmsim_x86_code_bits(0x11, 0, false, false), 16);
	assert_int_equal(vmsim_x86_code_bits(0x80000011, 0x500, true, false), 64);
	assert_int_equal(vmsim_x86_code_bits(0x80000011, 0x500, false, true), 32); /* compatibility mode */
	assert_int_equal(vmsim_x86_code_bits(0x11, 0x100, true, false), 16);         /* LME without LMA: no 64 */
}

/* ---- page walks (SDM Vol. 3A 4.3 32-bit, 4.4 PAE, 4.5 4-level; 4.6 rights; 4.7 #PF error code) ---- */

enum { MEM = 0x400000 };
struct phys {
	uint8_t bytes[MEM];
};

static bool read_phys(void *ctx, uint64_t gpa, void *dst, size_t len)
{
	struct phys *p = ctx;
	if (gpa >= MEM || len > MEM - gpa)
		return false;
	memcpy(dst, p->bytes + gpa, len);
	return true;
}

static void put32(struct phys *p, uint64_t at, uint32_t v) { memcpy(p->bytes + at, &v, 4); }
static void put64(struct phys *p, uint64_t at, uint64_t v) { memcpy(p->bytes + at, &v, 8); }

static int phys_new(void **state)
{
	*state = test_calloc(1, sizeof(struct phys));
	return *state ? 0 : -1;
}

static int phys_free(void **state)
{
	test_free(*state);
	return 0;
}

#define PG 0x80000000ull
#define PE 1ull
#define WP 0x10000ull

static void walk_unpaged(void **state)
{
	(void)state;
	uint64_t gpa;
	uint32_t ec;

	assert_int_equal(vmsim_x86_walk(PE, 0, 0, 0, 0x1234fffffull, 0, read_phys, NULL, &gpa, &ec), VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0x234fffffull); /* 32-bit linear addresses without paging */
	assert_int_equal(vmsim_x86_walk(0, 0, 0, 0, 0xffff0, 0, read_phys, NULL, &gpa, &ec), VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0xffff0);
}

static void walk_32bit(void **state)
{
	struct phys *p = *state;
	uint64_t gpa;
	uint32_t ec;

	/* CR3 0x1000; PDE 0 -> PT 0x2000; PTE 5 -> 0x345000 (RW, user); PDE 1 a 4 MiB page at 0x00c00000 with PSE-36 bits */
	put32(p, 0x1000, 0x2000 | 7);
	put32(p, 0x2000 + 5 * 4, 0x345000 | 7);
	put32(p, 0x2000 + 6 * 4, 0x346000 | 5); /* read-only */
	put32(p, 0x1004, 0x00c00000 | (0x3u << 13) | 0x83);
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1000, 0, 0, 0x5abc, 0, read_phys, p, &gpa, &ec), VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0x345abc);
	/* without CR4.PSE the PS bit is ignored: PDE 1 is a page table at 0xc00000 (outside memory) */
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1000, 0, 0, 0x400123, 0, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_UNREADABLE);
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1000, 0x10, 0, 0x512345, 0, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0x300d12345ull); /* 4 MiB page: PSE-36 bits 14:13 = 3 -> bits 33:32 */
	/* write to a read-only page: faults for supervisor only with CR0.WP; user always */
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1000, 0, 0, 0x6000, VMSIM_X86_WRITE, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(vmsim_x86_walk(PG | PE | WP, 0x1000, 0, 0, 0x6000, VMSIM_X86_WRITE, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_FAULT);
	assert_int_equal(ec, 0x3); /* P | W */
	/* not present: P clear in the error code */
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1000, 0, 0, 0x7000, VMSIM_X86_WRITE | VMSIM_X86_USER, read_phys, p,
	                                &gpa, &ec),
	                 VMSIM_X86_WALK_FAULT);
	assert_int_equal(ec, 0x6);
}

#define PAE 0x20ull
#define LMA_LME 0x500ull
#define NXE 0x800ull

static void walk_pae(void **state)
{
	struct phys *p = *state;
	uint64_t gpa;
	uint32_t ec;

	/* CR3 0x1020 (32-byte aligned PDPT); PDPTE 1 -> PD 0x3000; PDE 0 -> 2 MiB page 0x200000 NX; PDE 1 -> PT 0x4000 */
	put64(p, 0x1020 + 8, 0x3000 | 1);
	put64(p, 0x3000, 0x200000 | 0x83 | (1ull << 63));
	put64(p, 0x3008, 0x4000 | 3);
	put64(p, 0x4000 + 0x1ff * 8, 0x3ff000 | 3);
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1020, PAE, NXE, 0x40012345, 0, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0x212345);
	/* NX with EFER.NXE: a fetch faults with I/D set */
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1020, PAE, NXE, 0x40012345, VMSIM_X86_FETCH, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_FAULT);
	assert_int_equal(ec, 0x11);
	/* without NXE bit 63 is not XD: the fetch goes through */
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1020, PAE, 0, 0x40012345, VMSIM_X86_FETCH, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1020, PAE, 0, 0x403ffabc, 0, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0x3ffabc);
	/* PDPTE 0 not present */
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1020, PAE, 0, 0x1000, 0, read_phys, p, &gpa, &ec), VMSIM_X86_WALK_FAULT);
	assert_int_equal(ec, 0);
	/* user access to a supervisor page (U/S clear in the PD entry) */
	assert_int_equal(vmsim_x86_walk(PG | PE, 0x1020, PAE, 0, 0x403ffabc, VMSIM_X86_USER, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_FAULT);
	assert_int_equal(ec, 0x5);
}

static void walk_4level(void **state)
{
	struct phys *p = *state;
	uint64_t gpa;
	uint32_t ec;

	/* PML4 0x1000: entry 0 -> PDPT 0x2000; entry 0x1ff -> PDPT 0x5000
	 * PDPT 0x2000: entry 0 -> PD 0x3000; entry 1 a 1 GiB page at 0x80000000
	 * PD 0x3000: entry 0 -> PT 0x4000; entry 1 a 2 MiB page at 0x200000; PT entry 3 -> 0x123000 */
	put64(p, 0x1000, 0x2000 | 7);
	put64(p, 0x1000 + 0x1ff * 8, 0x5000 | 3);
	put64(p, 0x2000, 0x3000 | 7);
	put64(p, 0x2008, 0x80000000ull | 0x87);
	put64(p, 0x3000, 0x4000 | 7);
	put64(p, 0x3008, 0x200000 | 0x87);
	put64(p, 0x4000 + 3 * 8, 0x123000 | 7);
	put64(p, 0x5000 + 0x1ff * 8, 0x6000 | 3);
	put64(p, 0x6000 + 0x1ff * 8, 0x7000 | 3);
	put64(p, 0x7000 + 0x1ff * 8, 0x9000 | 3);
	uint64_t cr0 = PG | PE | WP;
	assert_int_equal(vmsim_x86_walk(cr0, 0x1000, PAE, LMA_LME, 0x3456, 0, read_phys, p, &gpa, &ec), VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0x123456);
	assert_int_equal(vmsim_x86_walk(cr0, 0x1000, PAE, LMA_LME, 0x2abcde, 0, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0x2abcde);
	assert_int_equal(vmsim_x86_walk(cr0, 0x1000, PAE, LMA_LME, 0x7fedcba9, 0, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0xbfedcba9ull); /* 1 GiB page */
	/* the top of the canonical upper half: PML4 0x1ff, PDPT 0x1ff, PD 0x1ff, PT 0x1ff */
	assert_int_equal(vmsim_x86_walk(cr0, 0x1000, PAE, LMA_LME, 0xfffffffffffff010ull, 0, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(gpa, 0x9010);
	/* a user access through the supervisor-only upper half faults with P|U */
	assert_int_equal(vmsim_x86_walk(cr0, 0x1000, PAE, LMA_LME, 0xfffffffffffff010ull, VMSIM_X86_USER, read_phys, p,
	                                &gpa, &ec),
	                 VMSIM_X86_WALK_FAULT);
	assert_int_equal(ec, 0x5);
	/* PT entry 4 absent: a write fault without P */
	assert_int_equal(vmsim_x86_walk(cr0, 0x1000, PAE, LMA_LME, 0x4000, VMSIM_X86_WRITE, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_FAULT);
	assert_int_equal(ec, 0x2);
	/* a table outside readable memory */
	put64(p, 0x3010, 0x7ff000 | 7);
	assert_int_equal(vmsim_x86_walk(cr0, 0x1000, PAE, LMA_LME, 0x400000, 0, read_phys, p, &gpa, &ec),
	                 VMSIM_X86_WALK_UNREADABLE);
}

static bool write_phys(void *ctx, uint64_t gpa, const void *src, size_t len)
{
	struct phys *p = ctx;
	if (gpa >= MEM || len > MEM - gpa)
		return false;
	memcpy(p->bytes + gpa, src, len);
	return true;
}

static uint64_t get64(struct phys *p, uint64_t at) { uint64_t v; memcpy(&v, p->bytes + at, 8); return v; }

/* A and D as hardware writes them (SDM Vol. 3A 4.8): A in every entry used, D in the leaf on a write only,
 * nothing on a fault; PAE PDPTEs have no A; the walk reports the leaf and the entries it read. */
static void walk_accessed_dirty(void **state)
{
	struct phys *p = *state;
	struct vmsim_x86_walk_info info;
	uint32_t ec;
	uint64_t cr0 = PG | PE | WP;

	put64(p, 0x1000, 0x2000 | 7);
	put64(p, 0x2000, 0x3000 | 7);
	put64(p, 0x3000, 0x4000 | 7);
	put64(p, 0x3008, 0x200000 | 0x83); /* 2 MiB, supervisor */
	put64(p, 0x4000 + 3 * 8, 0x123000 | 7);
	put64(p, 0x4000 + 4 * 8, 0x124000 | 5); /* read-only */
	/* a read sets A everywhere, not D */
	assert_int_equal(vmsim_x86_walk_ad(cr0, 0x1000, PAE, LMA_LME, 0x3456, 0, read_phys, write_phys, p, &info, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(info.gpa, 0x123456);
	assert_int_equal(info.page_size, 4096);
	assert_int_equal(info.entries, 4);
	assert_int_equal(info.entry_gpa[0], 0x1000);
	assert_int_equal(info.entry_gpa[3], 0x4018);
	assert_true(info.writable && info.user && info.accessed && !info.dirty);
	assert_int_equal(get64(p, 0x1000), 0x2000 | 0x27);
	assert_int_equal(get64(p, 0x3000), 0x4000 | 0x27);
	assert_int_equal(get64(p, 0x4018), 0x123000 | 0x27);
	/* a write sets D in the leaf only */
	assert_int_equal(vmsim_x86_walk_ad(cr0, 0x1000, PAE, LMA_LME, 0x3456, VMSIM_X86_WRITE, read_phys, write_phys, p,
	                                   &info, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_true(info.dirty);
	assert_int_equal(get64(p, 0x4018), 0x123000 | 0x67);
	assert_int_equal(get64(p, 0x3000), 0x4000 | 0x27);
	/* a write to the read-only page faults (P|W) and sets nothing in its PTE */
	assert_int_equal(vmsim_x86_walk_ad(cr0, 0x1000, PAE, LMA_LME, 0x4000, VMSIM_X86_WRITE, read_phys, write_phys, p,
	                                   &info, &ec),
	                 VMSIM_X86_WALK_FAULT);
	assert_int_equal(ec, 0x3);
	assert_int_equal(get64(p, 0x4020), 0x124000 | 5);
	/* 2 MiB leaf: its size and supervisor-only rights */
	assert_int_equal(vmsim_x86_walk_ad(cr0, 0x1000, PAE, LMA_LME, 0x2abcde, 0, read_phys, write_phys, p, &info, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(info.page_size, 0x200000);
	assert_false(info.user);
	assert_int_equal(get64(p, 0x3008), 0x200000 | 0xa3);
	/* PAE: the PDPTE keeps its bits, the PDE gets A */
	put64(p, 0x5000, 0x6000 | 1);
	put64(p, 0x6000, 0x7000 | 7);
	put64(p, 0x7000 + 8, 0x9000 | 7);
	assert_int_equal(vmsim_x86_walk_ad(cr0, 0x5000, PAE, 0, 0x1234, 0, read_phys, write_phys, p, &info, &ec),
	                 VMSIM_X86_WALK_OK);
	assert_int_equal(info.gpa, 0x9234);
	assert_int_equal(get64(p, 0x5000), 0x6000 | 1);
	assert_int_equal(get64(p, 0x6000), 0x7000 | 0x27);
	/* an entry outside readable memory: its address is reported */
	put64(p, 0x3010, 0x7ff000 | 7);
	assert_int_equal(vmsim_x86_walk_ad(cr0, 0x1000, PAE, LMA_LME, 0x400000, 0, read_phys, write_phys, p, &info, &ec),
	                 VMSIM_X86_WALK_UNREADABLE);
	assert_int_equal(info.fault_gpa, 0x7ff000);
}

/* The state MSRs: architectural indices (SDM Vol. 4 2.1), each in its group, each field a distinct uint64_t. */
static void state_msrs(void **state)
{
	(void)state;
	size_t n;
	const struct vmsim_x86_state_msr *m = vmsim_x86_state_msrs(&n);

	assert_int_equal(n, 9);
	assert_int_equal(m[0].index, 0x174);
	assert_int_equal(m[0].offset, offsetof(struct vmsim_cpu_state, sysenter_cs));
	assert_int_equal(m[0].group, VMSIM_GROUP_SYSENTER);
	assert_int_equal(m[3].index, 0xc0000081);
	assert_int_equal(m[3].offset, offsetof(struct vmsim_cpu_state, star));
	assert_int_equal(m[7].index, 0xc0000102);
	assert_int_equal(m[7].offset, offsetof(struct vmsim_cpu_state, kernel_gs_base));
	assert_int_equal(m[8].index, 0xc0000103);
	assert_int_equal(m[8].group, VMSIM_GROUP_TSC);
	assert_int_equal(m[8].offset, offsetof(struct vmsim_cpu_state, tsc_aux));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_in_out),
		cmocka_unit_test(decode_string),
		cmocka_unit_test(decode_rejects),
		cmocka_unit_test(io_ending_at),
		cmocka_unit_test(state_msrs),
		cmocka_unit_test(code_bits),
		cmocka_unit_test(walk_unpaged),
		cmocka_unit_test_setup_teardown(walk_32bit, phys_new, phys_free),
		cmocka_unit_test_setup_teardown(walk_pae, phys_new, phys_free),
		cmocka_unit_test_setup_teardown(walk_4level, phys_new, phys_free),
		cmocka_unit_test_setup_teardown(walk_accessed_dirty, phys_new, phys_free),
	};
	return cmocka_run_group_tests_name("x86", tests, NULL, NULL);
}
