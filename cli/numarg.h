/* cli/numarg.h — strict numbers on the command line and in the
 * environment: decimal only ("010" is rejected, not read as octal 8),
 * no sign on unsigned values, no trailing characters, no whitespace, in
 * range; doubles must be finite.  Each returns 0, or -1 with a short
 * reason in why[] ("not a decimal integer", "out of range [1, 1024]"). */
#ifndef TK_CLI_NUMARG_H
#define TK_CLI_NUMARG_H

#include <stddef.h>
#include <stdint.h>

int tk_arg_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *why, size_t whylen);
int tk_arg_double(const char *s, double min, double max, double *out, char *why, size_t whylen);

#endif
