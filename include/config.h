/* config.h: the parsed, validated configuration. config_load() reads tend.ini
 * and every services/NAME.ini into a fresh struct config; nothing live is
 * touched. A config with any error is returned as an error list, never half
 * applied. Once loaded a config is immutable plain data (no fds, no pointers
 * into live objects) so it can be diffed, kept across reloads and serialized. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "util.h"

/* Where packages put service files: [tend] vendor_services of a root tendd. */
#define CONFIG_VENDOR_SERVICES_DIR "/usr/lib/tend/services.d"

/* What a configuration may make tendd read and hold; see the README. */
#define CONFIG_FILE_MAX (1 << 20)          /* bytes of one file (tend.ini, service, environment) */
#define CONFIG_TREE_MAX (64 << 20)         /* bytes of every file one load reads, together */
#define CONFIG_ERRORS_MAX 100              /* error messages kept; the rest are counted */
#define CONFIG_EXEC_STRING_MAX (128 << 10) /* one argument or variable with its NUL (execve) */
#define CONFIG_EXEC_MAX (1 << 20)          /* arguments and environment together, pointers too */

enum service_type { SERVICE_SIMPLE, SERVICE_NOTIFY, SERVICE_ONESHOT, _SERVICE_TYPE_MAX };
enum restart_policy { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER, _RESTART_MAX };
enum output_mode { OUTPUT_JOURNAL, OUTPUT_FILE, OUTPUT_CONSOLE, OUTPUT_NULL, _OUTPUT_MAX };
enum kill_mode { KILL_CGROUP, KILL_GROUP, KILL_PROCESS, _KILL_MODE_MAX };

/* Resource limits a service may set, in this order. */
enum config_limit {
        LIMIT_NOFILE,
        LIMIT_NPROC,
        LIMIT_CORE,
        LIMIT_AS,
        LIMIT_DATA,
        LIMIT_STACK,
        LIMIT_FSIZE,
        LIMIT_MEMLOCK,
        LIMIT_CPU,
        _LIMIT_MAX
};

struct config_rlimit {
        bool set;
        int resource; /* RLIMIT_* */
        struct rlimit value;
};

/* A service's cgroup v2 limits, written into its cgroup by cglimits.c and
 * applied live on reload. 0 is unset: nothing is written, the kernel's
 * default stays; CONFIG_CGROUP_MAX is "max" (no limit). */
#define CONFIG_CGROUP_MAX UINT64_MAX
#define CONFIG_CPU_MAX_PERIOD_USEC 100000U /* cpu_max is CPU time per this period */
struct config_cgroup {
        uint64_t memory_max;  /* memory_max: bytes */
        uint64_t memory_high; /* memory_high: bytes */
        uint64_t tasks_max;   /* tasks_max: processes and threads */
        uint64_t cpu_weight;  /* cpu_weight: 1..10000 */
        uint64_t cpu_max;     /* cpu_max: usec per CONFIG_CPU_MAX_PERIOD_USEC */
        uint64_t io_weight;   /* io_weight: 1..10000 */
};

/* A set of exit statuses (0-255) and signals (1-64), for success_exit_codes
 * and restart_prevent_exit_codes: bit n%64 of status[n/64] is status n, bit
 * n-1 of signals is signal n. */
struct config_exit_set {
        uint64_t status[4];
        uint64_t signals;
};

struct service_config {
        char *name;   /* file name without .ini */
        char *file;   /* path of NAME.ini: in the services directory, else the vendor one */
        char **files; /* every file it was built from, in the order applied: file, then
                       * its drop-ins (NAME.ini.d/ *.ini); never NULL once loaded */

        char *exec;  /* the exec= line as written */
        char **argv; /* exec split into words; argv[0] is the program */
        enum service_type type;
        enum restart_policy restart;
        usec_t restart_delay;
        usec_t restart_max_delay;
        unsigned start_limit_burst; /* 0: no limit */
        usec_t start_limit_interval;
        int stop_signal;
        usec_t stop_timeout;

