/* keeper.h: the keeper, a small process that holds file descriptors for a
 * standalone tendd, by name, so that they outlive a crash of tendd: each live
 * service's pidfd and the read end of its output pipe. It is what systemd's
 * fd store is under systemd (FDSTORE=1), for a tendd that runs without it.
 *
 * The keeper is a program of its own, tend-keeper (src/keeper-main.c: the C
 * library, libev and the few modules it uses, so it costs a few hundred KiB;
 * tendd --keeper runs the same loop when tend-keeper cannot be found),
 * in a session of its own (a terminal's ^C does not reach it), ignoring
 * SIGINT, SIGHUP and SIGPIPE; SIGTERM makes it let everything go and exit.
 * It listens on a unix socket (SOCK_SEQPACKET, mode 0600) next to tendd's
 * control socket and serves one client at a time: a new connection replaces
 * the one before (the tendd of that one is gone: the control socket's lock
 * admits one tendd at a time), once the requests that one left queued are
 * served (the parks of a tendd that crashed are not lost). A peer whose uid
 * is not the keeper's is refused (and tendd refuses a keeper socket, or a
 * listener, of another uid). When its client goes away without saying bye
 * (tendd crashed), the keeper keeps every fd and waits for the next tendd.
 * Its stdin and stdout are /dev/null, its stderr tendd's (its log lines are
 * "tendd: keeper: ...", to the journal when tendd's go there).
 *
 * The protocol, one request per datagram, the first byte its kind:
 *   'P' NAME   with one fd (SCM_RIGHTS): park it under NAME, replacing (and
 *              closing) what was parked under NAME before;
 *   'U' NAME   unpark: close what is parked under NAME (none: nothing);
 *   'T'        take: the keeper answers with one 'F' NAME datagram per parked
 *              fd, carrying a copy of it, then one 'E'; it keeps its own;
 *   'B'        bye: a clean exit of tendd; the keeper closes everything and
 *              exits.
 * Requests other than 'T' get no answer (the socket keeps their order). NAME
 * is 1 to KEEPER_NAME_MAX bytes of printable ASCII without spaces (0x21 to
 * 0x7e), without a NUL. A malformed request (an unknown kind, a bad name,
 * bytes after 'T' or 'B', a 'P' without exactly one fd, an fd with any other
 * kind, a datagram or its fds cut off) closes that client's connection
 * (logged by the keeper to its stderr), closes the fds that came with it and
 * changes nothing else. The keeper sends each answer of a 'T' blocking, 5 s
 * at most (SO_SNDTIMEO): a client that stops reading is dropped. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEEPER_SOCKET "tendd.keeper"
#define KEEPER_NAME_MAX 255
/* The option of tend-keeper (and of tendd) that runs the keeper, its two fds as 3 and 4. */
#define KEEPER_OPTION "--keeper"

struct keeper;
struct state_reader;
struct state_writer;

/* Connect to the keeper listening at KEEPER_SOCKET in the directory dfd; if
 * none answers there (no socket, or a stale one: it is removed), start one by
 * running exe (normally "/proc/self/exe") with KEEPER_OPTION, listening there.
 * *ret_found: whether a keeper was already running (it may hold fds of a
 * tendd that crashed: keeper_take() them). The connection is blocking for
 * 'T' (with a 5 s timeout) and non-blocking otherwise; close-on-exec. The
 * started keeper is a child of the caller, not waited for (it is reaped as
 * an unknown child when it exits). -ELOOP for a symlink at KEEPER_SOCKET,
 * -ENOTSOCK for anything else there that is no socket (both left alone),
 * -EPERM for a socket or a listener of another uid, -ETIMEDOUT for a keeper
 * that does not accept in 5 s. */
int keeper_open(int dfd, const char *exe, struct keeper **ret, bool *ret_found);

/* Park fd (the caller keeps its own) under name. -EPIPE/-ECONNRESET once the
 * keeper is gone, -EAGAIN if its socket is full (nothing parked then: the
 * socket has room for about 10,000 requests where SO_SNDBUFFORCE is allowed,
 * else what net.core.wmem_max gives), -ETOOMANYREFS if the caller, not
 * privileged, has more fds in flight than its RLIMIT_NOFILE, -EINVAL for a
 * bad name (nothing sent). */
int keeper_park(struct keeper *k, const char *name, int fd);
/* Unpark name. Errors as keeper_park(). */
int keeper_unpark(struct keeper *k, const char *name);

/* Every fd the keeper holds: cb gets each name with a copy of its fd
 * (close-on-exec), which cb owns from then on (keeps or closes). The number
 * handed, or -errno (a keeper that does not answer in time: -ETIMEDOUT; 5 s
 * at most between two answers). An answer whose fd could not be received
 * (-EMFILE) or that is malformed (-EBADMSG) is skipped and that error is
 * returned once the whole answer was read; after any other error the
 * connection is out of step: close it. */
typedef void (*keeper_take_cb)(const char *name, int fd, void *userdata);
int keeper_take(struct keeper *k, keeper_take_cb cb, void *userdata);

/* The connection's fd (for tendd's re-exec: kept across execve). */
int keeper_fd(const struct keeper *k);

/* Disconnect; with bye, the keeper lets everything go and exits first (a
 * clean exit of tendd): this waits (5 s at most) until the keeper has closed
 * every fd it held and its listening socket (a keeper_open() after it starts
 * a new keeper; the socket file stays, removed as stale then). NULL-safe. */
struct keeper *keeper_close(struct keeper *k, bool bye);

/* The connection as state across tendd's re-exec (its fd kept by number). */
int keeper_state_put(const struct keeper *k, struct state_writer *w, uint16_t tag);
/* The connection from what keeper_state_put() wrote (its fd claimed). */
int keeper_state_get(const struct state_reader *v, struct keeper **ret);

/* The keeper's own main (tend-keeper --keeper): listen_fd listening, conn_fd the
 * first client (-1 or not open: none yet). Raises its RLIMIT_NOFILE to the
 * hard limit, moves to "/". Returns the exit code: 0 after bye or SIGTERM
 * (everything closed and freed), 1 if it cannot serve (listen_fd is no
 * listening socket, no memory, poll() failed). */
int keeper_main(int listen_fd, int conn_fd);
