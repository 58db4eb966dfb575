/* dropin.c: write one drop-in of the admin's services directory; see
 * dropin.h. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "dropin.h"
#include "parse.h"
#include "readfile.h"
#include "util.h"

_printf_(3, 4) static void dropin_why(char *why, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(why, len, fmt, ap);
        va_end(ap);
}

/* file in the open directory dfd, read whole into *ret (NULL when it does
 * not exist). A link or anything but a small regular file is refused. */
static int dropin_read(int dfd, const char *file, char **ret)
{
        int r;

        *ret = NULL;
        r = read_regular_file_at(dfd, file, O_NOFOLLOW, DROPIN_READ_MAX, ret, NULL);
        return r == -ENOENT ? 0 : r;
}

/* Write content to file in dfd atomically: a new temporary file, fsync,
 * rename over file, fsync of the directory. */
static int dropin_replace(int dfd, const char *file, const char *content)
{
        char tmp[128];
        int fd = -1, r;

        for (unsigned i = 0; i < 100 && fd < 0; i++) {
                struct timespec ts;

                (void)clock_gettime(CLOCK_MONOTONIC, &ts);
                (void)snprintf(tmp, sizeof tmp, ".%s.%d.%lx%u", file, (int)getpid(),
                               (unsigned long)ts.tv_nsec, i);
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (fd < 0 && errno != EEXIST)
                        return -errno;
        }
        if (fd < 0)
                return -EEXIST;
        r = loop_write(fd, content, strlen(content));
        if (r >= 0 && fchmod(fd, 0644) < 0) /* whatever the umask */
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && renameat(dfd, tmp, dfd, file) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlinkat(dfd, tmp, 0);
                return r;
        }
        return fsync(dfd) < 0 ? -errno : 0;
}

/* See dropin.h. */
int dropin_set(const char *dir, const char *name, const char *file, const char *content,
               char **ret_old, char *why, size_t why_len)
{
        _cleanup_close_ int dfd = -1, ddfd = -1;
        _cleanup_free_ char *sub = NULL, *old = NULL;
        int r;

        if (ret_old)
                *ret_old = NULL;
        if (!service_name_is_valid(name) || !file[0] || strchr(file, '/') || file[0] == '.') {
                dropin_why(why, why_len, "invalid name '%s'", name);
                return -EINVAL;
        }
        if (asprintf(&sub, "%s.ini.d", name) < 0)
                return -ENOMEM;
        /* The configured directory itself may be a link: the admin's choice. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                dropin_why(why, why_len, "cannot open %s: %s", dir, strerror(-r));
                return r;
        }
        if (content && mkdirat(dfd, sub, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                dropin_why(why, why_len, "cannot make %s/%s: %s", dir, sub, strerror(-r));
                return r;
        }
        ddfd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (ddfd < 0) {
                r = -errno;
                if (r == -ENOENT && !content)
                        return 0; /* nothing to remove */
                if (r == -ELOOP || r == -ENOTDIR) {
                        struct stat st;

                        if (fstatat(dfd, sub, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                                r = -ELOOP;
                }
                dropin_why(why, why_len, "%s/%s: %s", dir, sub,
                           r == -ELOOP     ? "is a symbolic link: not followed, nothing written"
                           : r == -ENOTDIR ? "is not a directory: nothing written"
                                           : strerror(-r));
                return r;
        }
        r = dropin_read(ddfd, file, &old);
        if (r < 0) {
                dropin_why(why, why_len, "%s/%s/%s: %s", dir, sub, file,
                           r == -ELOOP || r == -EBADFD ? "is not a regular file: not replaced"
                           : r == -EFBIG               ? "is too large: not replaced"
                                                       : strerror(-r));
                return r;
        }
        if (content)
                r = dropin_replace(ddfd, file, content);
        else if (old && unlinkat(ddfd, file, 0) < 0)
                r = -errno;
        else if (old)
                r = fsync(ddfd) < 0 ? -errno : 0;
        if (r < 0) {
                dropin_why(why, why_len, "cannot write %s/%s/%s: %s", dir, sub, file, strerror(-r));
                return r;
        }
        if (ret_old)
                *ret_old = TAKE_PTR(old);
        return 0;
}
