/* tendd: the supervisor daemon. Runs in the foreground. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cglimits.h"
#include "cgroup.h"
#include "config-keys.h"
#include "config.h"
#include "control.h"
#include "exitwith.h"
#include "keeper.h"
#include "log.h"
#include "manager.h"
#include "output.h"
#include "sdnotify.h"
#include "spawn.h"
#include "notify.h"
#include "recover.h"
#include "fdstore.h"
#include "state.h"

/* SYSCONFDIR/tend/tend.ini, from meson.build. */
#ifndef TEND_DEFAULT_CONFIG
#define TEND_DEFAULT_CONFIG "/etc/tend/tend.ini"
#endif

/* tendd's notify socket in the fd store, beside the services' fds. */
#define TENDD_NOTIFY_FDNAME "tendd.notify"

static void tendd_help(void)
{
        printf("Usage: tendd [-c|--config FILE] [--check] [--exit-with NAME] [--console]\n"
               "\n"
               "Supervise the services defined in FILE (default %s) and the\n"
               "services directory it names. Runs in the foreground.\n"
               "\n"
               "  -c, --config FILE    daemon configuration\n"
               "      --check          validate the configuration and exit (0 ok, 1 errors)\n"
               "      --exit-with NAME when service NAME ends, stop everything and exit\n"
               "                       with its exit code (128+N if killed by signal N);\n"
               "                       overrides [tend] exit_with\n"
               "      --console        services that set no output write to tendd's stdout\n"
               "                       as 'NAME: line' (the default as PID 1 when stdout\n"
               "                       is a terminal or a pipe)\n"
               "  -h, --help           show this help\n"
               "      --version        show the version\n",
               TEND_DEFAULT_CONFIG);
}

static void tendd_list_key_table(const char *section, const struct config_key *keys, size_t n)
{
        for (size_t i = 0; i < n; i++)
                printf("%s %s%s%s\n", section, keys[i].name, keys[i].def ? " " : "",
                       keys[i].def ? keys[i].def : "");
}

/* --list-keys (for developers, and the test that tend.ini(5) documents every
 * key): "SECTION KEY [DEFAULT]" per line, from the key tables themselves. */
static void tendd_list_keys(void)
{
        tendd_list_key_table("tend", config_keys_tend, config_keys_n_tend);
        tendd_list_key_table("service", config_keys_service, config_keys_n_service);
}

/* fds 0-2 must exist, or the first files we open would become a child's stdio. */
static void tendd_sanitize_stdio(void)
{
        for (int fd = 0; fd <= 2; fd++)
                if (fcntl(fd, F_GETFD) < 0) {
                        int n = open("/dev/null", O_RDWR);
                        if (n >= 0 && n != fd)
                                (void)close(n);
                }
}

/* Services that set no output go to the console when asked (--console), or
 * when tendd is a container's PID 1 whose stdout someone reads (a terminal,
 * a pipe to the container runtime's log): there is no journal, and a log
 * directory inside the container is seen by nobody. */
static void tendd_pick_output(bool console)
{
        struct stat st;

        if (!console && getpid() == 1 && fstat(STDOUT_FILENO, &st) == 0)
                console = isatty(STDOUT_FILENO) || S_ISFIFO(st.st_mode);
        if (console)
                output_set_default_mode(OUTPUT_CONSOLE);
}

/* --exit-with must name a service of the config; reports it if not. */
static bool tendd_check_exit_with(const struct config *c, const char *name)
{
        if (!name || config_find(c, name))
                return true;
        fprintf(stderr, "tendd: --exit-with: no service '%s' in %s\n", name, c->services_dir);
        return false;
}

static void tendd_periodic_cb(struct ev_loop *loop, ev_periodic *w, int revents)
{
}

/* libev wakes at least every 59.7 s to notice wall-clock jumps, unless it
 * watches for them with a timerfd (TFD_TIMER_CANCEL_ON_SET), which it sets up
 * on the first ev_periodic_start. Start and stop one, so an idle tendd
 * sleeps until something happens. */
static void tendd_no_idle_wakeups(struct ev_loop *loop)
{
        ev_periodic p;

        ev_periodic_init(&p, tendd_periodic_cb, 0., 0., NULL);
        ev_periodic_start(loop, &p);
        ev_periodic_stop(loop, &p);
}

/* Each socket tendd binds has a lock next to it (PATH.lock), held for the
 * daemon's life: a second tendd pointed at the same socket, or at another
 * socket in the same directory (they share notify.sock), refuses to start
 * instead of unlinking a live daemon's socket. */
