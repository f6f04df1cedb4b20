/* arch/trampoline.c — C side of the assembly trampolines: the handler
 * pointers they load, the default handlers, the public entry addresses. */
#include "arch_internal.h"

#include <stdio.h>
#include <stdlib.h>

static void *default_prestub(void *token, tk_arch_regs *regs)
{
    (void)regs;
    fprintf(stderr, "tierkit: prestub reached (token %p) with no prestub handler\n", token);
    abort();
}

static void *default_threshold(void *token, tk_arch_regs *regs)
{
    (void)regs;
    fprintf(stderr, "tierkit: call-count threshold reached (cell %p) with no handler\n", token);
    abort();
}

static void *default_freed(void *token, tk_arch_regs *regs)
{
    (void)regs;
    fprintf(stderr, "tierkit: call through freed stub (token %p)\n", token);
    abort();
}

tk_trampoline_handler tk__prestub_handler = default_prestub;
tk_trampoline_handler tk__threshold_handler = default_threshold;
tk_trampoline_handler tk__freed_handler = default_freed;

uint16_t tk__freed_cell;

void *tk_prestub_entry(void) { return (void *)tk__prestub_tramp; }
void *tk_threshold_entry(void) { return (void *)tk__threshold_tramp; }
void *tk_freed_stub_entry(void) { return (void *)tk__freed_tramp; }

void tk_set_prestub_handler(tk_trampoline_handler h)
{
    __atomic_store_n(&tk__prestub_handler, h ? h : default_prestub, __ATOMIC_RELEASE);
}

void tk_set_threshold_handler(tk_trampoline_handler h)
{
    __atomic_store_n(&tk__threshold_handler, h ? h : default_threshold, __ATOMIC_RELEASE);
}

void tk_set_freed_stub_handler(tk_trampoline_handler h)
{
    __atomic_store_n(&tk__freed_handler, h ? h : default_freed, __ATOMIC_RELEASE);
}
