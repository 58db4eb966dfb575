/* output.h: where a service's stdout and stderr go, one struct output per
 * service (created at its first spawn, freed with it).
 *
 *   journal  two sd_journal_stream_fd() sockets (stdout at LOG_INFO, stderr at
 *            LOG_WARNING, "<N>" level prefixes honoured) handed to the child:
 *            journald reads them, tendd copies nothing. If journald cannot be
 *            reached the service falls back to file, reported once.
 *   file     one pipe for stdout and stderr (their relative order is kept);
 *            tendd reads it non-blocking in the loop and appends each line to
 *            log_dir/NAME.log behind an RFC 3339 UTC timestamp, rotating to
 *            NAME.log.1 .. NAME.log.<log_keep> before a line would take the file
 *            past log_max_size (0: never rotate), moving only the rotated
 *            files that exist.
 *
 * Files tendd writes as root: log_dir is opened once as a directory fd (shared
 * by every output, reopened when a reload changes it or it was removed), found
 * by a walk from / that checks each directory as sshd's StrictModes does (owned
 * by root or tendd's user, not writable by group or others unless sticky) and
 * follows only links root or tendd's user own; anything else refuses log_dir.
 * NAME.log is opened in it with O_NOFOLLOW, created 0640 (less the umask) by
 * tendd's user, and written only if it is a regular file of tendd's user with
 * one link; rotation renames and removes inside the same fd. An inotify watch
 * (IN_ATTRIB) on each open log file closes it as soon as its last link is
 * gone, so a deleted file's space comes back without waiting for a line.
 *   console  the same pipe; each line goes to tendd's stdout as "NAME: line".
 *   null     /dev/null.
 *
 * Backpressure: each pipe is read at most OUTPUT_READ_MAX bytes per loop
 * iteration, so a flooding service is slowed to the rate tendd writes (its
 * write blocks while its pipe is full) and never starves the loop or other
 * services. Nothing is buffered beyond one partial line per pipe and one write
 * buffer per service. A write that fails (full disk, deleted or unwritable
 * log dir, console that would block) drops the lines it carried: the failure
 * is logged once, the lines are counted, and the count is logged when writing
 * works again; a refused log_dir or log file is reported the same way. The log
 * file is reopened (log_dir recreated) at the next line after it was deleted.
 * Lines longer than OUTPUT_LINE_MAX are split.
 *
 * A pipe is read until EOF, also after the service exited, so its last output
 * is never lost; output_free() drains what is left without blocking.
 *
 * Across a re-execution of tendd (state.h) an output keeps its pipes: each
 * read end is kept open by number with its unfinished line, in order, and
 * what the pipe still holds stays in it for the new image to read, so no
 * line is lost, split or written twice. The log file is not kept: the new
 * image opens it again at the next line, through the same checks as any
 * open (log_dir walked again, NAME.log appended to), which finds it where
 * it is, or a new one if it was deleted or rotated away meanwhile. Nothing
 * is buffered in between: every entry point writes its lines out before it
 * returns. */
#pragma once

#include "config.h"

#define OUTPUT_LINE_MAX (16 * 1024)
#define OUTPUT_READ_MAX (64 * 1024)

struct ev_loop;
struct output;
struct state_reader;
struct state_writer;

/* What an output reads of its service, at each use (a reload may swap the
 * config or move log_dir); borrowed: the service outlives its output. */
struct output_owner {
        const char *name;
        struct ev_loop *loop;
        const char *const *log_dir;           /* where file logs go */
        struct service_config *const *config; /* the config in effect */
};

/* The mode for services that set none: journal when tendd runs under systemd
 * (booted with systemd, started by it: JOURNAL_STREAM or INVOCATION_ID set)
 * and journald's stream socket is there, else file. Decided once. */
enum output_mode output_default_mode(void);
/* Decide the default instead (tendd --console: console); before the first spawn. */
void output_set_default_mode(enum output_mode mode);
/* The mode a service with config sc uses: its configured one, else the default. */
enum output_mode output_mode_of(const struct service_config *sc);
/* The mode its output o (NULL: none yet) actually went to at the last spawn:
 * as output_mode_of(), except file when journald could not be reached. */
enum output_mode output_mode_in_use(const struct output *o, const struct service_config *sc);

/* A new output for the service owner describes (copied). */
int output_new(const struct output_owner *owner, struct output **ret);
/* Drain every pipe without blocking, write what was read, close. NULL-safe. */
struct output *output_free(struct output *o);

/* The child's stdout and stderr for the next spawn of o's service: -1 for
 * /dev/null, else fds the caller closes after the spawn (*ret_err may equal
 * *ret_out). Only a pipe that cannot be made is an error (-errno): a log file
 * that cannot be written is not, its lines are dropped and reported. */
int output_open(struct output *o, int *ret_out, int *ret_err);
/* The same for an auxiliary command of the service (a hook, a probe: see
 * command.h) while its main process may run: the lines go where the
 * service's go, and the main process's pipe stays the current one. */
int output_open_aux(struct output *o, int *ret_out, int *ret_err);

/* The read end of the pipe o's service got at its last spawn while tendd
 * still reads it (to park it outside tendd across a crash: fdstore.h); -1
 * when that spawn had none (journal, null) or it was read to its end. */
int output_pipe_fd(const struct output *o);
/* Read the pipe read end fd (taken) as the pipe of o's service's current
 * spawn: what a tendd before this one left (a crash: fdstore.h). Lines go
 * on to where o's config sends them (file, or console); the first may be
 * the rest of a line that began in the tendd before. -EBADF: not a pipe
 * (closed). */
int output_adopt(struct output *o, int fd);

/* Put o into w as a nested list under tag: its pipes (read ends kept across
 * execve, newest first, each with its unfinished line), its mode, its
 * failure counters. o is unchanged and stays usable; -errno only for an
 * error of w (sticky there too). */
int output_state_put(const struct output *o, struct state_writer *w, uint16_t tag);
/* A new output for owner (copied) from v, the value output_state_put()
 * wrote: its pipes claimed and watched in owner->loop. Unknown records are
 * skipped; -EBADMSG for a malformed one, -EBADF for a pipe not inherited. */
int output_state_get(const struct output_owner *owner, const struct state_reader *v,
                     struct output **ret);