static int tendd_lock_sockets(const char *control_path, const char *notify_path, int locks[2])
{
        const char *paths[2] = { control_path, notify_path };

        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *lock = NULL;
                int r;

                if (asprintf(&lock, "%s.lock", paths[i]) < 0)
                        return log_error_errno(-ENOMEM, "socket lock");
                r = mkdir_parents(lock, 0755);
                if (r >= 0)
                        r = lockfile_acquire(lock);
                if (r == -EBUSY)
                        return log_error_errno(r, "%s is in use by another tendd (%s is locked)",
                                               paths[i], lock);
                if (r < 0)
                        return log_error_errno(r, "locking %s", lock);
                locks[i] = r;
        }
        return 0;
}

/* --check: warn about each service whose resource limits need a controller
 * that tend's cgroup does not offer (or that has no cgroup to go in). Looks
 * only: a configured cgroup that does not exist yet is not made. */
static void tendd_check_limits(const struct config *c)
{
        unsigned needed = 0, available = 0;
        struct cgroup_tree *t = NULL;
        char why[CGLIMITS_WHY_MAX] = "";
        int r = -ENOENT;

        for (size_t i = 0; i < c->n_services; i++)
                needed |= cglimits_needed(c->services[i]);
        if (needed == 0)
                return;
        if (!c->cgroup_path || access(c->cgroup_path, F_OK) == 0)
                r = cgroup_tree_open(c->cgroup_path, &t, why, sizeof why);
        else
                (void)snprintf(why, sizeof why, "%s does not exist yet (tendd makes it)",
                               c->cgroup_path);
        if (r >= 0)
                r = cglimits_available(t->dfd, &available);
        for (size_t i = 0; i < c->n_services; i++) {
                const struct service_config *sc = c->services[i];
                char what[CGLIMITS_WHY_MAX];

                if (cglimits_needed(sc) == 0)
                        continue;
                if (r < 0)
                        fprintf(stderr, "%s: warning: resource limits, but no cgroup to check "
                                "them against: %s\n", sc->file, why);
                else if (cglimits_check(sc, available, what, sizeof what) < 0)
                        fprintf(stderr, "%s: warning: %s\n", sc->file, what);
        }
        cgroup_tree_free(t);
}

/* tend's cgroup subtree: [tend] cgroup, or tendd's own delegated cgroup.
 * Configured and unusable is an error; not configured, tendd goes on
 * without (kill_mode defaults to group) and says why once. */
static int tendd_setup_cgroup(struct manager *m, bool quiet)
{
        const char *configured = m->config->cgroup_path;
        struct cgroup_tree *t = NULL;
        char why[256] = "";
        int r;

        r = cgroup_tree_open(configured, &t, why, sizeof why);
        if (r >= 0) {
                r = cgroup_tree_enter(t);
                if (r < 0)
                        (void)snprintf(why, sizeof why, "cannot move tendd into %s/supervisor: %s",
                                       t->path, strerror(-r));
        }
        if (r >= 0)
                r = manager_set_cgroup(m, TAKE_PTR(t));
        if (r >= 0) {
                if (!quiet)
                        log_info("cgroup %s: each service in a cgroup of its own",
                                 m->cgroup->path);
                return 0;
        }
        cgroup_tree_free(t);
        if (!why[0])
                (void)snprintf(why, sizeof why, "%s", m->cgroup_why);
        if (configured)
                return log_error_errno(r, "cgroup %s: %s", configured, why);
        if (!quiet)
                log_info("no cgroup for services (%s): kill_mode defaults to group", why);
        manager_no_cgroup(m, why);
        return 0;
}

struct tendd;
static void tendd_recover(struct tendd *t, bool adopt);

/* The daemon's parts, for the re-exec that hands them over. */
struct tendd {
        struct ev_loop *loop;
        struct manager *m;
        struct control *ctl;
        struct notify *notify;
        struct sdnotify *sdn;
        struct exitwith *ew;
        struct recover *rc; /* for a restart after a crash; NULL: none */
        struct fdstore *fds; /* pidfds and pipes parked outside; NULL: none */
        struct keeper *keeper; /* where they are parked if not in systemd's store */
        int keeper_dfd;        /* the directory of the control socket, for the keeper */
        bool fds_in_step;      /* the image before parked what the services have */
        bool keeper_from_state; /* the keeper connection is the image before's */
        bool ran;               /* the services were taken over or started */
        int locks[2];
        char **argv;      /* as tendd was started, for the next image */
        char exe[PATH_MAX]; /* /proc/self/exe's path at start: a new binary there takes over */
        ev_signal sigusr2;
        bool reexec;      /* asked for: leave the loop and exec */
};