        char *user;  /* NULL: tendd's own user */
        char *group; /* NULL: the user's primary group */
        char *workdir;
        bool umask_set;
        mode_t umask;
        char **environment; /* "KEY=VALUE", one per key, never NULL: environment_file's
                             * entries first, then environment= ones; a key keeps its
                             * first place and its last value. Merged at load, so a
                             * spawn only copies it */

        enum output_mode output;
        bool output_set; /* false: the daemon picks the default */
        uint64_t log_max_size;
        unsigned log_keep;

        bool enabled;
        enum kill_mode kill_mode;
        bool kill_mode_set; /* false: cgroup where tend has a cgroup subtree, else group */

        usec_t ready_timeout; /* notify/ready_fd: time to readiness; 0: none */
        usec_t watchdog;      /* notify: WATCHDOG=1 interval; 0: off */
        int ready_fd;         /* s6-style readiness fd in the child; -1: none */
        char **after;         /* start once these are ready, stop before them */
        char **requires;      /* start these too; stop when one goes down (implies after) */
        unsigned after_line, requires_line; /* where they were last set, for messages: */
        unsigned after_file, requires_file; /* a line of files[this] */
        bool no_new_privs;
        struct config_rlimit limits[_LIMIT_MAX];
        struct config_cgroup cgroup;
        /* The health check: at most one of health_tcp, health_http (NULL:
         * none), checked every health_interval, failing after health_timeout;
         * health_retries failures in a row (none counted before
         * health_start_period from the spawn) restart the service. */
        char *health_tcp;  /* "HOST:PORT" as written */
        char *health_http; /* "http://HOST[:PORT]/PATH" as written */
        usec_t health_interval, health_timeout, health_start_period;
        unsigned health_retries;
        char *health_exec; /* a command line as written (split at each run) */
        /* Hooks: command lines as written (split at each run, checked at
         * load); NULL: none. */
        char **exec_start_pre;  /* in order, each must exit 0 */
        char *exec_start_post;  /* once it is ready */
        char *exec_stop;        /* instead of the stop signal */
        char *exec_reload;      /* tendctl reload NAME */
        char *exec_stop_post;   /* once it is gone, whatever the reason */
        int reload_signal;      /* tendctl reload NAME without exec_reload; 0: none */
        usec_t hook_timeout;    /* each hook but exec_stop (stop_timeout) */
        char **on_failure;      /* started when this one enters failed; NULL: none */
        /* Exits on its own that count as success besides exit status 0, and
         * those that are never restarted (success: stopped, else failed). */
        struct config_exit_set success_exit, prevent_exit;
        char **environment_files; /* absolute, "-" before an optional one, in order;
                                   * already read into environment */
        char **pass_environment;  /* names taken from tendd's environment at load */
        bool expand;              /* ${VAR} and $$ expanded in exec and workdir at load */
        char **wants;             /* start these too, and after them; not bound to them */
        unsigned wants_line, wants_file; /* where wants was last set, as after_line */
        char **instances; /* instances= of a template (NAME@.ini); NULL in a service */
        bool transient;   /* an instance made by a start at runtime, not by the files */
};

/* A template, NAME@.ini with its drop-ins: the text of each file, kept so
 * that an instance NAME@X can be made from it at load (instances=) and at
 * runtime (a start of NAME@X), each file's values with %i, %n and %%
 * substituted before they are parsed. Parallel lists, in the order applied. */
struct config_template {
        char *name;          /* "NAME@" */
        char **files;        /* absolute paths, as service_config.files */
        char **displays;     /* as shown in messages */
        char **dirs;         /* where a relative environment_file of that file is */
        char **display_dirs; /* the same, as shown */
        char **texts;        /* each file's text */
        char **of;           /* "": the template's own file; X: a drop-in of
                              * NAME@X.ini.d/, for that instance only (after
                              * the template's) */
        char **instances;    /* instances= */
        char **masked;       /* X of each NAME@X.ini that is a link to /dev/null: no
                              * such instance, at load or at runtime */
};

