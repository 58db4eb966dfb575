/* state.c: tendd's state across an execve of itself, as tag-length-value
 * records in a sealed memfd (see state.h for the format and the rules a
 * reader follows). Every number is written byte by byte, little-endian, so
 * the bytes mean the same whatever the compiler does with a struct. */
#include <assert.h>
#include <dirent.h>
#include <stdlib.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "state.h"
#include "util.h"

#define STATE_MAGIC_LEN (sizeof(STATE_MAGIC) - 1)
#define STATE_HEADER_LEN (STATE_MAGIC_LEN + 4)
#define STATE_RECORD_HEAD 6 /* tag, length */
#define STATE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

static void state_le16(char *p, uint16_t v)
{
        p[0] = (char)(v & 0xff);
        p[1] = (char)(v >> 8);
}

static void state_le32(char *p, uint32_t v)
{
        for (unsigned i = 0; i < 4; i++)
                p[i] = (char)(v >> (8 * i));
}

static void state_le64(char *p, uint64_t v)
{
        for (unsigned i = 0; i < 8; i++)
                p[i] = (char)(v >> (8 * i));
}

static uint64_t state_read_le(const char *p, unsigned n)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t)(unsigned char)p[i] << (8 * i);
        return v;
}

/* Zero: an empty writer with no error. */
void state_writer_init(struct state_writer *w)
{
        *w = (struct state_writer){};
}

/* Free what w holds and leave it empty; the fds put are not closed (they
 * belong to whoever put them). */
void state_writer_free(struct state_writer *w)
{
        free(w->buf);
        free(w->fds);
        state_writer_init(w);
}

/* See state.h. */
void state_writer_fail(struct state_writer *w, int error)
{
        assert(error < 0);
        if (!w->error)
                w->error = error;
}

/* Room for n more bytes at the end of w: where to write them, or NULL with
 * the error set. The whole state stays within STATE_SIZE_MAX, what a reader
 * accepts: a state that cannot be read is refused before the execve. */
static char *state_grow(struct state_writer *w, size_t n)
{
        char *p;

        if (w->error)
                return NULL;
        if (n > STATE_SIZE_MAX - w->len) {
                state_writer_fail(w, -E2BIG);
                return NULL;
        }
        if (w->len + n > w->cap) {
                size_t cap = w->cap ? w->cap : 4096;

                while (cap < w->len + n)
                        cap *= 2;
                p = realloc(w->buf, cap);
                if (!p) {
                        state_writer_fail(w, -ENOMEM);
                        return NULL;
                }
                w->buf = p;
                w->cap = cap;
        }
        p = w->buf + w->len;
        w->len += n;
        return p;
}

/* See state.h. */
void state_put_header(struct state_writer *w)
{
        char *p = state_grow(w, STATE_HEADER_LEN);

        if (!p)
                return;
        memcpy(p, STATE_MAGIC, STATE_MAGIC_LEN);
        state_le32(p + STATE_MAGIC_LEN, STATE_VERSION);
}

/* One record: tag, length, the n bytes at v. */
static void state_put_record(struct state_writer *w, uint16_t tag, const void *v, size_t n)
{
        char *p;

        if (n > UINT32_MAX) {
                state_writer_fail(w, -E2BIG);
                return;
        }
        p = state_grow(w, STATE_RECORD_HEAD + n);
        if (!p)
                return;
        state_le16(p, tag);
        state_le32(p + 2, (uint32_t)n);
        if (n > 0)
                memcpy(p + STATE_RECORD_HEAD, v, n);
}

/* See state.h. */
void state_put_u64(struct state_writer *w, uint16_t tag, uint64_t v)
{
        char b[8];

        state_le64(b, v);
        state_put_record(w, tag, b, sizeof b);
}

/* Two's complement in the same 8 bytes. */
void state_put_i64(struct state_writer *w, uint16_t tag, int64_t v)
{
        state_put_u64(w, tag, (uint64_t)v);
}

/* A number, 0 or 1. */
void state_put_bool(struct state_writer *w, uint16_t tag, bool v)
{
        state_put_u64(w, tag, v ? 1 : 0);
}

/* See state.h. */
void state_put_str(struct state_writer *w, uint16_t tag, const char *s)
{
        if (s)
                state_put_record(w, tag, s, strlen(s));
}

/* See state.h. */
void state_put_bytes(struct state_writer *w, uint16_t tag, const void *p, size_t n)
{
        state_put_record(w, tag, p, n);
}

/* See state.h. */
void state_put_strv(struct state_writer *w, uint16_t tag, char *const *v)
{
        size_t mark;

        if (!v)
                return;
        mark = state_begin(w, tag);
        for (; *v; v++)
                state_put_str(w, 1, *v);
        state_end(w, mark);
}

