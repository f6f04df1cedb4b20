/* conformance/tkt_time.c — monotonic time and sleeping for threaded tests
 * (never for timing assertions on speed). */
#include "tkt.h"

#include <time.h>

/* ---- time ------------------------------------------------------------------------------- */
uint64_t tkt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tkt_sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

