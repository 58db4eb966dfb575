/* state.h: tendd's state across an execve of itself (tendctl reexec), as a
 * tag-length-value encoding in a memfd.
 *
 * A record is a 16-bit tag, a 32-bit length and that many bytes of value,
 * little-endian. A value is a number (8 bytes), a string (its bytes, no NUL
 * inside), raw bytes, or a nested list of records. Readers skip tags they
 * do not know and leave what a record lacks at its default, so a newer
 * binary reads an older state and the other way round; a change of meaning
 * gets a new tag, never a new meaning for an old one. STATE_VERSION changes
 * only when an old reader must refuse the state (it then falls back to
 * adopting the services as after a crash).
 *
 * File descriptors are not in the bytes: they are kept open across execve
 * and the state names them by number. state_put_fd() remembers each one so
 * that state_exec_fds() can clear FD_CLOEXEC on all of them just before the
 * execve; state_get_fd() checks that the number is open in the new image,
 * sets FD_CLOEXEC again and marks it claimed, and state_close_unclaimed()
 * closes every other fd the new image inherited (state_note_inherited()),
 * so nothing leaks across any number of re-executions.
 *
 * Errors are sticky: after a failed put (ENOMEM, a value too long) every
 * later put does nothing and state_writer_finish() returns the error; a
 * reader returns -EBADMSG for a truncated or malformed record. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_MAGIC "tend-state\n"
#ifndef STATE_VERSION /* a test build makes another, to see a refusal */
#define STATE_VERSION 1
#endif
/* The state of 10,000 services is a few MiB; anything larger is refused. */
#define STATE_SIZE_MAX (256U << 20)

struct state_writer {
        char *buf;
        size_t len, cap;
        int error;   /* first error, 0 none */
        int *fds;    /* every fd put, for state_exec_fds() */
        size_t n_fds, cap_fds;
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
/* The magic and version go first; call before any put. */
void state_put_header(struct state_writer *w);
void state_put_u64(struct state_writer *w, uint16_t tag, uint64_t v);
void state_put_i64(struct state_writer *w, uint16_t tag, int64_t v);
void state_put_bool(struct state_writer *w, uint16_t tag, bool v);
/* NULL: nothing is written (the reader keeps its default, NULL). */
void state_put_str(struct state_writer *w, uint16_t tag, const char *s);
void state_put_bytes(struct state_writer *w, uint16_t tag, const void *p, size_t n);
/* A NULL-terminated string array as a nested list of tag-1 strings; NULL:
 * nothing is written (the reader keeps its default), an empty array is an
 * empty list (read back as an empty array, not NULL). */
void state_put_strv(struct state_writer *w, uint16_t tag, char *const *v);
/* An fd to keep across execve (see the top); a negative fd writes nothing. */
void state_put_fd(struct state_writer *w, uint16_t tag, int fd);
/* A nested list: state_begin() returns a mark that state_end() closes. */
size_t state_begin(struct state_writer *w, uint16_t tag);
void state_end(struct state_writer *w, size_t mark);
/* Record a caller's own failure while putting (a negative errno) as w's
 * error unless it has one already, so that state_writer_finish() reports it. */
void state_writer_fail(struct state_writer *w, int error);
/* 0, or the first error of any put; -EINVAL if an fd was put twice (the new
 * image could not claim it twice). */
int state_writer_finish(struct state_writer *w);

/* Write the state into a new memfd (sealed, position 0, without
 * FD_CLOEXEC); its fd or -errno, the error of state_writer_finish() first.
 * The state is at most STATE_SIZE_MAX: a put beyond fails with -E2BIG. */
int state_writer_memfd(struct state_writer *w);
/* Clear FD_CLOEXEC on every fd put; -errno on the first failure. */
int state_exec_fds(const struct state_writer *w);

struct state_reader {
        const char *p; /* the record's value (or the whole state's body) */
        size_t len;
};

/* Map the memfd fd and check magic and version: 0 and *ret spans the body;
 * -EPROTO for another version, -EBADMSG for anything else wrong (not sealed
 * against shrinking, too small, larger than STATE_SIZE_MAX), -errno when fd
 * cannot be looked at or mapped. *map and *map_len are for state_unmap()
 * (NULL and 0 on failure). Closes fd. */
int state_open(int fd, struct state_reader *ret, void **map, size_t *map_len);
void state_unmap(void *map, size_t map_len);

/* The next record of r: 1 (*tag, *value set, r advanced), 0 at the end,
 * -EBADMSG when the rest is not a whole record. */
int state_next(struct state_reader *r, uint16_t *tag, struct state_reader *value);
/* A value as a type; -EBADMSG if it is not one. */
int state_get_u64(const struct state_reader *v, uint64_t *ret);
int state_get_i64(const struct state_reader *v, int64_t *ret);
int state_get_bool(const struct state_reader *v, bool *ret);
/* A new string (strdup); -EBADMSG if it holds a NUL, -ENOMEM. */
int state_get_str(const struct state_reader *v, char **ret);
/* A new NULL-terminated array. */
int state_get_strv(const struct state_reader *v, char ***ret);
/* An inherited fd: open in this image, FD_CLOEXEC set again, claimed;
 * -EBADMSG for a number claimed before, -EBADF if it is not open. */
int state_get_fd(const struct state_reader *v, int *ret);
/* Note the fds open now (call first thing in the new image, before
 * anything else opens one): the ones the previous image left. */
void state_note_inherited(void);
/* Close every fd state_note_inherited() noted above 2 that no
 * state_get_fd() claimed, except keep (-1: none), and forget the claims.
 * state_open() claims the state's own fd, which it closes. */
void state_close_unclaimed(int keep);
