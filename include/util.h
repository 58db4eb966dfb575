/* util.h: small helpers shared by every module: cleanup attributes, ownership
 * transfer, container_of, monotonic time and string vectors. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>
#include <unistd.h>

typedef uint64_t usec_t;
#define USEC_INFINITY ((usec_t)UINT64_MAX)
#define USEC_PER_MSEC ((usec_t)1000ULL)
#define USEC_PER_SEC ((usec_t)1000000ULL)
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MINUTE)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
/* name##_to_string() and name##_from_string() over name##_table, an array
 * of strings indexed by an enum: NULL (to) or -EINVAL (from) when out of
 * range, unknown or a hole in the table. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                                     \
        const char *name##_to_string(type v)                                                       \
        {                                                                                          \
                return (size_t)v < ELEMENTSOF(name##_table) ? name##_table[v] : NULL;              \
        }                                                                                          \
        int name##_from_string(const char *s)                                                      \
        {                                                                                          \
                for (size_t i = 0; s && i < ELEMENTSOF(name##_table); i++)                         \
                        if (name##_table[i] && strcmp(name##_table[i], s) == 0)                    \
                                return (int)i;                                                     \
                return -EINVAL;                                                                    \
        }
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                (void)close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Hand an owned pointer or fd over, leaving the source empty. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _tp = (p);                                                           \
                (p) = NULL;                                                                        \
                _tp;                                                                               \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _tf = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _tf;                                                                               \
        })

/* Close fd if open and return -1, for "fd = safe_close(fd)". */
int safe_close(int fd);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in microseconds. */
usec_t now_monotonic(void);
usec_t now_realtime(void);

/* NULL-terminated string vectors. */
char **strv_free(char **v);
static inline void strv_freep(char ***v)
{
        strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *v);
/* Append a copy of s; -ENOMEM on failure (v left valid). */
int strv_extend(char ***v, const char *s);
/* Append s taking ownership; frees s on failure. Exact size, O(length):
 * for the short vectors a config keeps. */
int strv_push(char ***v, char *s);
/* The same for building a long vector: *n is its length and *cap its room,
 * both kept by the caller; the room doubles, so n pushes cost O(n). */
int strv_append(char ***v, size_t *n, size_t *cap, char *s);
bool strv_equal(char *const *a, char *const *b);
/* True if the NULL-terminated v (may be NULL) holds s. */
bool strv_contains(char *const *v, const char *s);
char **strv_copy(char *const *v);

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

/* True for a non-empty string of ASCII digits only. */
bool string_is_digits(const char *s);

/* ASCII classes, independent of the locale. */
static inline bool ascii_isalnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
static inline bool ascii_isspace(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
/* Cut ASCII blanks off both ends of s in place; returns where s now starts. */
char *string_strip(char *s);

/* Drop "." components and repeated or trailing slashes, in place ("./a//b/"
 * -> "a/b"; "" -> "."). ".." is kept: resolving it needs the file system. */
void path_simplify(char *p);
/* dir + "/" + rel, or rel alone when it is absolute or dir is NULL or empty,
 * simplified; NULL on OOM. */
char *path_join(const char *dir, const char *rel);
/* Directory part of path ("." when there is none, "/" for "/x"); NULL on OOM. */
char *path_dirname(const char *path);

/* Create every missing directory above path (not path itself) with mode. */
int mkdir_parents(const char *path, mode_t mode);
/* mkdir_parents(path, 0755), then path itself with mode; existing ones are fine. */
int mkdir_p(const char *path, mode_t mode);

/* Write all of buf to a blocking fd, retrying on EINTR. */
int loop_write(int fd, const void *buf, size_t len);

/* One datagram of len bytes on sock (to the address to, NULL: connected)
 * with n_fds (at most SEND_FDS_MAX) fds as SCM_RIGHTS, retrying on EINTR;
 * flags as sendmsg's (MSG_NOSIGNAL always). -errno (-EAGAIN when it would
 * block). */
#define SEND_FDS_MAX 4
struct sockaddr;
int send_fds(int sock, const void *buf, size_t len, const int *fds, size_t n_fds, int flags,
             const struct sockaddr *to, unsigned to_len);

/* At most burst events per interval; the rest are counted as suppressed.
 * For logging what others can trigger at will. Zero-initialise, then set
 * interval and burst. */
struct ratelimit {
        usec_t interval;
        unsigned burst;
        usec_t begin;
        unsigned n;
        unsigned suppressed;
};
/* True if this event may be reported; *ret_suppressed is how many were
 * dropped in the window that just ended (to report once, now), else 0. */
bool ratelimit_below(struct ratelimit *rl, usec_t now, unsigned *ret_suppressed);

/* Take an exclusive lock on path (created 0600 if missing, never through a
 * symlink) and return its fd, held for as long as the caller lives; -EBUSY
 * if another process holds it. */
int lockfile_acquire(const char *path);

/* A few fds tendd holds (on /dev/null) so that running out of fds, because
 * services' spawns took them all, never also costs root its control
 * connection: the control socket releases them for a connection it could not
 * set up otherwise, and spawning refills them before it takes any. */
#define FD_RESERVE 8
/* Open what is missing of the reserve: 0 when whole, else -EMFILE (or the error). */
int fd_reserve_fill(void);
/* Close the reserve for a caller that needs fds now; returns how many it freed. */
unsigned fd_reserve_release(void);
