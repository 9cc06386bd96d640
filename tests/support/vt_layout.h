/* tests/support/vt_layout.h - where the test VMMs put a guest: one layout for the conformance suite and backend tests. */
#ifndef VMSIM_TESTS_SUPPORT_VT_LAYOUT_H
#define VMSIM_TESTS_SUPPORT_VT_LAYOUT_H

/*
 * 1 MiB of RAM at gpa 0; the guest program loaded at VT_LOAD (real mode: CS 0x1000); GDT and IDT at
 * VT_GDT/VT_IDT; data and stack for the guests; port VT_PORT_DONE ends a guest (the VMM stops).
 */
enum { VT_LOAD = 0x10000, VT_RAM = 0x100000, VT_GDT = 0x1000, VT_IDT = 0x2000, VT_DATA = 0x20000,
       VT_STACK = 0x8000, VT_PORT_DONE = 0xf0 };

#endif
