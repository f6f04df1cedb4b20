/* arch/wx.c — `stub.wx` checker: counts mappings that are writable and
 * executable at the same time, as listed in /proc/self/maps. */
#include "arch_internal.h"

#include <stdio.h>
#include <string.h>

int tk_wx_violations(char *line, size_t linelen)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char buf[1024];
    int n = 0;
    if (line && linelen)
        line[0] = '\0';
    while (fgets(buf, sizeof buf, f)) {
        /* "start-end perms offset dev inode path" */
        char *sp = strchr(buf, ' ');
        if (!sp || strlen(sp) < 5)
            continue;
        const char *perms = sp + 1;
        if (perms[1] == 'w' && perms[2] == 'x') {
            if (n == 0 && line && linelen) {
                size_t l = strcspn(buf, "\n");
                if (l >= linelen)
                    l = linelen - 1;
                memcpy(line, buf, l);
                line[l] = '\0';
            }
            n++;
        }
    }
    fclose(f);
    return n;
}
