/* notify.h: the sd_notify server for services. One datagram socket; every
 * type=notify service gets its path as NOTIFY_SOCKET. Each datagram is
 * attributed by the kernel-reported sender (SO_PASSPIDFD's pidfd where the
 * kernel has it, SO_PASSCRED otherwise): it counts only if the sender is in the
 * session the service's spawned process created, checked through the pidfd so
 * a reused pid cannot pass. Anything else is dropped. Passed fds (BARRIER=1)
 * are closed after the message was handled, which is what the barrier waits for.
 *
 * Across a re-execution of tendd (state.h) the bound socket is kept open by
 * number: datagrams sent meanwhile wait in its queue for the new image, and
 * services keep the NOTIFY_SOCKET path they were given. */
#pragma once

#include "manager.h"
#include "service.h"

struct notify;
struct state_reader;
struct state_writer;

/* Bind path (stale socket replaced, mode 0666: access is decided per message)
 * and watch it in m's loop. Sets m->notify_path. */
int notify_new(struct manager *m, const char *path, struct notify **ret);
struct notify *notify_free(struct notify *n);

/* Put n into w under tag: the socket (kept across execve) and its path. n is
 * unchanged and keeps serving; -errno only for an error of w. */
int notify_state_put(const struct notify *n, struct state_writer *w, uint16_t tag);
/* As notify_new() on the socket a previous image put (v: the tag's value):
 * nothing bound or unlinked, the inherited socket claimed and watched, its
 * path the one services were given. -EBADMSG for a malformed value,
 * -ENOTSOCK when the fd is not a unix datagram socket. */
int notify_new_from_state(struct manager *m, const struct state_reader *v, struct notify **ret);
/* The same for a socket the tendd before parked outside (a crash: fdstore.h):
 * fd (taken) must be a unix datagram socket bound to path, the path services
 * are given now; else -ENOTSOCK or -EADDRNOTAVAIL (and fd closed). What
 * services sent meanwhile waits in it. */
int notify_new_from_fd(struct manager *m, int fd, const char *path, struct notify **ret);
/* The socket n reads (to park it outside tendd). */
int notify_fd(const struct notify *n);

/* Parse one datagram (newline-separated KEY=VALUE) into msg; msg->status points
 * into buf, which is modified. Unknown keys are ignored, as systemd does.
 * -EINVAL for a message with no valid assignment. */
int notify_parse(char *buf, size_t len, struct service_notify_msg *msg);

/* Default path: next to the control socket, "notify.sock". */
int notify_default_path(const char *control_socket, char **ret);