/* Top-level records of the state (see state.h). */
enum {
        T_MANAGER = 1,
        T_CONTROL,
        T_NOTIFY,
        T_LOCK,
        T_CGROUP_PATH, /* tend's subtree: found again by path, not by looking */
        T_CONSOLE,
        T_SDNOTIFY,
        T_KEEPER,
        T_FDSTORE_IN_STEP, /* what is parked is what the services have */
};

/* Leave the loop and re-execute (tendctl reexec, SIGUSR2). */
static void tendd_request_reexec(void *userdata)
{
        struct tendd *t = userdata;

        if (t->m->shutting_down) {
                log_warning("re-exec asked for while stopping: ignored");
                control_reexec_failed(t->ctl, -ECANCELED, "tendd is stopping");
                return;
        }
        t->reexec = true;
        ev_break(t->loop, EVBREAK_ALL);
}

static void tendd_sigusr2_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
        tendd_request_reexec(w->data);
}

/* The path of the running binary, as execve should find a new one there
 * (a package upgrade replaced it: the link then ends in " (deleted)"). */
static void tendd_find_exe(struct tendd *t)
{
        ssize_t n = readlink("/proc/self/exe", t->exe, sizeof t->exe - 1);
        const char *del = " (deleted)";
        size_t dl = strlen(del);

        if (n < 0)
                n = 0;
        t->exe[n] = '\0';
        if ((size_t)n > dl && strcmp(t->exe + n - dl, del) == 0)
                t->exe[n - dl] = '\0';
}

#define TENDD_ARG_STATE "--state-fd="
#define TENDD_ARG_PREVIOUS "--previous-exe-fd="

