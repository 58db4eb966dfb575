/* paths.c: the default socket and log directory, log file names; see paths.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"

static int paths_default(const char *root_path, const char *user_rel, char **ret)
{
        const char *xdg;
        char *p;

        if (geteuid() == 0)
                p = strdup(root_path);
        else {
                xdg = getenv("XDG_RUNTIME_DIR");
                if (!xdg || xdg[0] != '/')
                        return -ENXIO;
                if (asprintf(&p, "%s/tend/%s", xdg, user_rel) < 0)
                        p = NULL;
        }
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* /run/tend/tend.sock for root, else $XDG_RUNTIME_DIR/tend/tend.sock. */
int paths_default_socket(char **ret)
{
        return paths_default("/run/tend/tend.sock", "tend.sock", ret);
}

/* /var/log/tend for root, else $XDG_RUNTIME_DIR/tend/log. */
int paths_default_log_dir(char **ret)
{
        return paths_default("/var/log/tend", "log", ret);
}

/* log_dir/NAME.log; see paths.h. */
char *paths_log_file(const char *log_dir, const char *name)
{
        char *p;

        if (asprintf(&p, "%s/%s.log", log_dir, name) < 0)
                return NULL;
        return p;
}

/* base's n-th rotated name; see paths.h. */
int paths_rotated(char *buf, size_t size, const char *base, unsigned n)
{
        int len = snprintf(buf, size, "%s.%u", base, n);

        return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}
