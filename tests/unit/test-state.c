/* test-state.c: the state encoding (state.h): every type written and read
 * back through a real memfd, the exact bytes, nested lists, unknown tags,
 * every truncation, the header checks, sticky errors, and fds kept across
 * a (simulated) execve, claimed, and the unclaimed closed. */
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "state.h"
#include "tap.h"
#include "util.h"

#define HEADER_LEN 15 /* "tend-state\n" and the version */

enum {
        T_U64 = 1,
        T_U64_MAX,
        T_I64_MIN,
        T_I64_NEG,
        T_TRUE,
        T_FALSE,
        T_STR,
        T_STR_EMPTY,
        T_STR_NULL,
        T_BYTES,
        T_BYTES_EMPTY,
        T_STRV,
        T_STRV_EMPTY,
        T_STRV_NULL,
        T_LIST,
        T_INNER,
        T_LAST = 0xfffe,
};

static const char bytes[] = { 0, 1, 2, (char)0xff, 0, 'x' };
static char *const strv[] = { "one", "", "three words", NULL };
static char *const strv_empty[] = { NULL };

/* A memfd holding the n bytes at p, sealed against shrinking if seal. */
static int memfd_with(const void *p, size_t n, bool seal)
{
        int fd = memfd_create("test-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        if (fd < 0 || loop_write(fd, p, n) < 0 ||
            (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)) {
                perror("memfd");
                exit(EXIT_FAILURE);
        }
        return fd;
}

/* One of each type, a nested list inside a nested list, and the absent ones. */
static void put_all(struct state_writer *w)
{
        size_t outer, inner;

        state_put_header(w);
        state_put_u64(w, T_U64, 0x0102030405060708ULL);
        state_put_u64(w, T_U64_MAX, UINT64_MAX);
        state_put_i64(w, T_I64_MIN, INT64_MIN);
        state_put_i64(w, T_I64_NEG, -2);
        state_put_bool(w, T_TRUE, true);
        state_put_bool(w, T_FALSE, false);
        state_put_str(w, T_STR, "hello");
        state_put_str(w, T_STR_EMPTY, "");
        state_put_str(w, T_STR_NULL, NULL);
        state_put_bytes(w, T_BYTES, bytes, sizeof bytes);
        state_put_bytes(w, T_BYTES_EMPTY, NULL, 0);
        state_put_strv(w, T_STRV, strv);
        state_put_strv(w, T_STRV_EMPTY, strv_empty);
        state_put_strv(w, T_STRV_NULL, NULL);
        outer = state_begin(w, T_LIST);
        state_put_u64(w, 1, 42);
        inner = state_begin(w, T_INNER);
        state_put_str(w, 1, "deep");
        state_end(w, inner);
        inner = state_begin(w, T_INNER); /* empty */
        state_end(w, inner);
        state_put_i64(w, 2, -42);
        state_end(w, outer);
        state_put_u64(w, T_LAST, 7);
}

