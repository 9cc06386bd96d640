/* tools/vmsim/run_vmm_boot.c - booting the default VMM's guest: RAM, ROM and image, the session, the start state per mode. */
#include <inttypes.h>
#include <string.h>

#include "run_vmm_internal.h"

enum {
	LINUX_ZERO_PAGE = 0x7000, /* boot_params, ESI at entry */
	LINUX_CMDLINE = 0x20000,
	LINUX_KERNEL = 0x100000,  /* the protected-mode kernel (code32_start) */
	LINUX_HDR = 0x1f1,        /* the setup header, in the image and in boot_params */
	LINUX_MIN_VERSION = 0x20a /* 2.10: init_size, pref_address */
};

/* ---- the vCPU's start state per mode ------------------------------------------------------ */

static uint64_t gdt_gpa(const struct vmm *vmm)
{
	return vmm->cfg->mem - PAGE;
}

static uint64_t pml4_gpa(const struct vmm *vmm)
{
	return vmm->cfg->mem - TABLE_PAGES * PAGE;
}

/* Identity-map the first 4 GiB with 2 MiB pages, and a flat GDT, at the top of RAM. */
static void build_tables(struct vmm *vmm)
{
	uint64_t *gdt = (uint64_t *)vmm_guest_ptr(vmm, gdt_gpa(vmm), PAGE);
	gdt[0] = 0;
	gdt[1] = vmm->cfg->mode == RUN_MODE_LONG ? 0x00af9a000000ffffull : 0x00cf9a000000ffffull; /* code */
	gdt[2] = 0x00cf92000000ffffull; /* data */
	if (vmm->cfg->mode != RUN_MODE_LONG)
		return;
	uint64_t pml4 = pml4_gpa(vmm), pdpt = pml4 + PAGE, pd = pdpt + PAGE;
	uint64_t *p = (uint64_t *)vmm_guest_ptr(vmm, pml4, 6 * PAGE);
	memset(p, 0, 6 * PAGE);
	p[0] = pdpt | 3;
	for (unsigned i = 0; i < 4; i++)
		p[512 + i] = (pd + i * PAGE) | 3;
	for (unsigned i = 0; i < 4 * 512; i++)
		p[1024 + i] = ((uint64_t)i << 21) | 0x83; /* present, writeable, 2 MiB */
}

/* CS, and the one data segment every other segment register holds. */
static void charge_segments(struct vmsim_vcpu_state *st, struct vmsim_segment code, struct vmsim_segment data)
{
	vmsim_charge(st, cs, code);
	vmsim_charge(st, ds, data);
	vmsim_charge(st, es, data);
	vmsim_charge(st, ss, data);
	vmsim_charge(st, fs, data);
	vmsim_charge(st, gs, data);
}

