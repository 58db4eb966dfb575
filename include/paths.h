/* paths.h: the names tendd and tendctl both compute: the default control
 * socket and log directory, a service's log file and its rotated names. A
 * module of its own so that tendctl links these and nothing else of the
 * configuration or output code (and none of the libraries those need). */
#pragma once

#include <stddef.h>

/* Defaults for a root daemon (/run/tend/tend.sock, /var/log/tend) or, for
 * other users, under $XDG_RUNTIME_DIR/tend/. -ENXIO when not root and
 * XDG_RUNTIME_DIR is unset. */
int paths_default_socket(char **ret);
int paths_default_log_dir(char **ret);

/* log_dir/NAME.log; NULL on ENOMEM. Caller frees. */
char *paths_log_file(const char *log_dir, const char *name);
/* The name NAME.log's n-th rotated file has: "base.n" into buf (tendd
 * rotates with it, tendctl logs reads by it); -ENAMETOOLONG when it does
 * not fit in size. */
int paths_rotated(char *buf, size_t size, const char *base, unsigned n);
