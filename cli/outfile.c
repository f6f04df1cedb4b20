/* cli/outfile.c — see outfile.h. */
#include "cli/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int say(const char *tool, const char *opt, const char *path, const char *why)
{
    fprintf(stderr, "%s: cannot write %s%s'%s': %s\n", tool, opt ? opt : "", opt ? " " : "", path, why);
    return -1;
}

/* The directory part of path ("." when there is none) into dir. */
static void dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, len, ".");
    else if (slash == path) snprintf(dir, len, "/");
    else snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

int tk_out_check(const char *tool, const char *opt, const char *path)
{
    struct stat st;
    if (!path || !*path) return say(tool, opt, path ? path : "", "empty path");
    if (!strcmp(path, "-")) return 0;
    if (strlen(path) >= 4000) return say(tool, opt, path, "path too long");
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return say(tool, opt, path, "is a directory");
        if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
            return say(tool, opt, path, "not a regular file, character device or FIFO");
        if (!S_ISREG(st.st_mode)) {
            if (access(path, W_OK)) return say(tool, opt, path, strerror(errno));
            return 0;
        }
    } else if (errno != ENOENT) {
        return say(tool, opt, path, strerror(errno));
    }
    /* a regular file is replaced by rename: its directory must take a new file */
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    if (stat(dir, &st)) {
        char why[4200];
        snprintf(why, sizeof why, "directory '%s': %s", dir, strerror(errno));
        return say(tool, opt, path, why);
    }
    if (!S_ISDIR(st.st_mode)) {
        char why[4200];
        snprintf(why, sizeof why, "'%s' is not a directory", dir);
        return say(tool, opt, path, why);
    }
    if (access(dir, W_OK | X_OK)) {
        char why[4200];
        snprintf(why, sizeof why, "directory '%s': %s", dir, strerror(errno));
        return say(tool, opt, path, why);
    }
    return 0;
}

FILE *tk_out_open(tk_out *o, const char *tool, const char *opt, const char *path)
{
    memset(o, 0, sizeof *o);
    o->tool = tool;
    o->opt = opt;
    if (tk_out_check(tool, opt, path)) return NULL;
    if (!strcmp(path, "-")) {
        o->is_stdout = 1;
        snprintf(o->path, sizeof o->path, "-");
        return o->f = stdout;
    }
    /* write through a symlink to its target, beside the target */
    char *real = realpath(path, NULL);
    snprintf(o->path, sizeof o->path, "%s", real ? real : path);
    free(real);
    struct stat st;
    int exists = stat(o->path, &st) == 0;
    if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
        /* a device or a pipe: written in place, never replaced */
        o->f = fopen(o->path, "w");
        if (!o->f) say(tool, opt, path, strerror(errno));
        return o->f;
    }
    char dir[4096];
    dir_of(o->path, dir, sizeof dir);
    const char *base = strrchr(o->path, '/');
    base = base ? base + 1 : o->path;
    if ((size_t)snprintf(o->tmp, sizeof o->tmp, "%s/.%s.tmp.XXXXXX", dir, base) >= sizeof o->tmp) {
        o->tmp[0] = 0;
        say(tool, opt, path, "path too long");
        return NULL;
    }
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        o->tmp[0] = 0;
        say(tool, opt, path, strerror(e));
        return NULL;
    }
    mode_t mode;
    if (exists) mode = st.st_mode & 07777;
    else {
        mode_t um = umask(0);
        umask(um);
        mode = 0666 & ~um;
    }
    if (fchmod(fd, mode)) { /* the file stays 0600: still correct content */ }
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = 0;
        say(tool, opt, path, strerror(e));
    }
    return o->f;
}

void tk_out_abort(tk_out *o)
{
    if (o->f && !o->is_stdout) fclose(o->f);
    o->f = NULL;
    if (o->tmp[0]) unlink(o->tmp);
    o->tmp[0] = 0;
}

/* errno of a failed flush; 0 when an earlier buffered write failed and
 * stdio kept no errno (the message then says "write error"). */
static const char *why_of(int e) { return e ? strerror(e) : "write error (an earlier write failed)"; }

int tk_out_commit(tk_out *o)
{
    if (!o->f) return -1;
    const char *shown = o->is_stdout ? "standard output" : o->path;
    errno = 0;
    int bad = fflush(o->f) != 0 || ferror(o->f);
    int e = errno;
    if (!bad && o->tmp[0] && fsync(fileno(o->f))) { bad = 1; e = errno; }
    if (o->is_stdout) {
        o->f = NULL;
        if (bad) return say(o->tool, o->opt, shown, why_of(e));
        return 0;
    }
    errno = 0;
    if (fclose(o->f) && !bad) { bad = 1; e = errno; }
    o->f = NULL;
    if (bad) {
        if (o->tmp[0]) unlink(o->tmp);
        o->tmp[0] = 0;
        return say(o->tool, o->opt, shown, why_of(e));
    }
    if (o->tmp[0]) {
        if (rename(o->tmp, o->path)) {
            e = errno;
            unlink(o->tmp);
            o->tmp[0] = 0;
            return say(o->tool, o->opt, shown, strerror(e));
        }
        o->tmp[0] = 0;
    }
    return 0;
}

int tk_out_stdout_check(const char *tool)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: cannot write standard output: %s\n", tool, why_of(errno));
        return -1;
    }
    return 0;
}
