/* dropin.h: the one file tendd writes into the configuration on a client's
 * request: SERVICES_DIR/NAME.ini.d/FILE, a drop-in of the admin's services
 * directory (`tendctl enable`/`disable`). Never the admin's own NAME.ini.
 * tendd runs as root and writes where a caller asks, so: the name must be a
 * valid service name (no '/', no "..", no leading '.'), the file a plain
 * name, NAME.ini.d is opened with O_NOFOLLOW below the configured
 * directory (a link in its place is refused, never followed), the file is
 * replaced atomically (a temporary file, fsync, rename, fsync of the
 * directory) and a file in its place that is not a regular file is
 * refused. */
#pragma once

#include <stddef.h>

/* The drop-in `tendctl enable`/`disable` write (and the README names). */
#define DROPIN_ENABLE_FILE "50-enable.ini"
/* Largest drop-in dropin_set() reads back (to restore it). */
#define DROPIN_READ_MAX 65536

/* Set dir/name.ini.d/file to content (NULL: remove the file), making
 * name.ini.d (0755) when missing. *ret_old (may be NULL) gets what the
 * file held before (NULL: it did not exist), so that a caller can put it
 * back with another dropin_set(). Returns 0, or -errno with a sentence
 * naming the path in why: -EINVAL a bad name or file, -ELOOP name.ini.d is
 * a symbolic link, -ENOTDIR it is not a directory, -EBADFD the file is not
 * a regular file (a link, a FIFO), -EFBIG it is larger than
 * DROPIN_READ_MAX; others from the system. On failure the file is as it
 * was (name.ini.d may have been made). */
int dropin_set(const char *dir, const char *name, const char *file, const char *content,
               char **ret_old, char *why, size_t why_len);
