/* tendd: the supervisor daemon. Runs in the foreground. */
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cglimits.h"
#include "cgroup.h"
#include "config.h"
#include "control.h"
#include "exitwith.h"
#include "log.h"
#include "manager.h"
#include "output.h"
#include "sdnotify.h"
#include "spawn.h"
#include "notify.h"

#define TEND_DEFAULT_CONFIG "/etc/tend/tend.ini"

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
static int tendd_setup_cgroup(struct manager *m)
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
                log_info("cgroup %s: each service in a cgroup of its own", m->cgroup->path);
                return 0;
        }
        cgroup_tree_free(t);
        if (!why[0])
                (void)snprintf(why, sizeof why, "%s", m->cgroup_why);
        if (configured)
                return log_error_errno(r, "cgroup %s: %s", configured, why);
        log_info("no cgroup for services (%s): kill_mode defaults to group", why);
        manager_no_cgroup(m, why);
        return 0;
}

int main(int argc, char **argv)
{
        enum { ARG_CHECK = 0x100, ARG_VERSION, ARG_EXIT_WITH, ARG_CONSOLE };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check", no_argument, NULL, ARG_CHECK },
                { "exit-with", required_argument, NULL, ARG_EXIT_WITH },
                { "console", no_argument, NULL, ARG_CONSOLE },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *config_path = TEND_DEFAULT_CONFIG;
        const char *exit_with = NULL;
        bool check = false, console = false;
        struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        struct manager *m = NULL;
        struct control *ctl = NULL;
        struct sdnotify *sdn = NULL;
        struct exitwith *ew = NULL;
        struct notify *notify = NULL;
        _cleanup_free_ char *notify_path = NULL;
        int locks[2] = { -1, -1 };
        struct ev_loop *loop;
        int opt, r;

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
                case 'h':
                        tendd_help();
                        return 0;
                case ARG_VERSION:
                        printf("tendd %s\n", TEND_VERSION);
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
        log_open();
        r = config_load(config_path, &c, &errors);
        if (r < 0) {
                for (char **e = errors; e && *e; e++)
                        fprintf(stderr, "%s\n", *e);
                if (!errors)
                        fprintf(stderr, "%s: %s\n", config_path, strerror(-r));
                return 1;
        }
        if (!tendd_check_exit_with(c, exit_with)) {
                config_free(c);
                return 1;
        }
        if (check) {
                tendd_check_limits(c);
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
        loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_SIGNALFD);
        if (!loop) {
                log_error("cannot create the event loop");
                config_free(c);
                return 1;
        }
        tendd_no_idle_wakeups(loop);
        log_set_loop(loop);
        r = manager_new(loop, config_path, c, &m);
        if (r < 0) {
                log_error_errno(r, "creating the manager");
                config_free(c);
                goto finish;
        }
        r = tendd_setup_cgroup(m);
        if (r < 0)
                goto finish;
        r = notify_default_path(m->config->socket_path, &notify_path);
        if (r >= 0)
                r = tendd_lock_sockets(m->config->socket_path, notify_path, locks);
        if (r < 0)
                goto finish;
        r = control_new(m, m->config->socket_path, m->config->socket_mode,
                        m->config->socket_group, &ctl);
        if (r < 0) {
                log_error_errno(r, "control socket %s", m->config->socket_path);
                goto finish;
        }
        r = notify_new(m, notify_path, &notify);
        if (r < 0) {
                log_error_errno(r, "notify socket %s", notify_path ? notify_path : "");
                goto finish;
        }
        r = sdnotify_new(m, &sdn);
        if (r < 0)
                log_warning_errno(r, "not notifying systemd");
        r = exitwith_new(m, exit_with, &ew);
        if (r < 0) {
                log_error_errno(r, "exit_with");
                goto finish;
        }
        tendd_pick_output(console);
        (void)manager_watch_signals(m);
        r = manager_start(m);
        if (r < 0)
                goto finish;
        sdnotify_started(sdn);
        log_info("started, %zu service%s, control socket %s", m->n_services,
                 m->n_services == 1 ? "" : "s", m->config->socket_path);
        ev_run(loop, 0);
        r = exitwith_status(ew) >= 0 ? exitwith_status(ew) : 0;
finish:
        exitwith_free(ew);
        notify_free(notify);
        control_free(ctl);
        sdnotify_free(sdn);
        manager_free(m);
        log_set_loop(NULL);
        ev_loop_destroy(loop);
        for (size_t i = 0; i < ELEMENTSOF(locks); i++)
                (void)safe_close(locks[i]);
        return r < 0 ? 1 : r;
}
