/* conformance/verify_embed.c — tk-verify's main, linked into tk-conform as
 * tk_verify_main() so a test can verify the trace file a driver wrote. */
int tk_verify_main(int argc, char **argv);
#define main tk_verify_main
#include "verify_main.c"