/* The state put_all() wrote, read back from its memfd. */
static void check_all(struct state_reader *body)
{
        struct state_reader r = *body, v, list, inner;
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *s = NULL;
        uint64_t u = 0;
        int64_t i = 0;
        bool b = false;
        uint16_t tag;

        ok(state_next(&r, &tag, &v) == 1 && tag == T_U64 && state_get_u64(&v, &u) == 0 &&
                   u == 0x0102030405060708ULL,
           "u64");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_U64_MAX && state_get_u64(&v, &u) == 0 &&
                   u == UINT64_MAX,
           "u64 max");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_I64_MIN && state_get_i64(&v, &i) == 0 &&
                   i == INT64_MIN,
           "i64 min");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_I64_NEG && state_get_i64(&v, &i) == 0 &&
                   i == -2,
           "i64 negative");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_TRUE && state_get_bool(&v, &b) == 0 && b,
           "bool true");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_FALSE && state_get_bool(&v, &b) == 0 && !b,
           "bool false");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_STR && state_get_str(&v, &s) == 0 &&
                   strcmp(s, "hello") == 0,
           "string");
        free(TAKE_PTR(s));
        ok(state_next(&r, &tag, &v) == 1 && tag == T_STR_EMPTY && state_get_str(&v, &s) == 0 &&
                   strcmp(s, "") == 0,
           "empty string (not NULL)");
        free(TAKE_PTR(s));
        /* The NULL string wrote nothing: bytes come next. */
        ok(state_next(&r, &tag, &v) == 1 && tag == T_BYTES && v.len == sizeof bytes &&
                   memcmp(v.p, bytes, sizeof bytes) == 0,
           "NULL string writes nothing; bytes with NULs");
        ok(state_get_str(&v, &s) == -EBADMSG && !s, "a string holding a NUL is refused");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_BYTES_EMPTY && v.len == 0, "no bytes");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_STRV && state_get_strv(&v, &l) == 0 &&
                   strv_equal(l, strv) && strv_length(l) == 3,
           "string array");
        l = strv_free(l);
        ok(state_next(&r, &tag, &v) == 1 && tag == T_STRV_EMPTY && state_get_strv(&v, &l) == 0 &&
                   l && !l[0],
           "empty string array: empty, not NULL");
        l = strv_free(l);
        ok(state_next(&r, &tag, &list) == 1 && tag == T_LIST, "NULL array writes nothing; a list");
        ok(state_next(&list, &tag, &v) == 1 && tag == 1 && state_get_u64(&v, &u) == 0 && u == 42,
           "list: first");
        ok(state_next(&list, &tag, &inner) == 1 && tag == T_INNER &&
                   state_next(&inner, &tag, &v) == 1 && tag == 1 && state_get_str(&v, &s) == 0 &&
                   strcmp(s, "deep") == 0 && state_next(&inner, &tag, &v) == 0,
           "list: nested list");
        free(TAKE_PTR(s));
        ok(state_next(&list, &tag, &inner) == 1 && tag == T_INNER && inner.len == 0 &&
                   state_next(&inner, &tag, &v) == 0,
           "list: empty nested list");
        ok(state_next(&list, &tag, &v) == 1 && tag == 2 && state_get_i64(&v, &i) == 0 && i == -42,
           "list: after the nested lists");
        ok(state_next(&list, &tag, &v) == 0, "list: end");
        ok(state_next(&r, &tag, &v) == 1 && tag == T_LAST && state_get_u64(&v, &u) == 0 && u == 7,
           "after the list");
        ok(state_next(&r, &tag, &v) == 0 && state_next(&r, &tag, &v) == 0, "end, and it stays");
}

static void test_round_trip(void)
{
        struct state_writer w;
        struct state_reader body;
        void *map = NULL;
        size_t map_len = 0;
        int fd, flags, r;

        state_writer_init(&w);
        put_all(&w);
        ok(state_writer_finish(&w) == 0, "finish: no error");
        fd = state_writer_memfd(&w);
        if (!ok(fd >= 0, "memfd (%s)", strerror(-fd)))
                return;
        flags = fcntl(fd, F_GETFD);
        ok(flags >= 0 && !(flags & FD_CLOEXEC), "memfd survives execve (no FD_CLOEXEC)");
        ok(fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
           "memfd sealed");
        ok(lseek(fd, 0, SEEK_CUR) == 0, "memfd at position 0");
        ok(write(fd, "x", 1) < 0 && errno == EPERM, "memfd cannot be written");
        r = state_open(fd, &body, &map, &map_len);
        ok(r == 0 && map && map_len == w.len && body.len == w.len - HEADER_LEN,
           "open: body spans the rest");
        ok(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "open closes the memfd");
        if (r == 0)
                check_all(&body);
        state_unmap(map, map_len);
        state_writer_free(&w);
        ok(!w.buf && w.len == 0 && !w.fds, "free empties the writer");
}

/* Little-endian, byte for byte. */
static void test_bytes(void)
{
        static const char want[] = "tend-state\n\x01\x00\x00\x00"
                                   "\x34\x12\x08\x00\x00\x00\x08\x07\x06\x05\x04\x03\x02\x01"
                                   "\x02\x00\x0f\x00\x00\x00"
                                   "\x01\x00\x03\x00\x00\x00"
                                   "abc"
                                   "\x01\x00\x00\x00\x00\x00"
                                   "\xff\xff\x08\x00\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff";
        char *const v[] = { "abc", "", NULL };
        struct state_writer w;

        state_writer_init(&w);
        state_put_header(&w);
        state_put_u64(&w, 0x1234, 0x0102030405060708ULL);
        state_put_strv(&w, 2, v);
        state_put_i64(&w, 0xffff, -2);
        ok(state_writer_finish(&w) == 0 && w.len == sizeof want - 1 &&
                   memcmp(w.buf, want, w.len) == 0,
           "exact bytes: header, u64, string array, i64");
        state_writer_free(&w);
}

