/* core/exit_config.c - the two stock Exit_configs: faithful (everything) and minimal (exit info only). */
#include "internal.h"

void vmsim_exit_config_all(struct vmsim_exit_config *config)
{
	for (unsigned kind = 0; kind < VMSIM_EXIT_KIND_COUNT; kind++)
		config->groups[kind] = VMSIM_GROUP_ALL;
}

void vmsim_exit_config_minimal(struct vmsim_exit_config *config)
{
	for (unsigned kind = 0; kind < VMSIM_EXIT_KIND_COUNT; kind++)
		config->groups[kind] = 0;
}