struct config {
        char *path;         /* tend.ini */
        char *services_dir; /* absolute */
        char *vendor_services_dir; /* absolute; NULL: none */
        char *socket_path;
        mode_t socket_mode;  /* who may connect; changing state also needs root or tendd's uid */
        char *socket_group;  /* NULL: tendd's group */
        char *log_dir;
        char *cgroup_path;   /* [tend] cgroup: tend's cgroup v2 subtree; NULL: find one */
        char *exit_with;         /* service whose end ends tendd; NULL: none */
        unsigned exit_with_line; /* where it was set, for messages */
        struct service_config **services; /* sorted by name */
        size_t n_services;
        struct config_template **templates; /* sorted by name; kept by the manager */
        size_t n_templates;
};

/* Load path (tend.ini) and its services directory. On success *ret owns a new
 * config, *ret_errors is NULL and 0 is returned. On invalid input -EINVAL is
 * returned and *ret_errors holds every problem found in every file (parsing
 * never stops at the first), in file order (tend.ini, the templates NAME@.ini
 * on their own, then services by name, then the instances of instances=),
 * one string each in one of these forms:
 *   "FILE:LINE: key: reason"  a bad value, unknown or duplicate key
 *   "FILE:LINE: reason"       a line that is not "key = value", a bad section
 *   "FILE:0: key: reason"     a problem with a key as a whole ("exec: required
 *                             key is missing", a default that cannot be made)
 *   "FILE:0: reason"          the file itself (cannot open, not a regular file,
 *                             larger than CONFIG_FILE_MAX, invalid service name)
 * Only the first CONFIG_ERRORS_MAX are kept; if there were more, a last
 * string "... and K more errors" says how many, so that a broken tree of
 * any size costs a reload time linear in its size and bounded memory.
 * FILE is shown relative to path as given (tendd --check -c conf/tend.ini
 * prints conf/services.d/web.ini:3: ...); the struct holds absolute paths.
 * -ENOMEM (or another -errno) on system errors, *ret_errors NULL; *ret is
 * untouched on failure. ret_errors may be NULL. Never logs.
 *
 * Files: every file (tend.ini, service files, environment files) is opened
 * O_NONBLOCK|O_NOCTTY, must be a regular file of at most CONFIG_FILE_MAX
 * bytes, and all of them together at most CONFIG_TREE_MAX: a FIFO, a device
 * or a huge file is an error, never a wait or unbounded memory. Numbers are
 * checked against the ranges in the key table (README), and argv with the
 * environment against what execve() would accept (CONFIG_EXEC_MAX, each
 * string below CONFIG_EXEC_STRING_MAX, and a quarter of the stack limit).
 *
 * File rules: values are taken literally after trimming surrounding blanks
 * (no inline comments: ';' and '#' inside a value are kept), lines of any
 * length, CRLF accepted, indented lines are ordinary lines (never
 * continuations), lines starting with ';' or '#' are comments. Relative paths
 * in tend.ini (services, vendor_services, socket, log_dir) are relative to
 * tend.ini's directory; environment_file in a service file or a drop-in is
 * relative to the directory the service file of that layer is in (the
 * services or the vendor directory, never NAME.ini.d). environment= and
 * environment_file values may be wrapped in one pair of quotes ('...'
 * literal, "..." with \" \\ \$ \` escapes); "-" before an environment_file
 * makes it optional (missing: skipped). The environment is merged once, at
 * load: pass_environment (from tendd's own environment), each
 * environment_file in order, then environment=, a later value winning; with
 * expand = yes, "${NAME}" in exec's words and in workdir is then replaced
 * from it (expand.h), an unknown name being an error of the key's line.
 * after/requires/wants must name services of the configuration and form no
 * cycle; each cycle is reported
 * once with its path and the file:line of every edge; exit_with too must name
 * a service. The program in exec is not looked up: a missing binary is a
 * runtime failure, not a config error.
 *
 * Layers (README, "Vendor and admin layers"): the services are the union by
 * name of NAME.ini in the services directory (the admin's) and in the vendor
 * directory ([tend] vendor_services; a missing vendor directory is no
 * error); the admin's file replaces the vendor's whole, and an admin
 * NAME.ini that is a symbolic link to /dev/null masks the name: no service,
 * its drop-ins ignored. Drop-ins, NAME.ini.d/ *.ini of either directory (the
 * admin's replacing, or masking, a vendor one of the same file name), are
 * parsed after the main file in lexical order of their file names: a key set
 * again replaces the value, except the lists (environment, environment_file,
 * pass_environment, after, requires, wants, success_exit_codes,
 * restart_prevent_exit_codes, exec_start_pre, on_failure, instances), which
 * accumulate and are emptied by an empty value. A drop-in directory of no
 * service is ignored. Drop-ins are read under the same rules as every other file.
 *
 * Templates (README, "Templates and instances"): NAME@.ini (with its
 * drop-ins, and NAME@X.ini.d/ for instance X only) is no service; it is
 * kept in templates and checked on its own, and makes a service NAME@X for
 * each X of its instances= (unless NAME@X.ini exists, which replaces it, or
 * is masked); in each value %i, %n and %% are substituted first. */
