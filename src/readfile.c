/* readfile.c: see readfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "readfile.h"

/* See readfile.h. */
int read_regular_file_at(int dfd, const char *path, int flags, size_t max, char **ret,
                         size_t *ret_len)
{
        struct stat st;
        size_t len = 0;
        char *buf;
        int fd, r = 0;

        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -EBADFD;
        else if ((unsigned long long)st.st_size > max)
                r = -EFBIG;
        buf = r < 0 ? NULL : malloc(max + 1);
        if (r == 0 && !buf)
                r = -ENOMEM;
        /* Up to max + 1 bytes: a file that grew since the fstat is still
         * seen to be too large. */
        while (r == 0) {
                ssize_t n = read(fd, buf + len, max + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = -errno;
                else if (n == 0)
                        break;
                else if ((len += (size_t)n) > max)
                        r = -EFBIG;
        }
        close(fd);
        if (r < 0) {
                free(buf);
                return r;
        }
        buf[len] = 0;
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}