void vmm_start_state(struct vmm *vmm, struct vmsim_vcpu_state *st)
{
	const struct run_config *cfg = vmm->cfg;
	enum vmsim_model model = vmsim_session_model(vmm->session);
	uint32_t intercepts = VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_RDTSCP | VMSIM_INTERCEPT_UNRESTRICTED_GUEST;
	uint64_t primary = 0, secondary = 0;
	vmsim_model_encode_controls(model, intercepts, &primary, &secondary);
	vmsim_charge(st, ctrl_primary, primary);
	vmsim_charge(st, ctrl_secondary, secondary);
	vmsim_charge(st, flags, 2);
	vmsim_charge(st, tr, (struct vmsim_segment){ 0, 0x8b, 0xffff, 0 });
	vmsim_charge(st, ldtr, (struct vmsim_segment){ 0, 0x1000, 0xffff, 0 });

	if (cfg->bios || cfg->mode == RUN_MODE_REAL) {
		struct vmsim_segment data = { 0, 0x93, 0xffff, 0 };
		struct vmsim_segment code = { 0xf000, 0x9b, 0xffff, 0xffff0000 }; /* the x86 reset state */
		uint64_t ip = 0xfff0;
		if (!cfg->bios) {
			code = (struct vmsim_segment){ (uint16_t)((cfg->entry & ~0xffffull) >> 4), 0x9b, 0xffff,
				                       cfg->entry & ~0xffffull };
			ip = cfg->entry & 0xffff;
		}
		vmsim_charge(st, cr0, 0x10);
		vmsim_charge(st, ip, ip);
		charge_segments(st, code, data);
		vmsim_charge(st, gdtr, (struct vmsim_dtable){ 0xffff, 0 });
		vmsim_charge(st, idtr, (struct vmsim_dtable){ 0x3ff, 0 });
		vmsim_charge(st, sp, 0x7000);
		return;
	}
	bool lm = cfg->mode == RUN_MODE_LONG;
	struct vmsim_segment code = { 0x08, lm ? 0xa9b : 0xc9b, 0xffffffff, 0 };
	struct vmsim_segment data = { 0x10, 0xc93, 0xffffffff, 0 };
	charge_segments(st, code, data);
	vmsim_charge(st, gdtr, (struct vmsim_dtable){ 3 * 8 - 1, gdt_gpa(vmm) });
	vmsim_charge(st, idtr, (struct vmsim_dtable){ 0, 0 });
	vmsim_charge(st, cr0, lm ? 0x80000011 : 0x11);
	vmsim_charge(st, cr3, lm ? pml4_gpa(vmm) : 0);
	vmsim_charge(st, cr4, lm ? 0x20 : 0);
	vmsim_charge(st, efer, lm ? 0x500 : 0);
	vmsim_charge(st, ip, cfg->entry);
	vmsim_charge(st, sp, pml4_gpa(vmm) & ~0xfull);
	if (cfg->linux_boot)
		vmsim_charge(st, si, LINUX_ZERO_PAGE); /* boot_params, as the 32-bit boot protocol hands it over */
}

/* ---- Linux's 32-bit boot protocol (Documentation/arch/x86/boot.rst) ------------------------------------------- */


static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void e820_entry(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t *e = zp + 0x2d0 + 20 * zp[0x1e8]++;
	put32(e, (uint32_t)addr);
	put32(e + 4, (uint32_t)(addr >> 32));
	put32(e + 8, (uint32_t)size);
	put32(e + 12, (uint32_t)(size >> 32));
	put32(e + 16, type);
}

/* A bzImage: the setup header checked, the protected-mode kernel at 1 MiB, the zero page with the setup header,
 * an e820 map (RAM below 640 KiB and from 1 MiB up to the VMM's tables) and the command line. */
