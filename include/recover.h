/* recover.h: what lets a tendd started after a crash of the previous one
 * (kill -9, a fatal bug; not a re-exec, not a clean exit) take over the
 * services that are still running instead of starting a second copy of each.
 *
 * tendd keeps a small file, RECOVER_FILE, next to its control socket (mode
 * 0600, opened through a descriptor of that directory, never following a
 * link): the identity of the main process of every live service (pid, pidfs
 * inode and device of a pidfd for it, start time) and of the process tendd
 * spawned if MAINPID= moved the main process away from it. It is text, one
 * record a line, appended as services change (at most one write per loop
 * iteration, from an ev_prepare, only when something changed) and rewritten
 * whole (a temporary file renamed over it) at the first iteration and
 * whenever the records appended outgrow the live ones. Never fsync'd: it
 * is for a crash of tendd, not of the machine, and the page cache outlives
 * tendd. A change made in the iteration tendd dies in is lost: a service
 * spawned then is not adopted (and starts a second time).
 *
 *     tendd-recover 1
 *     + NAME PID INO DEV START LEADER_PID LEADER_INO LEADER_DEV LEADER_START
 *     - NAME
 *
 * "+" records NAME's processes (LEADER_PID 0: no leader apart from the main
 * process), "-" says NAME has none; the last record of a name counts. A line
 * that is not one of these, or not whole (a write cut by the crash), is
 * skipped.
 *
 * At a start that is not a re-exec, recover_adopt() reads the file and, for
 * each service of the config named in it, opens a pidfd for the pid and
 * compares the identity: only the same process is adopted (the service is
 * running, with that pidfd; see service_adopt()); anything else is left
 * alone, with a warning that names the pid and why. A clean exit (nothing
 * live) removes the file. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "parse.h"
#include "pidfd.h"

struct manager;
struct recover;

#define RECOVER_FILE "tendd.state"
#define RECOVER_MAGIC "tendd-recover 1\n"
/* Larger files are refused unread. */
#define RECOVER_SIZE_MAX (16U << 20)

/* One service as the file has it. */
struct recover_record {
        char name[SERVICE_NAME_MAX + 1];
        struct pidfd_id main;
        struct pidfd_id leader; /* pid 0: none */
};

/* The records of a whole file, in buf (not NUL-terminated), replayed: the
 * last "+" of each name still in effect, in the order names first came.
 * -EBADMSG: not such a file (no header); *ret_bad counts the lines skipped. */
int recover_parse(const char *buf, size_t len, struct recover_record **ret, size_t *ret_n,
                  size_t *ret_bad);
/* The "+" line of r into buf (with its newline); its length, or -ENOBUFS. */
int recover_format(char *buf, size_t len, const struct recover_record *r);

/* Keep the file for m's services in the directory of m's control socket:
 * a listener of m from now on, writing at most once per loop iteration. */
int recover_new(struct manager *m, struct recover **ret);
/* Adopt the services the file names (m's services are created, not yet
 * started); warns about each one it cannot. The number adopted. */
size_t recover_adopt(struct recover *rc);
/* Write what is pending now (before an execve). */
void recover_flush(struct recover *rc);
/* Stop listening; remove the file if no service is live (a clean exit). NULL-safe. */
struct recover *recover_free(struct recover *rc);
