/* vt_guests.c - label lookup for the generated guest tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_guests.h"

uint64_t vt_guest_sym(const struct vt_guest *g, const char *name)
{
	for (const struct vt_guest_symbol *s = g->symbols; s->name; s++)
		if (!strcmp(s->name, name))
			return s->offset;
	fprintf(stderr, "guest %s has no label %s\n", g->name, name);
	abort();
}