static int load_linux(struct vmm *vmm, const uint8_t *image, uint64_t image_size)
{
	const struct run_config *cfg = vmm->cfg;
	if (image_size < 0x264 || image[0x1fe] != 0x55 || image[0x1ff] != 0xaa || memcmp(image + 0x202, "HdrS", 4)) {
		fprintf(cfg->err, "vmsim run: --linux: the image is not a bzImage (no boot signature or \"HdrS\")\n");
		return RUN_STATUS_USAGE;
	}
	unsigned version = image[0x206] | image[0x207] << 8;
	unsigned setup_sects = image[0x1f1] ? image[0x1f1] : 4;
	uint64_t setup_size = (setup_sects + 1) * 512ull, hdr_end = 0x202ull + image[0x201];
	uint64_t init_size = le32(image + 0x260), top = cfg->mem - TABLE_PAGES * PAGE;
	if (version < LINUX_MIN_VERSION || !(image[0x211] & 1) || image_size <= setup_size || hdr_end > setup_size) {
		fprintf(cfg->err, "vmsim run: --linux: boot protocol %u.%02u (need 2.10 or later, a kernel loaded high)\n",
		        version >> 8, version & 0xff);
		return RUN_STATUS_USAGE;
	}
	uint64_t kernel_size = image_size - setup_size, need = LINUX_KERNEL + (init_size > kernel_size ? init_size : kernel_size);
	if (need > top || strlen(cfg->cmdline) >= LINUX_KERNEL - LINUX_CMDLINE ||
	    strlen(cfg->cmdline) > le32(image + 0x238)) {
		fprintf(cfg->err, "vmsim run: --linux: the kernel needs 0x%" PRIx64 " bytes of RAM below the VMM's tables "
		        "(give more --mem) and a command line of at most %u bytes\n", need, le32(image + 0x238));
		return RUN_STATUS_USAGE;
	}
	memcpy((uint8_t *)vmm->ram.ptr + LINUX_KERNEL, image + setup_size, kernel_size);
	uint8_t *zp = (uint8_t *)vmm->ram.ptr + LINUX_ZERO_PAGE;
	memset(zp, 0, PAGE);
	memcpy(zp + LINUX_HDR, image + LINUX_HDR, hdr_end - LINUX_HDR);
	zp[0x210] = 0xff;               /* type_of_loader: undefined */
	put32(zp + 0x228, LINUX_CMDLINE);
	strcpy((char *)vmm->ram.ptr + LINUX_CMDLINE, cfg->cmdline);
	e820_entry(zp, 0, 0x9fc00, 1);
	e820_entry(zp, 0x9fc00, 0x400, 2);
	e820_entry(zp, LINUX_KERNEL, top - LINUX_KERNEL, 1);
	e820_entry(zp, top, cfg->mem - top, 2); /* the VMM's GDT and page tables */
	return 0;
}

/* ---- building the VM ------------------------------------------------------------------------ */

int vmm_setup_error(const struct run_config *cfg, const char *what, enum vmsim_result r)
{
	fprintf(cfg->err, "vmsim run: %s: %s (%s)\n", what, vmsim_result_name(r), vmsim_result_text(r));
	return RUN_STATUS_SETUP;
}

static enum vmsim_result attach(struct vmm *vmm, vmsim_ds_cap ds, uint64_t gpa, uint64_t offset, uint64_t size,
                                bool writeable)
{
	struct vmsim_attach_attr attr = { offset, size, true, writeable };
	struct vmsim_range range;
	return vmsim_session_attach(vmm->session, ds, gpa, &attr, &range);
}

