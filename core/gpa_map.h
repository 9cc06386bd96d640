/* core/gpa_map.h - an intrusive AVL tree keyed by uint64, and the session's guest-physical region map on it. */
#ifndef VMSIM_CORE_GPA_MAP_H
#define VMSIM_CORE_GPA_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmsim_dataspace;
struct vmsim_session;

/* Embedded in the object it orders; the tree never allocates. */
struct avl_node {
	struct avl_node *left, *right, *parent;
	uint64_t key;
	int height;
};

struct avl_tree {
	struct avl_node *root;
	uint64_t count;
};

/* Insert node under node->key; false (tree unchanged) if the key is already present. */
bool avl_insert(struct avl_tree *tree, struct avl_node *node);
void avl_remove(struct avl_tree *tree, struct avl_node *node);
struct avl_node *avl_find(const struct avl_tree *tree, uint64_t key);
/* The node with the greatest key <= key, or NULL. */
struct avl_node *avl_floor(const struct avl_tree *tree, uint64_t key);
/* The node with the smallest key >= key, or NULL. */
struct avl_node *avl_ceil(const struct avl_tree *tree, uint64_t key);
struct avl_node *avl_first(const struct avl_tree *tree);
/* In-order successor, or NULL. */
struct avl_node *avl_next(const struct avl_node *node);
/* Checks heights, balance, order and parent links; returns the node count or -1 (tests). */
long avl_validate(const struct avl_tree *tree);

#define avl_entry(node, type, member) ((type *)(void *)((char *)(node) - offsetof(type, member)))

/* One attachment as the session records it. */
struct region {
	struct avl_node node;        /* key = start */
	uint64_t start;
	uint64_t size;
	uint64_t offset;             /* into ds */
	struct vmsim_dataspace *ds;  /* NULL once reserved */
	struct vmsim_session *session;
	struct region *ds_next, *ds_prev; /* the dataspace's list of guest regions */
	bool writeable;
	bool executable;
	bool reserved;               /* flushed: the dataspace is gone, the range stays occupied */
};

struct gpa_map {
	struct avl_tree tree;
};

void gpa_map_init(struct gpa_map *map);
/* Insert a region that intersects no other (callers check first). */
void gpa_map_insert(struct gpa_map *map, struct region *region);
void gpa_map_remove(struct gpa_map *map, struct region *region);
/* The region containing gpa, or NULL. O(log n). */
struct region *gpa_map_find(const struct gpa_map *map, uint64_t gpa);
/* The lowest region intersecting [first, last] (inclusive, so the top of the space is expressible). */
struct region *gpa_map_first_intersecting(const struct gpa_map *map, uint64_t first, uint64_t last);
struct region *gpa_map_first(const struct gpa_map *map);
struct region *gpa_map_next(const struct region *region);
uint64_t gpa_map_count(const struct gpa_map *map);

#endif
