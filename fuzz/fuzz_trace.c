/* fuzz/fuzz_trace.c — libFuzzer target: tk-verify end to end on one trace
 * (conformance/verify_cli.c: JSON Lines reader conformance/json.c, event
 * conversion, the checker conformance/tkv.c), through its command-line
 * entry point, with --json.  Seeds: conformance/tests/traces/.  Every call
 * must leave no state behind and leak nothing (LeakSanitizer is on). */
#include "tkv.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("trace", 0);
    if (fd < 0) return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) { close(fd); return 0; }
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char *argv[] = { "tk-verify", path, "--json", "/dev/null", NULL };
    int rc = tk_verify_main(4, argv);
    close(fd);
    if (rc < 0 || rc > 2) __builtin_trap();   /* exit status is 0, 1 or 2 */
    return 0;
}