static uint64_t page_round(uint64_t v)
{
	return (v + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

/* RAM at 0 (split around the firmware alias with --bios), the image, and for --bios the ROM. */
int vmm_build_memory(struct vmm *vmm, const uint8_t *image, uint64_t image_size)
{
	const struct run_config *cfg = vmm->cfg;
	enum vmsim_result r;
	struct vmsim_local_attr whole = { 0, 0, true };

	if ((r = vmsim_ds_alloc(vmm->env, cfg->mem, &vmm->ram_ds)) != VMSIM_OK)
		return vmm_setup_error(cfg, "allocating guest RAM", r);
	if ((r = vmsim_local_attach(vmm->env, vmm->ram_ds, &whole, &vmm->ram)) != VMSIM_OK)
		return vmm_setup_error(cfg, "mapping guest RAM", r);

	if (!cfg->bios) {
		if (cfg->linux_boot) {
			int status = load_linux(vmm, image, image_size);
			if (status)
				return status;
		} else {
			memcpy((uint8_t *)vmm->ram.ptr + cfg->load, image, image_size);
		}
		if ((r = attach(vmm, vmm->ram_ds, 0, 0, 0, true)) != VMSIM_OK)
			return vmm_setup_error(cfg, "attaching guest RAM", r);
		if (cfg->mode != RUN_MODE_REAL)
			build_tables(vmm);
		return 0;
	}

	uint64_t rom_size = page_round(image_size);
	if ((r = vmsim_ds_alloc(vmm->env, rom_size, &vmm->rom_ds)) != VMSIM_OK)
		return vmm_setup_error(cfg, "allocating the firmware ROM", r);
	if ((r = vmsim_local_attach(vmm->env, vmm->rom_ds, &whole, &vmm->rom)) != VMSIM_OK)
		return vmm_setup_error(cfg, "mapping the firmware ROM", r);
	memcpy((uint8_t *)vmm->rom.ptr + rom_size - image_size, image, image_size); /* ends at 4 GiB */
	vmm->rom_base = 0x100000000ull - rom_size;
	uint64_t alias = rom_size < BIOS_ALIAS ? rom_size : BIOS_ALIAS;
	/*
	 * The firmware image is RAM, at the top of 4 GiB and aliased below 1 MiB, as on QEMU's microvm: without a
	 * chipset to unlock shadow RAM (SeaBIOS: "Unable to unlock ram - bridge not found") firmware writes its
	 * own data there.
	 */
	if ((r = attach(vmm, vmm->rom_ds, vmm->rom_base, 0, 0, true)) != VMSIM_OK ||
	    (r = attach(vmm, vmm->rom_ds, MIB - alias, rom_size - alias, alias, true)) != VMSIM_OK)
		return vmm_setup_error(cfg, "attaching the firmware ROM", r);
	uint64_t low = cfg->mem < LOW_MEM_END ? cfg->mem : LOW_MEM_END;
	if ((r = attach(vmm, vmm->ram_ds, 0, 0, low & ~(uint64_t)(PAGE - 1), true)) != VMSIM_OK)
		return vmm_setup_error(cfg, "attaching low RAM", r);
	if (cfg->mem > MIB && (r = attach(vmm, vmm->ram_ds, MIB, MIB, cfg->mem - MIB, true)) != VMSIM_OK)
		return vmm_setup_error(cfg, "attaching high RAM", r);
	return 0;
}

int vmm_open_session(struct vmm *vmm)
{
	const struct run_config *cfg = vmm->cfg;
	/* session + one vCPU + a few attachments and the nested page tables covering mem and the ROM */
	uint64_t tables = (cfg->mem >> 21) + 64;
	struct vmsim_session_args args = {
		.ram_quota = VMSIM_COST_SESSION_RAM + VMSIM_COST_VCPU_RAM + 8 * VMSIM_COST_ATTACH_META_RAM +
		             tables * VMSIM_COST_PAGE_TABLE_RAM,
		.cap_quota = VMSIM_COST_SESSION_CAPS + VMSIM_COST_VCPU_CAPS + 8,
		.label = "vmsim run",
		.backend = cfg->backend,
		.model = cfg->model,
	};
	struct vmsim_env_config env_cfg = { .ram_pool = cfg->mem + (32ull << 20) + args.ram_quota };
	enum vmsim_result r = vmsim_env_create(&env_cfg, &vmm->env);
	if (r != VMSIM_OK)
		return vmm_setup_error(cfg, "creating the environment", r);
	if ((r = vmsim_register_builtin_backends(vmm->env)) != VMSIM_OK)
		return vmm_setup_error(cfg, "registering the built-in backends", r);
	const struct vmsim_backend_ops *ops = vmsim_env_backend(vmm->env, cfg->backend);
	if (!ops) {
		fprintf(cfg->err, "vmsim run: unknown backend '%s'\n", cfg->backend);
		return RUN_STATUS_USAGE;
	}
	if (cfg->exceptions && !(ops->caps & VMSIM_CAP_EXCEPTION_INTERCEPT)) {
		const char *gap = ops->cap_gap ? ops->cap_gap(VMSIM_CAP_EXCEPTION_INTERCEPT) : NULL;
		fprintf(cfg->err, "vmsim run: --exceptions: backend %s cannot intercept exceptions: %s\n", ops->name,
		        gap ? gap : "no reason given");
		return RUN_STATUS_USAGE;
	}
	if ((r = vmsim_session_open(vmm->env, &args, &vmm->session)) != VMSIM_OK)
		return vmm_setup_error(cfg, "opening the VM session", r);
	return 0;
}