static bool startswith(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Is arg one of the options a re-exec adds (--previous-exe-fd= only, or
 * --state-fd= too)? */
static bool tendd_reexec_arg(const char *arg, bool state_too)
{
        return startswith(arg, TENDD_ARG_PREVIOUS) || (state_too && startswith(arg, TENDD_ARG_STATE));
}

/* A new array of argv's strings (borrowed) less the re-exec's options;
 * NULL without memory. */
static char **tendd_argv_without(char **argv, bool state_too)
{
        size_t n = strv_length(argv), k = 0;
        char **v = calloc(n + 1, sizeof *v);

        for (size_t i = 0; v && i < n; i++)
                if (!tendd_reexec_arg(argv[i], state_too))
                        v[k++] = argv[i];
        return v;
}

/* argv for the next image: ours, with the state's fds in front. */
static char **tendd_exec_argv(const struct tendd *t, int state_fd, int exe_fd)
{
        size_t n = strv_length(t->argv);
        char **v = calloc(n + 6, sizeof *v);
        size_t k = 0;

        if (!v)
                return NULL;
        v[k++] = strdup(t->argv[0]);
        if (asprintf(&v[k++], TENDD_ARG_STATE "%d", state_fd) < 0)
                v[k - 1] = NULL;
        if (exe_fd >= 0 && asprintf(&v[k++], TENDD_ARG_PREVIOUS "%d", exe_fd) < 0)
                v[k - 1] = NULL;
        for (size_t i = 1; i < n; i++)
                if (!tendd_reexec_arg(t->argv[i], true))
                        v[k++] = strdup(t->argv[i]);
        for (size_t i = 0; i < k; i++)
                if (!v[i]) {
                        strv_free(v);
                        return NULL;
                }
        return v;
}

/* Hand everything over to a new image of tendd (whatever binary is at
 * t->exe now). Returns only if that failed; tendd then goes on as before. */
static void tendd_reexec(struct tendd *t)
{
        struct state_writer w;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_close_ int exe_fd = -1;
        int state_fd = -1, r;

        sdnotify_reloading(t->sdn);
        state_writer_init(&w);
        state_put_header(&w);
        manager_state_put(t->m, &w, T_MANAGER);
        r = control_state_put(t->ctl, &w, T_CONTROL);
        if (r >= 0)
                r = notify_state_put(t->notify, &w, T_NOTIFY);
        if (r < 0 && w.error == 0)
                w.error = r;
        for (size_t i = 0; i < ELEMENTSOF(t->locks); i++)
                state_put_fd(&w, T_LOCK, t->locks[i]);
        if (t->m->cgroup)
                state_put_str(&w, T_CGROUP_PATH, t->m->cgroup->path);
        state_put_bool(&w, T_CONSOLE, output_default_mode() == OUTPUT_CONSOLE);
        r = sdnotify_state_put(t->sdn, &w, T_SDNOTIFY);
        if (r >= 0 && t->keeper)
                r = keeper_state_put(t->keeper, &w, T_KEEPER);
        if (fdstore_in_step(t->fds))
                state_put_bool(&w, T_FDSTORE_IN_STEP, true);
        if (r < 0 && w.error == 0)
                w.error = r;
        r = state_writer_finish(&w);
        if (r >= 0)
                r = state_fd = state_writer_memfd(&w);
        /* The image that wrote the state can read it, whatever the new one
         * makes of it: the new one execs this one again if it cannot. */
        if (r >= 0) {
                exe_fd = open("/proc/self/exe", O_RDONLY);
                argv = tendd_exec_argv(t, state_fd, exe_fd);
                r = argv ? 0 : -ENOMEM;
        }
        if (r >= 0)
                r = state_exec_fds(&w);
        if (r >= 0) {
                log_info("re-executing %s", t->exe);
                log_set_loop(NULL); /* what waits is written now */
                (void)execve(t->exe, argv, environ);
                r = -errno;
                log_set_loop(t->loop);
        }
        /* Still here: everything stays as it was. */
        for (size_t i = 0; i < w.n_fds; i++)
                (void)fcntl(w.fds[i], F_SETFD, FD_CLOEXEC);
        state_writer_free(&w);
        safe_close(state_fd);
        log_error_errno(r, "re-exec of %s failed; going on", t->exe);
        {
                char why[PATH_MAX + 64];

                (void)snprintf(why, sizeof why, "re-exec of %s failed, tendd goes on", t->exe);
                control_reexec_failed(t->ctl, r, why);
        }
        sdnotify_reloaded(t->sdn); /* ends the RELOADING=1 sent above */
}

/* argv as the new image got it, less the state's options, and the state
 * fds: the options must come first (tendd_exec_argv puts them there). */
static int tendd_parse_state_args(int argc, char **argv, int *state_fd, int *exe_fd)
{
        *state_fd = *exe_fd = -1;
        for (int i = 1; i < argc && i < 3; i++) {
                int *to = startswith(argv[i], TENDD_ARG_STATE)      ? state_fd
                          : startswith(argv[i], TENDD_ARG_PREVIOUS) ? exe_fd
                                                                    : NULL;
                if (!to)
                        break;
                const char *v = strchr(argv[i], '=') + 1;
                char *end;
                long fd;

                errno = 0;
                fd = strtol(v, &end, 10);
                if (errno || end == v || *end || fd < 3 || fd > INT_MAX)
                        return -EINVAL;
                *to = (int)fd;
        }
        return 0;
}

/* The state could not be read: the image that wrote it reads it (copy:
 * the state's memfd, again), with the same arguments less the fallback (no
 * loop between the two). */
static void tendd_fall_back(char **argv, int state_fd, int copy, int exe_fd, int err)
{
        char **v;

        log_error_errno(err, "cannot read the state the previous tendd left%s",
                        exe_fd >= 0 ? ": handing it back to the previous binary" : "");
        if (exe_fd < 0)
                return;
        v = tendd_argv_without(argv, false);
        if (!v)
                return;
        /* The state again under the number argv names (reading it closed it). */
        if (copy < 0 || dup2(copy, state_fd) < 0) {
                log_error_errno(copy < 0 ? -EBADF : -errno, "keeping the state");
                free(v);
                return;
        }
        log_set_loop(NULL);
        (void)execveat(exe_fd, "", v, environ, AT_EMPTY_PATH);
        log_error_errno(-errno, "executing the previous binary");
        free(v); /* the strings are argv's */
}

/* The state was read in part, or not at all: start over as after a crash
 * (a start that is not a re-exec takes over every service still running
 * through the recovery file the previous image wrote before its execve).
 * Everything inherited is closed first: an output pipe kept open and never
 * read would block its service for good; closed, the service sees EPIPE as
 * after a crash. Returns only if the execve failed. */
static void tendd_start_afresh(const struct tendd *t, char **argv)
{
        char **v = tendd_argv_without(argv, true);

        if (!v)
                return;
        state_close_unclaimed(-1);
        log_error("starting afresh: services still running are taken over as after a crash");
        log_set_loop(NULL);
        (void)execv(t->exe, v);
        log_error_errno(-errno, "executing %s", t->exe);
        free(v); /* the strings are argv's */
}

/* The state the previous image left: the manager's config (for
 * manager_new()) and the reader for the rest. */
static int tendd_open_state(int state_fd, struct state_reader *state, void **map, size_t *map_len,
                            char **ret_path, struct config **ret)
{
        struct state_reader rest, item;
        uint16_t tag;
        int r;

        r = state_open(state_fd, state, map, map_len);
        if (r < 0)
                return r;
        rest = *state;
        while ((r = state_next(&rest, &tag, &item)) > 0)
                if (tag == T_MANAGER)
                        return manager_state_config(&item, ret_path, ret);
        return r < 0 ? r : -EBADMSG;
}

/* Everything but the manager's services from the state: the locks, the
 * sockets, tend's cgroup subtree. */
static int tendd_restore(struct tendd *t, const struct state_reader *state)
{
        struct state_reader rest = *state, item;
        _cleanup_free_ char *cgroup_path = NULL;
        size_t locks = 0;
        bool console = false;
        uint16_t tag;
        int r;

        while ((r = state_next(&rest, &tag, &item)) > 0) {
                switch (tag) {
                case T_LOCK:
                        if (locks < ELEMENTSOF(t->locks))
                                r = state_get_fd(&item, &t->locks[locks++]);
                        break;
                case T_CONTROL:
                        r = control_new_from_state(t->m, &item, &t->ctl);
                        break;
                case T_NOTIFY:
                        r = notify_new_from_state(t->m, &item, &t->notify);
                        break;
                case T_CGROUP_PATH:
                        r = state_get_str(&item, &cgroup_path);
                        break;
                case T_CONSOLE:
                        r = state_get_bool(&item, &console);
                        break;
                case T_KEEPER:
                        /* Lost, it is a new keeper (with what is live now parked). */
                        if (keeper_state_get(&item, &t->keeper) < 0)
                                t->keeper = NULL;
                        t->keeper_from_state = t->keeper != NULL;
                        break;
                case T_FDSTORE_IN_STEP:
                        r = state_get_bool(&item, &t->fds_in_step);
                        break;
                default:
                        break;
                }
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!t->ctl || !t->notify)
                return -EBADMSG;
        if (console)
                output_set_default_mode(OUTPUT_CONSOLE);
        if (cgroup_path) {
                /* The same subtree, wherever tendd's own cgroup is now. */
                free(t->m->config->cgroup_path);
                t->m->config->cgroup_path = TAKE_PTR(cgroup_path);
        }
        return 0;
}

/* Keep the file that lets a tendd started after a crash of this one take
 * the services over (recover.h), and (adopt: a start, not a re-exec) take
 * over what the one before left. Without it tendd runs on, as before. */
static void tendd_recover(struct tendd *t, bool adopt)
{
        int r = recover_new(t->m, &t->rc);

        if (r < 0) {
                log_warning_errno(r, "%s: services cannot be taken over after a crash of tendd",
                                  RECOVER_FILE);
                return;
        }
        if (adopt)
                (void)recover_adopt(t->rc);
}

/* The keeper's socket is full: wait for it to read (it is ours, and
 * quick), up to a second. */
static int tendd_keeper_wait(struct tendd *t)
{
        struct pollfd p = { .fd = keeper_fd(t->keeper), .events = POLLOUT };
        int r;

        do
                r = poll(&p, 1, 1000);
        while (r < 0 && errno == EINTR);
        return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

static int tendd_keeper_park(void *userdata, const char *name, int fd)
{
        struct tendd *t = userdata;
        int r;

        while ((r = keeper_park(t->keeper, name, fd)) == -EAGAIN && tendd_keeper_wait(t) >= 0)
                ;
        return r;
}

static int tendd_keeper_unpark(void *userdata, const char *name)
{
        struct tendd *t = userdata;
        int r;

        while ((r = keeper_unpark(t->keeper, name)) == -EAGAIN && tendd_keeper_wait(t) >= 0)
                ;
        return r;
}

/* The keeper's program: tend-keeper beside tendd's own binary (a build
 * tree, or an install that keeps them together), else where it was
 * installed, else tendd itself (tendd --keeper runs the same loop). */
static const char *tendd_keeper_exe(const struct tendd *t, char *buf, size_t size)
{
        _cleanup_free_ char *dir = path_dirname(t->exe);

        if (dir && snprintf(buf, size, "%s/tend-keeper", dir) < (int)size && access(buf, X_OK) == 0)
                return buf;
        if (access(TEND_KEEPER_PATH, X_OK) == 0)
                return TEND_KEEPER_PATH;
        return "/proc/self/exe";
}

/* The keeper is gone (killed?) or stuck: start another; the fd store
 * parks everything in it again. */
static int tendd_keeper_failed(void *userdata, int error)
{
        struct tendd *t = userdata;
        bool found;
        int r;

        char exe[PATH_MAX];

        log_warning_errno(error, "the keeper does not take fds any more; starting another");
        t->keeper = keeper_close(t->keeper, false);
        r = keeper_open(t->keeper_dfd, tendd_keeper_exe(t, exe, sizeof exe), &t->keeper, &found);
        if (r < 0)
                log_warning_errno(r, "starting a keeper");
        return r;
}

static void tendd_keeper_offer(const char *name, int fd, void *userdata)
{
        fdstore_offer(userdata, name, fd);
}

/* Park the services' pidfds and pipes outside tendd from now on, in
 * systemd's fd store or else in the keeper (fdstore.h, keeper.h), and
 * (adopt: a start, not a re-exec) take back what the tendd before parked, as
 * offers for fdstore_claim() and fdstore_adopt(). Not as PID 1: a crash of
 * that ends the namespace and every service. */
static void tendd_fdstore_open(struct tendd *t, bool adopt)
{
        struct fdstore_backend b = {};
        char exe[PATH_MAX];
        bool found = false;
        int r;

        if (sdnotify_fdstore_enabled(t->sdn)) {
                b = (struct fdstore_backend){
                        .park = sdnotify_fdstore_park,
                        .unpark = sdnotify_fdstore_unpark,
                        .capacity = sdnotify_fdstore_capacity(t->sdn),
                        .userdata = t->sdn,
                };
        } else {
                if (adopt)
                        (void)fdstore_offer_listen_fds(NULL); /* not ours: closed */
                if (getpid() == 1)
                        return;
                _cleanup_free_ char *dir = path_dirname(t->m->config->socket_path);
                t->keeper_dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
                r = t->keeper_dfd < 0 ? (dir ? -errno : -ENOMEM)
                    : t->keeper     ? 0
                                    : keeper_open(t->keeper_dfd, tendd_keeper_exe(t, exe, sizeof exe),
                                                  &t->keeper, &found);
                if (r < 0) {
                        log_warning_errno(r, "no keeper: a crash of tendd will lose the "
                                             "services' output and exit statuses");
                        return;
                }
                b = (struct fdstore_backend){
                        .park = tendd_keeper_park,
                        .unpark = tendd_keeper_unpark,
                        .failed = tendd_keeper_failed,
                        .userdata = t,
                };
        }
        r = fdstore_new(t->m, &b, &t->fds);
        if (r < 0) {
                log_warning_errno(r, "parking the services' pidfds and pipes");
                return;
        }
        if (!adopt)
                return;
        if (t->keeper && found) {
                r = keeper_take(t->keeper, tendd_keeper_offer, t->fds);
                if (r < 0)
                        log_warning_errno(r, "taking fds back from the keeper");
        } else if (!t->keeper)
                (void)fdstore_offer_listen_fds(t->fds);
}

/* The notify socket the tendd before parked, if it is still the one at
 * path: what services sent while no tendd ran waits in it. Else a new one. */
static int tendd_notify_new(struct tendd *t, const char *path)
{
        int fd = fdstore_claim(t->fds, TENDD_NOTIFY_FDNAME);

        if (fd >= 0) {
                int r = notify_new_from_fd(t->m, fd, path, &t->notify);
                if (r >= 0)
                        return r;
                log_warning_errno(r, "the notify socket of the tendd before: not taken over");
        }
        return notify_new(t->m, path, &t->notify);
}

int main(int argc, char **argv)
{
        enum {
                ARG_CHECK = 0x100,
                ARG_VERSION,
                ARG_EXIT_WITH,
                ARG_CONSOLE,
                ARG_STATE,
                ARG_LIST_KEYS,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check", no_argument, NULL, ARG_CHECK },
                { "exit-with", required_argument, NULL, ARG_EXIT_WITH },
                { "console", no_argument, NULL, ARG_CONSOLE },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "state-fd", required_argument, NULL, ARG_STATE },
                { "previous-exe-fd", required_argument, NULL, ARG_STATE },
                { "list-keys", no_argument, NULL, ARG_LIST_KEYS },
                {},
        };
        const char *config_path = TEND_DEFAULT_CONFIG;
        const char *exit_with = NULL;
        bool check = false, console = false;
        struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *notify_path = NULL, *state_config_path = NULL;
        struct tendd t = { .locks = { -1, -1 }, .keeper_dfd = -1, .argv = argv };
        struct state_reader state = {};
        void *state_map = NULL;
        size_t state_len = 0;
        bool restored = false;
        int opt, r, state_fd, exe_fd;

        /* The keeper: tendd's own image, nothing else of tendd's (keeper.h). */
        if (argc > 1 && strcmp(argv[1], KEEPER_OPTION) == 0)
                return keeper_main(3, 4);
        if (tendd_parse_state_args(argc, argv, &state_fd, &exe_fd) < 0) {
                fprintf(stderr, "tendd: bad --state-fd or --previous-exe-fd\n");
                return 2;
        }
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (opt) {
                case 'c':
                        config_path = optarg;
                        break;
                case ARG_CHECK:
                        check = true;
                        break;
                case ARG_EXIT_WITH:
                        exit_with = optarg;
                        break;
                case ARG_CONSOLE:
                        console = true;
                        break;
                case ARG_STATE:
                        break; /* read above */
                case 'h':
                        tendd_help();
                        return 0;
                case ARG_VERSION:
                        printf("tendd %s\n", TEND_VERSION);
                        return 0;
                case ARG_LIST_KEYS:
                        tendd_list_keys();
                        return 0;
                default:
                        fprintf(stderr, "Try 'tendd --help'.\n");
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "tendd: unexpected argument '%s'\nTry 'tendd --help'.\n",
                        argv[optind]);
                return 2;
        }

        tendd_sanitize_stdio();
        /* Before anything is opened: what is open now came from the
         * previous image, and what the state does not name is closed. */
        if (state_fd >= 0)
                state_note_inherited();
        log_open();
        tendd_find_exe(&t);
        if (state_fd >= 0) {
                /* A re-exec: the config in effect comes from the state, not
                 * from the files (they may have changed without a reload). */
                _cleanup_close_ int keep = fcntl(state_fd, F_DUPFD_CLOEXEC, 3);

                r = tendd_open_state(state_fd, &state, &state_map, &state_len,
                                     &state_config_path, &c);
                if (r < 0) {
                        tendd_fall_back(argv, state_fd, keep, exe_fd, r);
                        tendd_start_afresh(&t, argv);
                        return 1;
                }
                config_path = state_config_path;
        } else {
                r = config_load(config_path, &c, &errors);
                if (r < 0) {
                        for (char **e = errors; e && *e; e++)
                                fprintf(stderr, "%s\n", *e);
                        if (!errors)
                                fprintf(stderr, "%s: %s\n", config_path, strerror(-r));
                        return 1;
                }
        }
        if (state_fd < 0 && !tendd_check_exit_with(c, exit_with)) {
                config_free(c);
                return 1;
        }
        if (check) {
                tendd_check_limits(c);
                if (c->n_templates > 0)
                        printf("%s: ok, %zu service%s, %zu template%s\n", config_path,
                               c->n_services, c->n_services == 1 ? "" : "s", c->n_templates,
                               c->n_templates == 1 ? "" : "s");
                else
                        printf("%s: ok, %zu service%s\n", config_path, c->n_services,
                               c->n_services == 1 ? "" : "s");
                config_free(c);
                return 0;
        }

        /* SIGPIPE and inherited ignored signals blocked, none ignored. */
        r = spawn_signals_setup();
        if (r < 0) {
                log_error_errno(r, "setting up signals");
                config_free(c);
                return 1;
        }

        /* Large transient buffers (a control reply listing thousands of services)
         * come from mmap and go back on free; a fixed threshold keeps glibc from
         * raising it and growing the heap for good instead. */
        (void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);

        /* Never the default loop: it reaps every child behind our back. */
        t.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_SIGNALFD);
        if (!t.loop) {
                log_error("cannot create the event loop");
                config_free(c);
                return 1;
        }
        tendd_no_idle_wakeups(t.loop);
        log_set_loop(t.loop);
        r = manager_new(t.loop, config_path, c, &t.m);
        if (r < 0) {
                log_error_errno(r, "creating the manager");
                config_free(c);
                goto finish;
        }
        if (state_map) {
                r = tendd_restore(&t, &state);
                if (r < 0) {
                        log_error_errno(r, "restoring the sockets from the state");
                        goto finish;
                }
        }
        r = tendd_setup_cgroup(t.m, state_map != NULL); /* said once, at the start */
        if (r < 0)
                goto finish;
        if (!state_map) {
                r = notify_default_path(t.m->config->socket_path, &notify_path);
                if (r >= 0)
                        r = tendd_lock_sockets(t.m->config->socket_path, notify_path, t.locks);
                if (r < 0)
                        goto finish;
        }
        r = sdnotify_new(t.m, &t.sdn);
        if (r < 0)
                log_warning_errno(r, "not notifying systemd");
        tendd_fdstore_open(&t, !state_map);
        if (!state_map) {
                r = control_new(t.m, t.m->config->socket_path, t.m->config->socket_mode,
                                t.m->config->socket_group, &t.ctl);
                if (r < 0) {
                        log_error_errno(r, "control socket %s", t.m->config->socket_path);
                        goto finish;
                }
                r = tendd_notify_new(&t, notify_path);
                if (r < 0) {
                        log_error_errno(r, "notify socket %s", notify_path ? notify_path : "");
                        goto finish;
                }
        }
        if (t.fds)
                (void)fdstore_keep(t.fds, TENDD_NOTIFY_FDNAME, notify_fd(t.notify));
        control_set_reexec(t.ctl, tendd_request_reexec, &t);
        if (state_map) {
                /* Did the image before tell systemd it was ready? */
                struct state_reader rest = state, item;
                uint16_t tag;

                while (state_next(&rest, &tag, &item) > 0)
                        if (tag == T_SDNOTIFY)
                                (void)sdnotify_state_get(t.sdn, &item);
        }
        r = exitwith_new(t.m, exit_with, &t.ew);
        if (r < 0) {
                log_error_errno(r, "exit_with");
                goto finish;
        }
        if (!state_map)
                tendd_pick_output(console);
        /* After a re-exec, once the services are back: it reaps every
         * zombie child but a service's main process, and a MAINPID= one
         * that exited between the images is only known as such then. */
        if (!state_map)
                (void)manager_watch_signals(t.m);
        ev_signal_init(&t.sigusr2, tendd_sigusr2_cb, SIGUSR2);
        t.sigusr2.data = &t;
        ev_signal_start(t.loop, &t.sigusr2);
        if (state_map) {
                struct state_reader rest = state, item;
                uint16_t tag;

                while ((r = state_next(&rest, &tag, &item)) > 0)
                        if (tag == T_MANAGER)
                                break;
                if (r > 0)
                        r = manager_restore(t.m, &item);
                state_unmap(state_map, state_len);
                state_map = NULL;
                if (r < 0) {
                        log_error_errno(r, "restoring the services from the state");
                        goto finish;
                }
                /* Nothing else of the previous image's stays open. */
                state_close_unclaimed(-1);
                restored = true;
                t.ran = true;
                (void)manager_watch_signals(t.m);
                /* The same keeper (or systemd's store) as before the exec,
                 * in step then: nothing to send again. Else (a keeper
                 * started now, an image that parked less): everything. */
                if (t.fds_in_step && (t.keeper_from_state || !t.keeper))
                        fdstore_assume_parked(t.fds);
                else
                        fdstore_sync(t.fds);
                tendd_recover(&t, false);
                log_info("re-executed, %zu service%s taken over", t.m->n_services,
                         t.m->n_services == 1 ? "" : "s");
        } else {
                /* The services first, stopped: those still running since a
                 * crash of the previous tendd are taken over, not started. */
                r = manager_create(t.m);
                if (r < 0)
                        goto finish;
                (void)fdstore_adopt(t.fds);
                t.ran = true;
                tendd_recover(&t, true);
                r = manager_start(t.m);
                if (r < 0)
                        goto finish;
                log_info("started, %zu service%s, control socket %s", t.m->n_services,
                         t.m->n_services == 1 ? "" : "s", t.m->config->socket_path);
        }
        sdnotify_started(t.sdn);
        for (;;) {
                ev_run(t.loop, 0);
                if (!t.reexec)
                        break;
                t.reexec = false;
                /* A stop began in the iteration that asked for the re-exec
                 * (SIGINT is handled after SIGUSR2 there; the exit_with
                 * service ended, its shutdown due next): the new image would
                 * know nothing of it. The stop goes on in this image. */
                if (t.m->shutting_down || exitwith_status(t.ew) >= 0) {
                        log_warning("re-exec asked for while stopping: ignored");
                        control_reexec_failed(t.ctl, -ECANCELED, "tendd is stopping");
                        if (t.m->shutting_down && t.m->n_live == 0)
                                break; /* its ev_break was the one just seen */
                        continue;
                }
                if (t.rc)
                        recover_flush(t.rc);
                tendd_reexec(&t);
        }
        r = exitwith_status(t.ew) >= 0 ? exitwith_status(t.ew) : 0;
finish:
        if (state_fd >= 0 && !restored)
                tendd_start_afresh(&t, argv); /* returns only if that failed too */
        if (state_map)
                state_unmap(state_map, state_len);
        exitwith_free(t.ew);
        notify_free(t.notify);
        control_free(t.ctl);
        fdstore_free(t.fds);
        /* A clean exit lets go of everything; else (a start that failed
         * before its services were taken over) what runs on stays parked
         * for the next tendd. */
        if (t.keeper && t.ran && t.m->n_live == 0) {
                t.keeper = keeper_close(t.keeper, true);
                (void)unlinkat(t.keeper_dfd, KEEPER_SOCKET, 0);
        }
        t.keeper = keeper_close(t.keeper, false);
        safe_close(t.keeper_dfd);
        sdnotify_free(t.sdn);
        recover_free(t.rc); /* removes the file if nothing is live */
        manager_free(t.m);
        if (t.loop) {
                ev_signal_stop(t.loop, &t.sigusr2);
                log_set_loop(NULL);
                ev_loop_destroy(t.loop);
        }
        for (size_t i = 0; i < ELEMENTSOF(t.locks); i++)
                (void)safe_close(t.locks[i]);
        return r < 0 ? 1 : r;
}
