/* core/npt.h - nested page-table accounting: which 4 KiB-granular tables a 4-level walk needs, and their quota. */
#ifndef VMSIM_CORE_NPT_H
#define VMSIM_CORE_NPT_H

#include <stdint.h>

#include <vmsim/result.h>

#include "gpa_map.h"

struct vmsim_env;
struct vmsim_session;

enum {
	NPT_LEVELS = 3,            /* PDPT, PD, PT; the root (PML4) is part of the session cost */
	NPT_ADDRESS_BITS = 48      /* the reach of a 4-level table */
};

/* A table, refcounted by the mapped 4 KiB pages beneath it. */
struct npt_table {
	struct avl_node node;      /* key = gpa >> the level's shift */
	uint64_t pages;
};

struct npt_account {
	struct avl_tree level[NPT_LEVELS]; /* [0] PDPT per 512 GiB, [1] PD per 1 GiB, [2] PT per 2 MiB */
	uint64_t tables;
};

void npt_init(struct npt_account *npt);
/* Tables a mapping of [gpa, gpa+size) would add now; one ordered walk per level, never per page. */
uint64_t npt_tables_needed(const struct npt_account *npt, uint64_t gpa, uint64_t size);
/*
 * Charge VMSIM_COST_PAGE_TABLE_RAM per new table to the session, then account
 * the pages. OUT_OF_RAM (nothing changed) if quota or metadata runs out. Caller holds session->lock.
 */
enum vmsim_result npt_map(struct vmsim_session *session, uint64_t gpa, uint64_t size);
/* Undo npt_map of the same range: emptied tables are freed and their quota returned at once. */
void npt_unmap(struct vmsim_session *session, uint64_t gpa, uint64_t size);
/* Free every table without touching quota (the session is going away). */
void npt_destroy(struct vmsim_env *env, struct npt_account *npt);

#endif
