/* spawn.h: starting one child process. spawn_child() clones with
 * clone3(CLONE_PIDFD|CLONE_VFORK, vfork-style with CLONE_VM on a stack of its
 * own where it can), sets the child up (signals, session, fds, umask, workdir,
 * rlimits, groups/gid/uid, environment) and execs. The parent
 * learns of any failure in the child synchronously, with the errno and the
 * step that failed, so an exec error never looks like a crash of the program.
 * spawn_prepare() resolves a service_config into spawn_params in the parent
 * (user lookup, environment) because the child may only use
 * async-signal-safe calls. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

struct spawn_params {
        char *path; /* argv[0] resolved against the base PATH */
        char **argv;
        char **envp;
        char *workdir; /* "/" unless configured */
        bool umask_set;
        mode_t umask;
        bool set_ids;
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        size_t n_groups;
        struct config_rlimit limits[_LIMIT_MAX];
        bool no_new_privs;
        /* The child's stdout and stderr, or -1 for /dev/null; pass_fd below
         * too. Each must be a blocking file: the child shares the open file
         * description, and with it O_NONBLOCK. */
        int stdout_fd;
        int stderr_fd;
        int cgroup_fd; /* -1: tendd's own cgroup; else CLONE_INTO_CGROUP */
        int pass_fd;        /* handed to the child as pass_fd_target (ready_fd) ... */
        int pass_fd_target; /* ... when >= 3; 0: nothing passed */
        char *pid_env_slot; /* space in an envp string the child fills with its pid */
};

/* Build params for sc. Fails with -errno and a static-or-allocated reason in
 * *ret_reason (caller frees) when the user/group is unknown at runtime or the
 * environment file cannot be read. Output fds are left at -1. */
int spawn_prepare(const struct service_config *sc, struct spawn_params *ret, char **ret_reason);
/* The same for another command line of the service (a hook, a probe: see
 * command.h): argv instead of sc->argv, everything else as for the service. */
int spawn_prepare_argv(const struct service_config *sc, char *const *argv, struct spawn_params *ret,
                       char **ret_reason);
void spawn_params_done(struct spawn_params *p);

/* Clone and exec. On success returns 0 with the child's pid and pidfd (CLOEXEC).
 * If the child failed before or at exec, it has been reaped already and the
 * child's -errno is returned with *ret_step naming the step ("exec", "setuid",
 * "chdir", ...). Other -errno: clone3 itself failed (*ret_step = "clone3"). */
int spawn_child(const struct spawn_params *p, pid_t *ret_pid, int *ret_pidfd, const char **ret_step);

/* Once, before the first spawn, in tendd: it ignores no signal, so that no
 * child inherits an ignored one and the child resets only its mask, not 64
 * dispositions. SIGPIPE and SIGXFSZ (a write to a vanished peer or past
 * RLIMIT_FSIZE must fail with EPIPE or EFBIG, not kill tendd) and every signal
 * tendd inherited ignored are blocked instead and set back to SIG_DFL: an
 * inherited SIGCHLD ignore would have the kernel reap children behind tendd's
 * back. tendd must not ignore a signal afterwards. */
int spawn_signals_setup(void);

/* tendd's own user's passwd entry (HOME, USER, SHELL of services without
 * user=) is read at the first spawn; this makes the next spawn read it again
 * (on reload). */
void spawn_forget_self(void);

/* The minimal base environment children get, for uid/home/shell/name. */
int spawn_base_environment(const char *user, const char *home, const char *shell, char ***ret);
