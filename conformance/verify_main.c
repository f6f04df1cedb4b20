/* conformance/verify_main.c — entry point of build/bin/tk-verify. */
#include "tkv.h"

int main(int argc, char **argv) { return tk_verify_main(argc, argv); }