/* See state.h. */
void state_put_fd(struct state_writer *w, uint16_t tag, int fd)
{
        if (fd < 0 || w->error)
                return;
        if (w->n_fds == w->cap_fds) {
                size_t cap = w->cap_fds ? 2 * w->cap_fds : 16;
                int *fds = realloc(w->fds, cap * sizeof *fds);

                if (!fds) {
                        state_writer_fail(w, -ENOMEM);
                        return;
                }
                w->fds = fds;
                w->cap_fds = cap;
        }
        w->fds[w->n_fds++] = fd;
        state_put_u64(w, tag, (uint64_t)fd);
}

/* The mark is where the value starts; the length before it is patched by
 * state_end(). 0 once w has failed (state_end() then does nothing). */
size_t state_begin(struct state_writer *w, uint16_t tag)
{
        char *p = state_grow(w, STATE_RECORD_HEAD);

        if (!p)
                return 0;
        state_le16(p, tag);
        state_le32(p + 2, 0);
        return w->len;
}

/* See state.h. */
void state_end(struct state_writer *w, size_t mark)
{
        if (w->error)
                return;
        assert(mark >= STATE_RECORD_HEAD && mark <= w->len);
        if (w->len - mark > UINT32_MAX) {
                state_writer_fail(w, -E2BIG);
                return;
        }
        state_le32(w->buf + mark - 4, (uint32_t)(w->len - mark));
}

static int state_int_cmp(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;

        return (x > y) - (x < y);
}

/* Also refuses an fd put twice: the new image could claim it only once, so
 * such a state would be refused after the execve, too late to keep the old
 * image running. */
int state_writer_finish(struct state_writer *w)
{
        if (w->error || w->n_fds < 2)
                return w->error;
        qsort(w->fds, w->n_fds, sizeof *w->fds, state_int_cmp);
        for (size_t i = 1; i < w->n_fds; i++)
                if (w->fds[i] == w->fds[i - 1])
                        state_writer_fail(w, -EINVAL);
        return w->error;
}

/* Not MFD_CLOEXEC: the memfd is how the state crosses the execve. Children
 * spawned meanwhile never see it: spawn.c marks every fd above 2 close on
 * exec in the child. */
int state_writer_memfd(struct state_writer *w)
{
        _cleanup_close_ int fd = -1;
        int r;

        r = state_writer_finish(w);
        if (r < 0)
                return r;
        fd = memfd_create("tend-state", MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, w->buf, w->len);
        if (r < 0)
                return r;
        if (fcntl(fd, F_ADD_SEALS, STATE_SEALS) < 0)
                return -errno;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* See state.h. */
int state_exec_fds(const struct state_writer *w)
{
        for (size_t i = 0; i < w->n_fds; i++) {
                int flags = fcntl(w->fds[i], F_GETFD);

                if (flags < 0)
                        return -errno;
                if ((flags & FD_CLOEXEC) && fcntl(w->fds[i], F_SETFD, flags & ~FD_CLOEXEC) < 0)
                        return -errno;
        }
        return 0;
}

/* Sets of fd numbers, one bit per fd: O(1) per fd for any number of fds.
 * The numbers are of fds open in this process, so a set is at most a bit
 * per fd the limit allows. */
struct state_fdset {
        uint64_t *bits;
        size_t words;
};

/* The fds state_get_fd() claimed, and those the previous image left
 * (state_note_inherited()). */
static struct state_fdset state_claimed, state_inherited;

static bool state_fdset_has(const struct state_fdset *set, int fd)
{
        size_t i = (size_t)fd / 64;

        return fd >= 0 && i < set->words && (set->bits[i] >> (fd % 64) & 1);
}

static int state_fdset_add(struct state_fdset *set, int fd)
{
        size_t i = (size_t)fd / 64;

        if (i >= set->words) {
                size_t n = i + 1 > 2 * set->words ? i + 1 : 2 * set->words;
                uint64_t *b = realloc(set->bits, n * sizeof *b);

                if (!b)
                        return -ENOMEM;
                memset(b + set->words, 0, (n - set->words) * sizeof *b);
                set->bits = b;
                set->words = n;
        }
        set->bits[i] |= UINT64_C(1) << (fd % 64);
        return 0;
}

static void state_fdset_clear(struct state_fdset *set)
{
        free(set->bits);
        *set = (struct state_fdset){};
}

/* The memfd must be sealed against shrinking: a mapping of a file that can
 * shrink under it would kill tendd with SIGBUS instead of failing a read. */
int state_open(int fd_in, struct state_reader *ret, void **map, size_t *map_len)
{
        _cleanup_close_ int fd = fd_in; /* closed whatever happens */
        struct stat st;
        size_t size;
        int seals, r = 0;
        char *p;

        /* Its number may come back for another fd: never closed again by
         * state_close_unclaimed(). */
        if (fd_in >= 0)
                (void)state_fdset_add(&state_claimed, fd_in);
        *map = NULL;
        *map_len = 0;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size < (off_t)STATE_HEADER_LEN ||
            st.st_size > (off_t)STATE_SIZE_MAX)
                return -EBADMSG;
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_WRITE)) != (F_SEAL_SHRINK | F_SEAL_WRITE))
                return -EBADMSG; /* nobody may change it under the reader either */
        size = (size_t)st.st_size;
        p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        if (memcmp(p, STATE_MAGIC, STATE_MAGIC_LEN) != 0)
                r = -EBADMSG;
        else if (state_read_le(p + STATE_MAGIC_LEN, 4) != STATE_VERSION)
                r = -EPROTO;
        if (r < 0) {
                (void)munmap(p, size);
                return r;
        }
        *ret = (struct state_reader){ p + STATE_HEADER_LEN, size - STATE_HEADER_LEN };
        *map = p;
        *map_len = size;
        return 0;
}