/* A reader skips what it does not know, nested lists whole. */
static void test_unknown_tags(void)
{
        char *const v[] = { "a", "b", NULL };
        _cleanup_strv_free_ char **l = NULL;
        struct state_reader r, value;
        struct state_writer w;
        size_t mark, inner;
        uint64_t u = 0;
        uint16_t tag;
        unsigned steps = 0;
        bool found = false;

        state_writer_init(&w);
        state_put_u64(&w, 900, 1);
        mark = state_begin(&w, 901);
        state_put_u64(&w, 5, 666); /* the known tag, but inside an unknown list */
        state_end(&w, mark);
        state_put_u64(&w, 5, 55);
        state_put_str(&w, 902, "later");
        /* A string array with records of other tags in it. */
        mark = state_begin(&w, 6);
        state_put_str(&w, 1, "a");
        state_put_u64(&w, 2, 3);
        inner = state_begin(&w, 3);
        state_put_str(&w, 1, "not in the array");
        state_end(&w, inner);
        state_put_str(&w, 1, "b");
        state_end(&w, mark);
        ok(state_writer_finish(&w) == 0, "written");

        r = (struct state_reader){ w.buf, w.len };
        while (state_next(&r, &tag, &value) == 1) {
                steps++;
                if (tag == 5 && !found)
                        found = state_get_u64(&value, &u) == 0;
                if (tag == 6)
                        (void)state_get_strv(&value, &l);
        }
        ok(found && u == 55 && steps == 5, "unknown records and lists skipped whole (%u steps)",
           steps);
        ok(strv_equal(l, v), "a string array skips records other than tag 1");
        state_writer_free(&w);
}

/* Every record of r and of its nested lists (each value tried as a list):
 * 0, or -EBADMSG at the first that is not whole. */
static int walk(struct state_reader r, unsigned depth)
{
        struct state_reader v;
        uint16_t tag;
        int k;

        while ((k = state_next(&r, &tag, &v)) > 0) {
                uint64_t u;
                char *s;

                if (v.len > 0 && depth < 4)
                        (void)walk(v, depth + 1);
                if (state_get_u64(&v, &u) < 0 && v.len == 8)
                        return -EIO;
                if (state_get_str(&v, &s) == 0)
                        free(s);
        }
        return k;
}

/* Cut at every byte: a clean end exactly at a record boundary, else
 * -EBADMSG, never a read past the end (ASan). */
static void test_truncated(void)
{
        struct state_writer w;
        size_t boundaries[32], n_boundaries = 0, bad = 0, open_bad = 0;

        state_writer_init(&w);
        put_all(&w);
        if (!ok(state_writer_finish(&w) == 0, "written"))
                return;
        /* The top-level boundaries, from a walk of the whole. */
        {
                struct state_reader r = { w.buf + HEADER_LEN, w.len - HEADER_LEN }, v;
                uint16_t tag;

                boundaries[n_boundaries++] = 0;
                while (state_next(&r, &tag, &v) == 1 && n_boundaries < ELEMENTSOF(boundaries))
                        boundaries[n_boundaries++] = w.len - HEADER_LEN - r.len;
        }
        for (size_t cut = 0; cut < w.len - HEADER_LEN; cut++) {
                /* A copy of exactly cut bytes, so ASan sees any read past it. */
                char *copy = malloc(cut ? cut : 1);
                bool boundary = false;
                int k;

                memcpy(copy, w.buf + HEADER_LEN, cut);
                for (size_t i = 0; i < n_boundaries; i++)
                        boundary |= boundaries[i] == cut;
                k = walk((struct state_reader){ copy, cut }, 0);
                if (k != (boundary ? 0 : -EBADMSG)) {
                        diag("cut at %zu: %d", cut, k);
                        bad++;
                }
                free(copy);
        }
        ok(bad == 0, "every cut of %zu bytes: a clean end at the %zu boundaries, else -EBADMSG",
           w.len - HEADER_LEN, n_boundaries);

        for (size_t cut = 0; cut <= w.len; cut++) {
                struct state_reader body;
                void *map;
                size_t map_len;
                int k = state_open(memfd_with(w.buf, cut, true), &body, &map, &map_len);

                if (k != (cut < HEADER_LEN ? -EBADMSG : 0) ||
                    (k == 0 && body.len != cut - HEADER_LEN))
                        open_bad++;
                state_unmap(map, map_len);
        }
        ok(open_bad == 0, "a memfd cut anywhere: -EBADMSG below the header, else a shorter body");
        state_writer_free(&w);
}

