/* control.h: the control API. D-Bus served with sd-bus on a private unix socket
 * (peer to peer, no bus daemon), every connection integrated in the libev loop.
 * Object WIRE_PATH, interface WIRE_INTERFACE (names in wire.h):
 *   ListServices() -> aa{sv}         GetService(s) -> a{sv}
 *   ListServicesCompact() -> a(...)  (WIRE_SERVICE_SIGNATURE)
 *   StartService(s) -> s             StopService(s) -> s
 *   RestartService(s) -> s           KillService(si)
 *   StartServices(ast) -> a(ss)      StopServices(ast) -> a(ss)
 *   RestartServices(ast) -> a(ss)
 *   Reload()                         Reexec()
 *   signal ServiceStateChanged(sss): name, state, reason
 * Start/Stop/Restart reply once the target state is reached (the reply carries
 * the state reached) or fail with WIRE_ERROR_FAILED naming the service and
 * the reason; a call flagged no-reply-expected returns at once. The
 * *Services methods do the same for many names in one call (flags: wire.h's
 * WIRE_MANY_*): every name is looked up first, and one unknown fails the
 * call with all of them listed and nothing done; then every request is made
 * in one pass, in dependency order, and the call waits (one waiter, however
 * many names) until each service is decided: the reply lists each name with
 * the state it reached, a failure lists every "NAME: reason", one a line.
 * WIRE_MANY_NO_BLOCK answers once the requests are made. A service is
 * the record of WIRE_SERVICE_FIELDS: a dict of its fields by member name, or
 * in the compact listing a struct of them in table order.
 * ServiceStateChanged is sent at once for every change of state, in order;
 * updates within a state (STATUS= text, a new reason) are coalesced to at most
 * one signal per service per CONTROL_STATUS_INTERVAL_USEC, the latest always
 * sent.
 *
 * Reexec() calls the callback control_set_reexec() gave (from the loop),
 * which re-executes tendd; without one it fails with WIRE_ERROR_FAILED. It
 * is not answered when it works: the caller's connection is kept through
 * the execve, which closes it (close-on-exec), and that is the caller's
 * sign that the new image runs. If the execve fails, tendd calls
 * control_reexec_failed() and the caller gets that error.
 * Across the re-execution the listening socket is kept open by number
 * (control_state_put, control_new_from_state): a client that connects
 * meanwhile waits in its backlog and is served by the new image. Open
 * connections are closed, calls still waiting failed first; a client
 * connects again.
 *
 * Authorization, from the peer's credentials at connect time (SO_PEERCRED,
 * SO_PEERGROUPS): whoever the socket's mode and group let connect may read;
 * changing state (Start, Stop, Restart, Kill, Reload, Reexec) needs uid 0,
 * tendd's own uid, or membership (primary or supplementary) of socket_group
 * when one is configured.
 *
 * Limits: at most CONTROL_CONNECTIONS_MAX connections, of which
 * CONTROL_CONNECTIONS_RESERVED only root and tendd's uid may use, and
 * CONTROL_CONNECTIONS_PER_UID per other uid; when the table is full, root or
 * tendd's uid takes the place of the oldest connection of another user. What a
 * client sends goes through tendd's own relay before sd-bus sees it: the
 * handshake is at most CONTROL_AUTH_MAX bytes, a message at most
 * CONTROL_MESSAGE_MAX (checked on its header, before any of it is buffered),
 * no fds. A connection that has not finished its handshake, or that sits in
 * the middle of a message, for CONTROL_STALL_TIMEOUT_USEC is dropped; one idle
 * between messages (a client waiting for signals) stays. A client that sends
 * junk, vanishes or never reads is dropped, never waited for. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "manager.h"
#include "util.h"
#include "wire.h"

#define CONTROL_CONNECTIONS_MAX 256
#define CONTROL_CONNECTIONS_RESERVED 32
#define CONTROL_CONNECTIONS_PER_UID 16
#define CONTROL_AUTH_MAX 4096
#define CONTROL_MESSAGE_MAX WIRE_MESSAGE_MAX
#define CONTROL_STALL_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define CONTROL_STATUS_INTERVAL_USEC (100 * USEC_PER_MSEC)

struct control;
struct state_reader;
struct state_writer;

/* Bind and listen on path (parent directory created 0755, stale socket
 * replaced, mode/group applied) and install the manager's state hook. */
