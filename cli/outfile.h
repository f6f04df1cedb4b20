/* cli/outfile.h — the output discipline every tierkit tool follows
 * (README.md "Reliability"):
 *   - output paths are checked before the run (tk_out_check), so a long run
 *     never ends in "cannot write";
 *   - a regular file (or a name that does not exist yet) is written to a
 *     temporary file in the same directory and renamed over the target only
 *     when complete: the target is complete or untouched, never half-written;
 *   - a character device (/dev/null, a tty) or a FIFO/pipe is written
 *     directly: renaming over /dev/null would replace the device node;
 *   - every write, flush and close is checked; a failure names the path and
 *     errno and the tool exits non-zero.
 * Messages go to stderr as "TOOL: cannot write OPTION 'PATH': REASON". */
#ifndef TK_CLI_OUTFILE_H
#define TK_CLI_OUTFILE_H

#include <stdio.h>

typedef struct tk_out {
    const char *tool, *opt;   /* for messages: "tk-bench", "--json"          */
    char path[4096];          /* the target (symlinks resolved)              */
    char tmp[4096];           /* temporary name; empty when writing directly */
    FILE *f;
    int is_stdout;
} tk_out;

/* 0 when PATH can be written (its directory exists and is writable; an
 * existing PATH is a regular file, character device or FIFO); else -1
 * after the message.  "-" is standard output. */
int tk_out_check(const char *tool, const char *opt, const char *path);

/* Opens PATH as described above; NULL after the message on failure. */
FILE *tk_out_open(tk_out *o, const char *tool, const char *opt, const char *path);

/* Flushes, syncs and closes; renames the temporary over the target.
 * 0, or -1 after the message (the temporary is removed; the target is
 * untouched). */
int tk_out_commit(tk_out *o);

/* Drops a partial output (the temporary is removed). */
void tk_out_abort(tk_out *o);

/* At the end of main: flushes standard output and reports a write error
 * (a full disk, a closed pipe) as "TOOL: cannot write standard output:
 * REASON".  Returns 0 or -1. */
int tk_out_stdout_check(const char *tool);

#endif