static void test_bad_values(void)
{
        static const char seven[7], two[8] = { 2 }, nul[] = { 'a', 0, 'b' };
        static const char list_cut[] = { 1, 0, 5, 0, 0, 0, 'a' }; /* says 5, has 1 */
        char **l = NULL;
        uint64_t u;
        int64_t i;
        bool b;
        char *s = NULL;
        int fd;

        ok(state_get_u64(&(struct state_reader){ seven, 7 }, &u) == -EBADMSG &&
                   state_get_i64(&(struct state_reader){ seven, 7 }, &i) == -EBADMSG &&
                   state_get_bool(&(struct state_reader){ seven, 7 }, &b) == -EBADMSG,
           "a number of 7 bytes is refused");
        ok(state_get_bool(&(struct state_reader){ two, 8 }, &b) == -EBADMSG, "bool 2 is refused");
        ok(state_get_str(&(struct state_reader){ nul, 3 }, &s) == -EBADMSG && !s,
           "string with a NUL refused");
        ok(state_get_strv(&(struct state_reader){ list_cut, sizeof list_cut }, &l) == -EBADMSG &&
                   !l,
           "string array with a cut record refused");
        ok(state_get_fd(&(struct state_reader){ seven, 7 }, &fd) == -EBADMSG,
           "an fd of 7 bytes refused");
        {
                char big[8];

                memset(big, 0xff, sizeof big);
                big[7] = 0;
                ok(state_get_fd(&(struct state_reader){ big, 8 }, &fd) == -EBADMSG,
                   "an fd number above INT_MAX refused");
        }
}

/* What state_open() refuses, and with which error. */
static void test_open_errors(void)
{
        struct state_writer w;
        struct state_reader body;
        void *map = (void *)1;
        size_t map_len = 1;
        int p[2], fd;
        char *bad;

        state_writer_init(&w);
        put_all(&w);
        (void)state_writer_finish(&w);
        bad = malloc(w.len);
        memcpy(bad, w.buf, w.len);

        bad[HEADER_LEN - 4] = 2;
        ok(state_open(memfd_with(bad, w.len, true), &body, &map, &map_len) == -EPROTO && !map &&
                   map_len == 0,
           "version 2: -EPROTO");
        bad[HEADER_LEN - 4] = 0;
        bad[HEADER_LEN - 1] = 1; /* version 1 << 24 */
        ok(state_open(memfd_with(bad, w.len, true), &body, &map, &map_len) == -EPROTO,
           "version 1 << 24: -EPROTO");
        memcpy(bad, w.buf, w.len);
        bad[0] = 'T';
        ok(state_open(memfd_with(bad, w.len, true), &body, &map, &map_len) == -EBADMSG,
           "bad magic: -EBADMSG");
        bad[0] = 't';
        bad[10] = 0;
        ok(state_open(memfd_with(bad, w.len, true), &body, &map, &map_len) == -EBADMSG,
           "magic without its newline: -EBADMSG");
        ok(state_open(memfd_with(w.buf, w.len, false), &body, &map, &map_len) == -EBADMSG,
           "a memfd that may shrink under the mapping: -EBADMSG");
        fd = memfd_with(w.buf, w.len, false);
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
                perror("F_ADD_SEALS");
        ok(state_open(fd, &body, &map, &map_len) == -EBADMSG,
           "a memfd that may still be written: -EBADMSG");

        fd = memfd_with(w.buf, w.len, false);
        if (ftruncate(fd, (off_t)STATE_SIZE_MAX + 1) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_WRITE) < 0)
                perror("ftruncate");
        ok(state_open(fd, &body, &map, &map_len) == -EBADMSG, "larger than STATE_SIZE_MAX");
        fd = memfd_with(w.buf, w.len, false);
        if (ftruncate(fd, (off_t)STATE_SIZE_MAX) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_WRITE) < 0)
                perror("ftruncate");
        ok(state_open(fd, &body, &map, &map_len) == 0 && body.len == STATE_SIZE_MAX - HEADER_LEN,
           "exactly STATE_SIZE_MAX is read");
        state_unmap(map, map_len);

        if (pipe2(p, O_CLOEXEC) == 0) {
                ok(state_open(p[0], &body, &map, &map_len) == -EBADMSG, "a pipe: -EBADMSG");
                ok(fcntl(p[0], F_GETFD) < 0, "and it is closed");
                close(p[1]);
        }
        ok(state_open(-1, &body, &map, &map_len) == -EBADF, "no fd: -EBADF");
        free(bad);
        state_writer_free(&w);
}