int control_new(struct manager *m, const char *path, mode_t mode, const char *group,
                struct control **ret);
/* Closes every connection and unlinks the socket. NULL-safe. */
struct control *control_free(struct control *c);

/* What Reexec() runs once its reply is out: fn(userdata), from the loop
 * (never inside a call's handling). NULL: Reexec() fails. */
void control_set_reexec(struct control *c, void (*fn)(void *userdata), void *userdata);
/* The re-execution did not happen (err, why): the Reexec call waiting is
 * answered with it. */
void control_reexec_failed(struct control *c, int err, const char *why);
/* Put c into w under tag for a re-execution: the listening socket (kept
 * across execve), its path and socket_group's gid. Calls still waiting are
 * failed ("tendd is re-executing"; their requests stand) and every
 * connection is closed; c keeps listening. -errno only for an error of w. */
int control_state_put(struct control *c, struct state_writer *w, uint16_t tag);
/* As control_new() on the socket a previous image put (v: the tag's value):
 * nothing bound, chmod'ed or unlinked, the inherited socket claimed and its
 * backlog served; the path and group are the previous image's (a changed
 * socket_path or socket_group takes effect at a restart, as with a reload).
 * -EBADMSG for a malformed value, -ENOTSOCK when the fd is not a listening
 * unix stream socket (it is closed then, the path left alone). */
int control_new_from_state(struct manager *m, const struct state_reader *v, struct control **ret);

/* Serve fd, a connected stream socket, as accept() would have handed it over
 * (tests and the fuzzer use a socketpair). Takes fd; 0 also when the limits
 * refuse it (closed then). */
int control_attach(struct control *c, int fd);
/* Open connections. */
unsigned control_connections(const struct control *c);

/* The D-Bus framing of what a client sends, checked as it arrives: the SASL
 * handshake (a NUL, then CRLF lines up to BEGIN), then messages whose size
 * is known from their 16-byte fixed header. */
enum control_frame_state {
        CONTROL_FRAME_NUL,
        CONTROL_FRAME_AUTH,
        CONTROL_FRAME_HEADER,
        CONTROL_FRAME_BODY,
};

struct control_frame {
        enum control_frame_state state;
        size_t auth_len;  /* handshake bytes so far */
        size_t line_len;  /* bytes of the current handshake line */
        char line[6];     /* its start: "BEGIN\r" ends the handshake */
        bool cr;          /* the last byte was a CR */
        uint8_t header[16];
        size_t header_len;
        uint64_t left; /* bytes of the current message still to come */
};

/* Check n more bytes: the number of messages they complete (the handshake
 * counts as one), -EBADMSG (not D-Bus), -EMSGSIZE (over a limit). */
int control_frame_feed(struct control_frame *f, const uint8_t *p, size_t n);
/* Handshake done and nothing half-sent. */
bool control_frame_idle(const struct control_frame *f);

/* What a pending Start/Stop/Restart call waits for. */
enum control_op { CONTROL_OP_START, CONTROL_OP_STOP, CONTROL_OP_RESTART, _CONTROL_OP_MAX };
enum control_verdict { CONTROL_WAIT, CONTROL_DONE, CONTROL_FAIL };

/* Decide a pending call from the service's current fields alone (state,
 * restart_on_exit, last exit, type): answered, failed, or keep waiting. */
enum control_verdict control_evaluate(enum control_op op, const struct service *s);
