/* conformance/tests/bad_abi_driver.c — a driver claiming ABI version 99, to
 * test that tk-conform refuses it with a clear message. */
#include "tk_driver.h"

static const tk_driver bad = { .abi_version = 99, .size = sizeof(tk_driver), .name = "bad-abi" };

__attribute__((visibility("default"))) const tk_driver *tk_driver_v1(void) { return &bad; }