int config_load(const char *path, struct config **ret, char ***ret_errors);
struct config *config_free(struct config *c);
static inline void config_freep(struct config **c)
{
        config_free(*c);
}

/* Free the service configs still held by c (NULL entries are skipped) and empty
 * its list: once services own their configs the manager keeps only the
 * daemon's part, so no service config exists twice. */
void config_drop_services(struct config *c);

struct service_config *service_config_free(struct service_config *sc);
static inline void service_config_freep(struct service_config **sc)
{
        service_config_free(*sc);
}
struct service_config *service_config_copy(const struct service_config *sc);
/* Find a service by name (binary search). */
const struct service_config *config_find(const struct config *c, const char *name);

/* The template NAME@ of c that makes the instance name NAME@X, or NULL (as
 * for a masked instance). */
const struct config_template *config_find_template(const struct config *c, const char *name);
/* Make the service name (an instance NAME@X of one of c's templates), as
 * transient (made at runtime), with every check of a load; its after= and
 * requires= may name c's services and also[0..n_also). On success *ret owns
 * it. -ENOENT: no template makes that name; -EINVAL: *ret_errors holds why
 * (as config_load()'s, the instance named in each); -ENOMEM. */
int config_instance_new(const struct config *c, const char *name, char *const *also, size_t n_also,
                        struct service_config **ret, char ***ret_errors);
/* Add to c (sorted) an instance for each of names[0..n) that c does not
 * have, transient; one whose template is gone is skipped. An instance with
 * errors: c is unchanged, -EINVAL with *ret_errors; a dependency cycle they
 * close: -EINVAL with *ret_errors, and c (which holds them) is to be
 * discarded. */
int config_add_instances(struct config *c, char *const *names, size_t n, char ***ret_errors);
struct config_template *config_template_free(struct config_template *t);
static inline void config_template_freep(struct config_template **t)
{
        config_template_free(*t);
}
struct config_template *config_template_copy(const struct config_template *t);
bool config_template_equal(const struct config_template *a, const struct config_template *b);

/* True if a and b spawn the same process (a change needs a restart): argv
 * (not the exec line as written), type, user, group, workdir, umask,
 * environment, output mode, no_new_privs and limits. Restart policy,
 * timeouts, stop signal, log rotation, enabled, kill_mode, the cgroup
 * limits (memory_max, cpu_weight, ...), the exit code lists and the
 * dependencies can change live; environment_file, pass_environment and
 * expand count through what they make (environment, argv, workdir). */
bool service_config_spawn_equal(const struct service_config *a, const struct service_config *b);
/* True if sc has a health check (health_tcp, health_http or health_exec). */
bool service_config_has_health(const struct service_config *sc);
/* True if the health check keys are equal (they apply live: see service.h). */
bool service_config_health_equal(const struct service_config *a, const struct service_config *b);
/* True if every field is equal. */
bool service_config_equal(const struct service_config *a, const struct service_config *b);

/* Names as written in service files: NULL (to) or -EINVAL (from) when
 * unknown. */
const char *service_type_to_string(enum service_type t);
int service_type_from_string(const char *s);
const char *restart_policy_to_string(enum restart_policy r);
int restart_policy_from_string(const char *s);
const char *output_mode_to_string(enum output_mode o);
int output_mode_from_string(const char *s);
const char *kill_mode_to_string(enum kill_mode k);
int kill_mode_from_string(const char *s);
