/* readfile.h: read one small regular file whole, the way tendd and tendctl
 * read a file a user may have replaced by anything: without blocking (a FIFO
 * in its place is refused, never waited on), never a terminal, bounded. A
 * module of its own, without dependencies, so that tendctl links it alone. */
#pragma once

#include <stddef.h>

/* path (relative to dfd, or AT_FDCWD) whole into *ret, NUL-terminated (its
 * length in *ret_len if not NULL). flags are added to the open's (O_NOFOLLOW:
 * a symbolic link is refused with -ELOOP). -EBADFD: not a regular file;
 * -EFBIG: larger than max bytes; else -errno of the open or the read. */
int read_regular_file_at(int dfd, const char *path, int flags, size_t max, char **ret,
                         size_t *ret_len);
