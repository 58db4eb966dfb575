/* cglimits.h: a service's cgroup v2 resource limits and accounting. Which
 * controllers a service config's limits need (memory, pids, cpu, io), which
 * ones tend's subtree offers and enabling them for its services
 * (cgroup.subtree_control), writing each limit into the service's own cgroup
 * (memory.max, memory.high, pids.max, cpu.weight, cpu.max, io.weight), and
 * reading back what the service used (cpu.stat, memory.current,
 * memory.events).
 *
 * Everything works on directory fds (O_RDONLY|O_DIRECTORY) the caller owns:
 * tree_dfd is tend's subtree root, unit_dfd one service's cgroup, a direct
 * child of it. Files are opened relative to them, never through a symlink.
 * No global state; never logs: results are -errno, with a one-line
 * "key: reason" where one helps. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Controllers, as bits of one unsigned. */
enum {
        CGLIMITS_MEMORY = 1U << 0,
        CGLIMITS_PIDS = 1U << 1,
        CGLIMITS_CPU = 1U << 2,
        CGLIMITS_IO = 1U << 3,
};
#define CGLIMITS_ALL (CGLIMITS_MEMORY | CGLIMITS_PIDS | CGLIMITS_CPU | CGLIMITS_IO)

/* Room for any reason cglimits_apply() or cglimits_check() writes. */
#define CGLIMITS_WHY_MAX 512

/* "memory", "pids", "cpu", "io" for one CGLIMITS_* bit; NULL for anything else. */
const char *cglimits_controller_to_string(unsigned controller);

/* The controllers sc's set limits need (memory_max, memory_high: memory;
 * tasks_max: pids; cpu_weight, cpu_max: cpu; io_weight: io). */
unsigned cglimits_needed(const struct service_config *sc);

/* The controllers tend's services may get: those listed in the subtree
 * root's cgroup.controllers (what its parent enabled for it). Other
 * controllers (hugetlb, ...) are ignored. */
int cglimits_available(int tree_dfd, unsigned *ret);

/* Enable want & available (cglimits_available()) for the subtree root's
 * children: one write of "+NAME" per controller to its
 * cgroup.subtree_control, so that one refused controller does not stop the
 * others. *ret_enabled is what cgroup.subtree_control lists afterwards (of
 * the four), set whenever it could be read, even if a write failed. Returns
 * 0, the first refused write's error (-EBUSY: the root holds processes
 * itself, which cgroup v2 forbids once it hands controllers down), or the
 * error reading cgroup.controllers or cgroup.subtree_control. Writes only
 * what is not enabled yet, so calling it again (on reload) is cheap. */
int cglimits_enable(int tree_dfd, unsigned want, unsigned *ret_enabled);

/* For tendd --check and for deciding before a spawn: 0 when every set limit
 * of sc has its controller in available; else -EOPNOTSUPP with why (if not
 * NULL) holding one clause per such key, "; "-separated, e.g.
 * "memory_max: the memory controller is not available in tend's cgroup". */
int cglimits_check(const struct service_config *sc, unsigned available, char *why, size_t why_len);

/* Write sc's limits into the service's cgroup, each key to its file:
 * memory_max -> memory.max, memory_high -> memory.high (bytes or "max"),
 * tasks_max -> pids.max (N or "max"), cpu_weight -> cpu.weight (N),
 * cpu_max -> cpu.max ("QUOTA 100000" or "max 100000"), io_weight ->
 * io.weight ("default N"). A key unset in sc is not written, unless it was
 * set in old (the config the cgroup had, on reload; NULL for a new cgroup):
 * then the kernel's default is written back (max, 100, "max 100000",
 * "default 100"). Each write is one write() on openat(unit_dfd, file,
 * O_WRONLY|O_CLOEXEC|O_NOFOLLOW).
 * Every key is tried; returns 0 or the first failure's -errno with why
 * (if not NULL) saying which key and why:
 *   -ENOENT: the file is missing, so the controller is not there:
 *     "memory_max: the memory controller is not available in tend's cgroup
 *     (cgroup.controllers: hugetlb)" (read from unit_dfd's parent), or
 *     "... is not enabled for tend's services (cgroup.subtree_control: cpu)",
 *     or "io_weight: the io controller is enabled but this kernel has no
 *     io.weight" (io.weight needs blk-iocost);
 *   else the kernel refused the value: "cpu_max: writing '50000 100000' to
 *     cpu.max failed: Invalid argument". */
int cglimits_apply(int unit_dfd, const struct service_config *old, const struct service_config *sc,
                   char *why, size_t why_len);

/* Not known: the file is missing (its controller is not enabled) or lacks the field. */
#define CGLIMITS_UNKNOWN UINT64_MAX

/* What a service's cgroup used, each CGLIMITS_UNKNOWN when not known. */
struct cglimits_usage {
        uint64_t cpu_usec;     /* cpu.stat usage_usec (there without the cpu controller) */
        uint64_t memory_bytes; /* memory.current */
        uint64_t oom_kills;    /* memory.events oom_kill: processes the OOM killer killed */
};

/* Read the usage of the service's cgroup. A missing file leaves its fields
 * unknown; other read errors are returned. */
int cglimits_usage(int unit_dfd, struct cglimits_usage *ret);

/* True if the OOM killer killed a process of the cgroup since *counter
 * (memory.events oom_kill, the count last seen: 0 for a new cgroup), which
 * it then updates. False when the count is not known (no memory
 * controller): *counter is then CGLIMITS_UNKNOWN, and a caller need not ask
 * again until the controller may have come. For an exit reason such as "killed by the OOM killer
 * (memory_max)". */
bool cglimits_oom_killed(int unit_dfd, uint64_t *counter);
