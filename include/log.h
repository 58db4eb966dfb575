/* log.h: tendd's own log. Lines go to stderr as "tendd: message", or, once
 * log_open() found stderr to be the journal stream systemd gave us
 * ($JOURNAL_STREAM), to the journal with structured fields: MESSAGE,
 * PRIORITY, SYSLOG_IDENTIFIER=tendd, ERRNO when there is one, TEND_SERVICE=name
 * for lines about a service. Only layers that decide what to do log; lower
 * layers return -errno.
 *
 * Logging never waits for a reader: stderr is written through a
 * non-blocking description of its own (a pipe, FIFO or terminal is opened
 * again through /proc/self/fd/2; a socket gets send(MSG_DONTWAIT); fd 2's
 * own description, shared with our parent, is left as it is), and the
 * journal through its native socket without waiting. Lines a full stderr
 * cannot take wait in a 64 KiB buffer, written as soon as there is room
 * (an ev_io on the loop given to log_set_loop()); beyond that, and when
 * journald's queue is full, lines are dropped and counted, and the next
 * line that gets through is preceded by "tendd: N log lines dropped". */
#pragma once

#include <syslog.h>

#include "util.h"

struct ev_loop;

/* Pick the target: the journal when under systemd, else stderr. */
void log_open(void);
/* Write lines that wait for room from this loop; NULL before it is destroyed. */
void log_set_loop(struct ev_loop *loop);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Log at a syslog level; returns -abs(err) so callers can "return log_error_errno(r, ...)". */
int log_full_errno(int level, int err, const char *fmt, ...) _printf_(3, 4);
/* Log a message about one service: "name: message". */
void log_service(int level, const char *name, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