/* The first error sticks: later puts do nothing, finish and memfd return it. */
static void test_sticky_errors(void)
{
        size_t huge = (size_t)UINT32_MAX + 1;
        struct state_writer w;
        void *big;
        size_t len;

        /* Readable zeroes, never touched: a length is checked before any copy,
         * but a test must not depend on that. */
        big = mmap(NULL, huge, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (big == MAP_FAILED) {
                ok(1, "# SKIP no address space for 4 GiB");
                return;
        }

        state_writer_init(&w);
        state_put_header(&w);
        state_put_u64(&w, 1, 1);
        len = w.len;
        state_put_bytes(&w, 2, big, huge);
        ok(w.error == -E2BIG && w.len == len, "a value longer than UINT32_MAX: -E2BIG");
        state_put_u64(&w, 3, 3);
        state_put_str(&w, 3, "x");
        ok(state_begin(&w, 4) == 0, "begin after an error");
        state_end(&w, 0);
        state_put_fd(&w, 5, 0);
        state_writer_fail(&w, -ENOMEM);
        ok(w.len == len && w.n_fds == 0, "later puts do nothing");
        ok(state_writer_finish(&w) == -E2BIG && state_writer_memfd(&w) == -E2BIG,
           "finish and memfd return the first error");
        state_writer_free(&w);

        state_writer_init(&w);
        state_put_header(&w);
        state_put_bytes(&w, 2, big, STATE_SIZE_MAX - HEADER_LEN - 6);
        ok(w.error == 0 && w.len == STATE_SIZE_MAX, "a state of exactly STATE_SIZE_MAX");
        state_put_bool(&w, 3, true);
        ok(state_writer_finish(&w) == -E2BIG && w.len == STATE_SIZE_MAX,
           "a byte beyond STATE_SIZE_MAX: -E2BIG (no reader would take it)");
        state_writer_free(&w);
        (void)munmap(big, huge);

        state_writer_init(&w);
        state_writer_fail(&w, -EIO);
        state_writer_fail(&w, -ENOMEM);
        ok(state_writer_finish(&w) == -EIO, "a caller's failure sticks, the first one");
        state_writer_free(&w);

        state_writer_init(&w);
        state_put_fd(&w, 1, 0);
        state_put_fd(&w, 2, 1);
        state_put_fd(&w, 3, 0);
        ok(state_writer_finish(&w) == -EINVAL, "an fd put twice: -EINVAL before the execve");
        state_writer_free(&w);
}

/* state_get_fd() on a record naming fd. */
static int get_fd_number(int fd, int *ret)
{
        char b[8];

        for (unsigned i = 0; i < sizeof b; i++)
                b[i] = (char)((uint64_t)fd >> (8 * i));
        return state_get_fd(&(struct state_reader){ b, sizeof b }, ret);
}

static bool fd_open(int fd)
{
        return fcntl(fd, F_GETFD) >= 0;
}

static bool fd_cloexec(int fd)
{
        int flags = fcntl(fd, F_GETFD);

        return flags >= 0 && (flags & FD_CLOEXEC);
}

/* What the child below found, one flag per check, in order. */
static const char *const fd_checks[] = {
        "state_exec_fds clears FD_CLOEXEC on every fd put",
        "a negative fd writes nothing",
        "the new image reads the same numbers",
        "get_fd sets FD_CLOEXEC again",
        "an fd claimed twice: -EBADMSG",
        "an fd that is not open: -EBADF",
        "close_unclaimed keeps the claimed fds",
        "close_unclaimed keeps what this image opened after state_note_inherited",
        "close_unclaimed keeps keep",
        "close_unclaimed keeps 0-2",
        "close_unclaimed closes the unclaimed: pipe ends, one between claims, one far above",
        "the claims are forgotten: the same number can be claimed by the next restore",
};

/* Put fds, "exec" (clear FD_CLOEXEC, then read the state as the new image
 * would), claim them and close the rest: in a child, since it closes every
 * fd it did not claim. The results go back through keep. */
static void fd_child(int keep)
{
        bool res[ELEMENTSOF(fd_checks)] = {};
        int claimed[] = { 40, 41, 90 }, unclaimed[] = { 42, 60, 1000 };
        int p[2], q[2], got[ELEMENTSOF(claimed)], fd, own, flags_ok = 1, k = 0;
        struct state_writer w;
        struct state_reader body, v;
        void *map;
        size_t map_len;
        uint16_t tag;
        unsigned i = 0, n = 0;

        if (pipe2(p, O_CLOEXEC) < 0 || pipe2(q, O_CLOEXEC) < 0)
                _exit(2);
        for (unsigned j = 0; j < ELEMENTSOF(claimed); j++)
                if (dup3(p[0], claimed[j], O_CLOEXEC) < 0 ||
                    dup3(p[1], unclaimed[j], O_CLOEXEC) < 0)
                        _exit(3);

        state_writer_init(&w);
        state_put_header(&w);
        for (unsigned j = 0; j < ELEMENTSOF(claimed); j++) {
                state_put_fd(&w, 1, claimed[j]);
                state_put_fd(&w, 2, -1);
        }
        fd = state_writer_memfd(&w);
        if (fd < 0 || state_exec_fds(&w) < 0)
                _exit(4);
        /* Here the new image would begin: all of the above is inherited. */
        state_note_inherited();
        for (unsigned j = 0; j < ELEMENTSOF(claimed); j++)
                flags_ok &= !fd_cloexec(claimed[j]);
        res[i++] = flags_ok && fd_cloexec(unclaimed[0]);
        state_writer_free(&w);

        if (state_open(fd, &body, &map, &map_len) < 0)
                _exit(5);
        while (state_next(&body, &tag, &v) == 1) {
                if (tag != 1 || n >= ELEMENTSOF(got))
                        k = -1;
                else if (k >= 0)
                        k = state_get_fd(&v, &got[n++]);
        }
        res[i++] = k == 0 && n == ELEMENTSOF(claimed);
        res[i++] = n == 3 && got[0] == 40 && got[1] == 41 && got[2] == 90;
        res[i++] = fd_cloexec(40) && fd_cloexec(41) && fd_cloexec(90);
        res[i++] = get_fd_number(41, &fd) == -EBADMSG;
        res[i++] = get_fd_number(43, &fd) == -EBADF;
        state_unmap(map, map_len);

        own = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the new image's own */
        state_close_unclaimed(keep);
        res[i++] = fd_open(40) && fd_open(41) && fd_open(90);
        res[i++] = own >= 0 && fd_open(own);
        res[i++] = fd_open(keep);
        res[i++] = fd_open(0) && fd_open(1) && fd_open(2);
        res[i++] = !fd_open(p[0]) && !fd_open(p[1]) && !fd_open(q[0]) && !fd_open(q[1]) &&
                   !fd_open(42) && !fd_open(60) && !fd_open(1000);
        res[i++] = get_fd_number(41, &fd) == 0 && fd == 41;
        _exit(loop_write(keep, res, sizeof res) < 0 ? 6 : 0);
}

static void test_fds(void)
{
        bool res[ELEMENTSOF(fd_checks)] = {};
        int p[2], status = -1;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return;
        pid = fork();
        if (pid == 0) {
                /* keep: 50, between the claims (40, 41 ... 90). */
                if (dup3(p[1], 50, O_CLOEXEC) < 0)
                        _exit(1);
                fd_child(50);
        }
        close(p[1]);
        ok(read(p[0], res, sizeof res) == sizeof res, "the child reports");
        close(p[0]);
        (void)waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child exits 0 (status %d)", status);
        for (size_t i = 0; i < ELEMENTSOF(fd_checks); i++)
                ok(res[i], "%s", fd_checks[i]);
}

/* keep above every claim, none claimed, keep -1. */
static void test_close_unclaimed_edges(void)
{
        int p[2], status = -1;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return;
        pid = fork();
        if (pid == 0) {
                bool good;

                /* Nothing noted yet: this only forgets the claims of the
                 * tests before (state_open() claims its fd). */
                state_close_unclaimed(-1);
                if (dup3(p[1], 700, 0) < 0 || dup3(p[1], 5, 0) < 0)
                        _exit(1);
                state_note_inherited();
                state_close_unclaimed(700);
                good = fd_open(700) && !fd_open(5) && !fd_open(p[0]) && !fd_open(p[1]);
                state_note_inherited();
                state_close_unclaimed(-1);
                good = good && !fd_open(700) && fd_open(2);
                _exit(good ? 0 : 1);
        }
        close(p[0]);
        close(p[1]);
        (void)waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "nothing claimed: only keep (above) survives; keep -1: nothing above 2");
}

int main(void)
{
        test_round_trip();
        test_bytes();
        test_unknown_tags();
        test_truncated();
        test_bad_values();
        test_open_errors();
        test_sticky_errors();
        test_fds();
        test_close_unclaimed_edges();
        return tap_done();
}
