/* closer.h: closing fds that tendd received from others. close() is the last
 * reference's release and can sleep for as long as the sender chose: a TCP
 * socket with SO_LINGER and unsent data, a file on a FUSE mount whose daemon
 * does not answer its flush. Such fds are closed by worker threads off the
 * event loop (as systemd's asynchronous_close()); anonymous pipes, which
 * cannot block, are closed at once. */
#pragma once

#include <stddef.h>

/* Close fd (taking ownership) without ever blocking the caller. */
void closer_close(int fd);

/* Fds handed over and not closed yet (queued or in a worker's close()). */
size_t closer_pending(void);

/* Wait until every handed-over fd is closed (tests, exit). */
void closer_drain(void);