/* NULL (a failed state_open()) is fine. */
void state_unmap(void *map, size_t map_len)
{
        if (map)
                (void)munmap(map, map_len);
}

/* See state.h. r is left as it was on -EBADMSG. */
int state_next(struct state_reader *r, uint16_t *tag, struct state_reader *value)
{
        uint64_t n;

        if (r->len == 0)
                return 0;
        if (r->len < STATE_RECORD_HEAD)
                return -EBADMSG;
        n = state_read_le(r->p + 2, 4);
        if (n > r->len - STATE_RECORD_HEAD)
                return -EBADMSG;
        *tag = (uint16_t)state_read_le(r->p, 2);
        *value = (struct state_reader){ r->p + STATE_RECORD_HEAD, (size_t)n };
        r->p += STATE_RECORD_HEAD + n;
        r->len -= STATE_RECORD_HEAD + n;
        return 1;
}

/* See state.h. */
int state_get_u64(const struct state_reader *v, uint64_t *ret)
{
        if (v->len != 8)
                return -EBADMSG;
        *ret = state_read_le(v->p, 8);
        return 0;
}

/* See state.h. */
int state_get_i64(const struct state_reader *v, int64_t *ret)
{
        uint64_t u;
        int r = state_get_u64(v, &u);

        if (r < 0)
                return r;
        *ret = (int64_t)u;
        return 0;
}

/* Anything but 0 or 1 is not a bool written by state_put_bool(). */
int state_get_bool(const struct state_reader *v, bool *ret)
{
        uint64_t u;
        int r = state_get_u64(v, &u);

        if (r < 0)
                return r;
        if (u > 1)
                return -EBADMSG;
        *ret = u == 1;
        return 0;
}

/* See state.h. */
int state_get_str(const struct state_reader *v, char **ret)
{
        char *s;

        if (memchr(v->p, 0, v->len))
                return -EBADMSG;
        s = strndup(v->p, v->len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* Records of other tags than 1 are skipped, as anywhere else. */
int state_get_strv(const struct state_reader *v, char ***ret)
{
        _cleanup_strv_free_ char **l = NULL;
        struct state_reader r = *v, value;
        size_t n = 0, cap = 0;
        uint16_t tag;
        int k;

        l = calloc(1, sizeof *l); /* an empty list is an empty array, never NULL */
        if (!l)
                return -ENOMEM;
        while ((k = state_next(&r, &tag, &value)) > 0) {
                char *s;

                if (tag != 1)
                        continue;
                k = state_get_str(&value, &s);
                if (k >= 0)
                        k = strv_append(&l, &n, &cap, s);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(l);
        return 0;
}

/* See state.h. */
int state_get_fd(const struct state_reader *v, int *ret)
{
        uint64_t n;
        int fd, flags, r;

        r = state_get_u64(v, &n);
        if (r < 0)
                return r;
        if (n > INT_MAX)
                return -EBADMSG;
        fd = (int)n;
        if (state_fdset_has(&state_claimed, fd))
                return -EBADMSG;
        flags = fcntl(fd, F_GETFD);
        if (flags < 0)
                return -errno;
        if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                return -errno;
        r = state_fdset_add(&state_claimed, fd);
        if (r < 0)
                return r;
        *ret = fd;
        return 0;
}

/* See state.h. Out of memory, fewer are noted: they stay open. */
void state_note_inherited(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char *end;
                long fd = strtol(de->d_name, &end, 10);

                if (end != de->d_name && *end == '\0' && fd > 2 && fd != dirfd(d) &&
                    fd <= INT_MAX)
                        (void)state_fdset_add(&state_inherited, (int)fd);
        }
        closedir(d);
}

/* See state.h. The claims end here: the sets are emptied for the next
 * restore. */
void state_close_unclaimed(int keep)
{
        for (size_t i = 0; i < state_inherited.words; i++)
                for (uint64_t m = state_inherited.bits[i]; m; m &= m - 1) {
                        int fd = (int)(i * 64 + (unsigned)__builtin_ctzll(m));

                        if (fd != keep && !state_fdset_has(&state_claimed, fd))
                                (void)close(fd);
                }
        state_fdset_clear(&state_inherited);
        state_fdset_clear(&state_claimed);
}
