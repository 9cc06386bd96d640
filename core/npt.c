/* core/npt.c - nested page-table accounting per session; counts tables, never builds real ones. */
#include <stddef.h>

#include "internal.h"
#include "npt.h"

static const unsigned LEVEL_SHIFT[NPT_LEVELS] = {39, 30, 21};

void npt_init(struct npt_account *npt)
{
	for (unsigned level = 0; level < NPT_LEVELS; level++) {
		npt->level[level].root = NULL;
		npt->level[level].count = 0;
	}
	npt->tables = 0;
}

static struct npt_table *table_of(struct avl_node *node)
{
	return node ? avl_entry(node, struct npt_table, node) : NULL;
}

/* Pages of [gpa, end) that fall under table index of a level. */
static uint64_t pages_under(unsigned level, uint64_t index, uint64_t gpa, uint64_t end)
{
	uint64_t low = index << LEVEL_SHIFT[level];
	uint64_t high = (index + 1) << LEVEL_SHIFT[level];
	if (low < gpa)
		low = gpa;
	if (high > end)
		high = end;
	return (high - low) / VMSIM_PAGE_SIZE;
}

uint64_t npt_tables_needed(const struct npt_account *npt, uint64_t gpa, uint64_t size)
{
	uint64_t needed = 0;
	for (unsigned level = 0; level < NPT_LEVELS; level++) {
		uint64_t first = gpa >> LEVEL_SHIFT[level];
		uint64_t last = (gpa + size - 1) >> LEVEL_SHIFT[level];
		uint64_t present = 0;
		/* Only the tables that exist are visited: O(log n + existing) per level. */
		for (struct avl_node *node = avl_ceil(&npt->level[level], first); node && node->key <= last;
		     node = avl_next(node))
			present++;
		needed += last - first + 1 - present;
	}
	return needed;
}

enum vmsim_result npt_map(struct vmsim_session *session, uint64_t gpa, uint64_t size)
{
	struct npt_account *npt = session->npt;
	struct vmsim_env *env = session->env;
	uint64_t needed = npt_tables_needed(npt, gpa, size);
	if (needed) {
		enum vmsim_result result = session_charge(session, needed * VMSIM_COST_PAGE_TABLE_RAM, 0);
		if (result != VMSIM_OK)
			return result;
	}

	/* Allocate every new table before touching the trees, so that a failure changes nothing. */
	struct npt_table *spare = NULL;
	for (uint64_t i = 0; i < needed; i++) {
		struct npt_table *table = vmsim_env_alloc(env, sizeof(*table));
		if (!table) {
			while (spare) {
				struct npt_table *next = table_of(spare->node.parent);
				vmsim_env_free(env, spare, sizeof(*spare));
				spare = next;
			}
			session_uncharge(session, needed * VMSIM_COST_PAGE_TABLE_RAM, 0);
			return VMSIM_OUT_OF_RAM;
		}
		table->node.parent = spare ? &spare->node : NULL;
		spare = table;
	}

	uint64_t end = gpa + size;
	for (unsigned level = 0; level < NPT_LEVELS; level++) {
		uint64_t last = (end - 1) >> LEVEL_SHIFT[level];
		for (uint64_t index = gpa >> LEVEL_SHIFT[level]; index <= last; index++) {
			struct npt_table *table = table_of(avl_find(&npt->level[level], index));
			if (!table) {
				table = spare;
				spare = table_of(table->node.parent);
				table->node.key = index;
				table->pages = 0;
				(void)avl_insert(&npt->level[level], &table->node);
				npt->tables++;
			}
			table->pages += pages_under(level, index, gpa, end);
		}
	}
	return VMSIM_OK;
}

void npt_unmap(struct vmsim_session *session, uint64_t gpa, uint64_t size)
{
	struct npt_account *npt = session->npt;
	uint64_t end = gpa + size;
	for (unsigned level = 0; level < NPT_LEVELS; level++) {
		uint64_t last = (end - 1) >> LEVEL_SHIFT[level];
		for (uint64_t index = gpa >> LEVEL_SHIFT[level]; index <= last; index++) {
			struct npt_table *table = table_of(avl_find(&npt->level[level], index));
			if (!table)
				continue; /* cannot happen for a range npt_map accounted */
			table->pages -= pages_under(level, index, gpa, end);
			if (table->pages == 0) {
				avl_remove(&npt->level[level], &table->node);
				vmsim_env_free(session->env, table, sizeof(*table));
				npt->tables--;
				session_uncharge(session, VMSIM_COST_PAGE_TABLE_RAM, 0);
			}
		}
	}
}

void npt_destroy(struct vmsim_env *env, struct npt_account *npt)
{
	for (unsigned level = 0; level < NPT_LEVELS; level++) {
		struct avl_node *node;
		while ((node = npt->level[level].root) != NULL) {
			avl_remove(&npt->level[level], node);
			vmsim_env_free(env, table_of(node), sizeof(struct npt_table));
		}
	}
	npt->tables = 0;
}
