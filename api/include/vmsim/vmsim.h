/* vmsim/vmsim.h - umbrella header: everything a VMM or test includes. */
#ifndef VMSIM_API_VMSIM_H
#define VMSIM_API_VMSIM_H

#include <vmsim/backend.h>
#include <vmsim/backends.h>
#include <vmsim/dataspace.h>
#include <vmsim/env.h>
#include <vmsim/exit.h>
#include <vmsim/genode_layout.h>
#include <vmsim/hwstate.h>
#include <vmsim/log.h>
#include <vmsim/model.h>
#include <vmsim/plugin.h>
#include <vmsim/profile.h>
#include <vmsim/quota.h>
#include <vmsim/result.h>
#include <vmsim/session.h>
#include <vmsim/vcpu.h>
#include <vmsim/vcpu_state.h>

#define VMSIM_VERSION_MAJOR 0
#define VMSIM_VERSION_MINOR 1
#define VMSIM_VERSION_PATCH 0
#define VMSIM_VERSION_STRING "0.1.0"

#endif
