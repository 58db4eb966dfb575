/* cglimits.c: cgroup v2 limits and accounting of one service; see
 * cglimits.h. One table maps each config key to its controller, its file
 * and its kernel default; everything else is reading and writing small
 * cgroup files relative to directory fds. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>

#include "cglimits.h"
#include "cgroup.h"
#include "parse.h"

/* Indexed by the bit number of CGLIMITS_*. */
static const char *const cglimits_controllers[] = { "memory", "pids", "cpu", "io" };

/* How a value is written. */
enum cglimits_form {
        FORM_PLAIN,     /* "N" or "max" */
        FORM_CPU_MAX,   /* "QUOTA PERIOD" or "max PERIOD" */
        FORM_IO_WEIGHT, /* "default N" */
};

static const struct cglimits_key {
        const char *key;  /* in service files */
        const char *file; /* in the service's cgroup */
        unsigned controller;
        size_t offset; /* of its uint64_t in struct config_cgroup */
        uint64_t def;  /* the kernel's default, written back when a key is unset */
        enum cglimits_form form;
} cglimits_keys[] = {
        { "memory_max", "memory.max", CGLIMITS_MEMORY, offsetof(struct config_cgroup, memory_max),
          CONFIG_CGROUP_MAX, FORM_PLAIN },
        { "memory_high", "memory.high", CGLIMITS_MEMORY,
          offsetof(struct config_cgroup, memory_high), CONFIG_CGROUP_MAX, FORM_PLAIN },
        { "tasks_max", "pids.max", CGLIMITS_PIDS, offsetof(struct config_cgroup, tasks_max),
          CONFIG_CGROUP_MAX, FORM_PLAIN },
        { "cpu_weight", "cpu.weight", CGLIMITS_CPU, offsetof(struct config_cgroup, cpu_weight), 100,
          FORM_PLAIN },
        { "cpu_max", "cpu.max", CGLIMITS_CPU, offsetof(struct config_cgroup, cpu_max),
          CONFIG_CGROUP_MAX, FORM_CPU_MAX },
        { "io_weight", "io.weight", CGLIMITS_IO, offsetof(struct config_cgroup, io_weight), 100,
          FORM_IO_WEIGHT },
};

/* See cglimits.h. */
const char *cglimits_controller_to_string(unsigned controller)
{
        for (unsigned i = 0; i < ELEMENTSOF(cglimits_controllers); i++)
                if (controller == 1U << i)
                        return cglimits_controllers[i];
        return NULL;
}

static uint64_t cglimits_value(const struct service_config *sc, const struct cglimits_key *k)
{
        return *(const uint64_t *)((const char *)&sc->cgroup + k->offset);
}

/* See cglimits.h. */
unsigned cglimits_needed(const struct service_config *sc)
{
        unsigned need = 0;

        for (size_t i = 0; i < ELEMENTSOF(cglimits_keys); i++)
                if (cglimits_value(sc, &cglimits_keys[i]) != 0)
                        need |= cglimits_keys[i].controller;
        return need;
}

/* Append a clause to why ("; " between clauses); why may be NULL. */
_printf_(3, 4) static void cglimits_why(char *why, size_t len, const char *fmt, ...)
{
        size_t used;
        va_list ap;

        if (!why || len == 0)
                return;
        used = strnlen(why, len - 1);
        if (used > 0) {
                (void)snprintf(why + used, len - used, "; ");
                used = strnlen(why, len - 1);
        }
        va_start(ap, fmt);
        (void)vsnprintf(why + used, len - used, fmt, ap);
        va_end(ap);
}

/* Read dfd/file, at most len - 1 bytes, into buf as a string. */
static int cglimits_read(int dfd, const char *file, char *buf, size_t len)
{
        ssize_t n = cgroup_read(dfd, file, buf, len);

        return n < 0 ? (int)n : 0;
}

/* The CGLIMITS_* bits of a blank-separated list of controller names. */
static unsigned cglimits_parse_controllers(const char *s)
{
        unsigned bits = 0;
        size_t n;

        for (s += strspn(s, " \t\n"); *s; s += n, s += strspn(s, " \t\n")) {
                n = strcspn(s, " \t\n");
                for (unsigned i = 0; i < ELEMENTSOF(cglimits_controllers); i++)
                        if (strlen(cglimits_controllers[i]) == n &&
                            strncmp(s, cglimits_controllers[i], n) == 0)
                                bits |= 1U << i;
        }
        return bits;
}

/* The controllers file (cgroup.controllers, cgroup.subtree_control) lists. */
static int cglimits_read_controllers(int dfd, const char *file, unsigned *ret)
{
        char buf[512];
        int r;

        r = cglimits_read(dfd, file, buf, sizeof buf);
        if (r < 0)
                return r;
        *ret = cglimits_parse_controllers(buf);
        return 0;
}

/* See cglimits.h. */
int cglimits_available(int tree_dfd, unsigned *ret)
{
        return cglimits_read_controllers(tree_dfd, "cgroup.controllers", ret);
}

/* Write "+NAME" for each controller in bits, one write each; the first error. */
static int cglimits_write_subtree_control(int tree_dfd, unsigned bits)
{
        _cleanup_close_ int fd = -1;
        char text[16];
        int first = 0, n;

        fd = openat(tree_dfd, "cgroup.subtree_control", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        for (unsigned i = 0; i < ELEMENTSOF(cglimits_controllers); i++) {
                if (!(bits & (1U << i)))
                        continue;
                n = snprintf(text, sizeof text, "+%s", cglimits_controllers[i]);
                errno = 0;
                if (write(fd, text, (size_t)n) != n && first == 0)
                        first = errno > 0 ? -errno : -EIO;
        }
        return first;
}

/* See cglimits.h. */
int cglimits_enable(int tree_dfd, unsigned want, unsigned *ret_enabled)
{
        unsigned available, enabled;
        int r, written = 0;

        *ret_enabled = 0;
        r = cglimits_available(tree_dfd, &available);
        if (r < 0)
                return r;
        r = cglimits_read_controllers(tree_dfd, "cgroup.subtree_control", &enabled);
        if (r < 0)
                return r;
        want &= available & ~enabled;
        if (want) {
                written = cglimits_write_subtree_control(tree_dfd, want);
                r = cglimits_read_controllers(tree_dfd, "cgroup.subtree_control", &enabled);
                if (r < 0)
                        return r;
        }
        *ret_enabled = enabled;
        return written;
}

/* The clause for k when its controller is not available, detail appended. */
static void cglimits_why_unavailable(char *why, size_t len, const struct cglimits_key *k,
                                     const char *detail)
{
        cglimits_why(why, len, "%s: the %s controller is not available in tend's cgroup%s", k->key,
                     cglimits_controller_to_string(k->controller), detail);
}

/* See cglimits.h. */
int cglimits_check(const struct service_config *sc, unsigned available, char *why, size_t why_len)
{
        int r = 0;

        if (why && why_len > 0)
                why[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(cglimits_keys); i++) {
                const struct cglimits_key *k = &cglimits_keys[i];

                if (cglimits_value(sc, k) == 0 || (available & k->controller))
                        continue;
                cglimits_why_unavailable(why, why_len, k, "");
                r = -EOPNOTSUPP;
        }
        return r;
}

/* " (FILE: what it lists)" for a file of the service's parent, tend's
 * cgroup; "" when it cannot be read. */
static void cglimits_show_parent_file(int unit_dfd, const char *file, char *buf, size_t len)
{
        char path[64], text[256];

        (void)snprintf(path, sizeof path, "../%s", file);
        if (cglimits_read(unit_dfd, path, text, sizeof text) < 0) {
                buf[0] = 0;
                return;
        }
        string_strip(text);
        (void)snprintf(buf, len, text[0] ? " (%s: %s)" : " (%s is empty)", file, text);
}

/* Say why k's file is missing: its controller is not available in tend's
 * cgroup, or it is but was not enabled for its children, or it is enabled
 * and this kernel lacks the file (io.weight needs blk-iocost). */
static void cglimits_why_missing(int unit_dfd, const struct cglimits_key *k, char *why, size_t len)
{
        const char *name = cglimits_controller_to_string(k->controller);
        unsigned available = 0, enabled = 0;
        char detail[300];

        if (cglimits_read_controllers(unit_dfd, "../cgroup.controllers", &available) < 0 ||
            !(available & k->controller)) {
                cglimits_show_parent_file(unit_dfd, "cgroup.controllers", detail, sizeof detail);
                cglimits_why_unavailable(why, len, k, detail);
                return;
        }
        if (cglimits_read_controllers(unit_dfd, "../cgroup.subtree_control", &enabled) == 0 &&
            (enabled & k->controller)) {
                cglimits_why(why, len, "%s: the %s controller is enabled but this kernel has no %s",
                             k->key, name, k->file);
                return;
        }
        cglimits_show_parent_file(unit_dfd, "cgroup.subtree_control", detail, sizeof detail);
        cglimits_why(why, len, "%s: the %s controller is not enabled for tend's services%s", k->key,
                     name, detail);
}

/* k's value v as its file takes it. */
static int cglimits_format(const struct cglimits_key *k, uint64_t v, char *buf, size_t len)
{
        char n[32] = "max";

        if (v != CONFIG_CGROUP_MAX)
                (void)snprintf(n, sizeof n, "%llu", (unsigned long long)v);
        switch (k->form) {
        case FORM_CPU_MAX:
                return snprintf(buf, len, "%s %u", n, CONFIG_CPU_MAX_PERIOD_USEC);
        case FORM_IO_WEIGHT:
                return snprintf(buf, len, "default %s", n);
        default:
                return snprintf(buf, len, "%s", n);
        }
}

/* Write v into k's file of the service's cgroup. */
static int cglimits_write(int unit_dfd, const struct cglimits_key *k, uint64_t v, char *why,
                          size_t len)
{
        _cleanup_close_ int fd = -1;
        char text[64];
        int n = cglimits_format(k, v, text, sizeof text), r;

        fd = openat(unit_dfd, k->file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT) {
                cglimits_why_missing(unit_dfd, k, why, len);
                return -ENOENT;
        }
        if (fd < 0) {
                r = -errno;
                cglimits_why(why, len, "%s: cannot open %s: %s", k->key, k->file, strerror(-r));
                return r;
        }
        errno = 0;
        if (write(fd, text, (size_t)n) == n)
                return 0;
        r = errno > 0 ? -errno : -EIO;
        cglimits_why(why, len, "%s: writing '%s' to %s failed: %s", k->key, text, k->file,
                     strerror(-r));
        return r;
}

/* See cglimits.h. */
int cglimits_apply(int unit_dfd, const struct service_config *old, const struct service_config *sc,
                   char *why, size_t why_len)
{
        int r = 0, q;

        if (why && why_len > 0)
                why[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(cglimits_keys); i++) {
                const struct cglimits_key *k = &cglimits_keys[i];
                uint64_t v = cglimits_value(sc, k), was = old ? cglimits_value(old, k) : 0;

                if (v == 0 && was == 0)
                        continue;
                q = cglimits_write(unit_dfd, k, v != 0 ? v : k->def, r < 0 ? NULL : why, why_len);
                if (q < 0 && r == 0)
                        r = q;
        }
        return r;
}

/* The number after "key " on a line of a flat-keyed file's text (key NULL:
 * the text is one number), or CGLIMITS_UNKNOWN. */
static uint64_t cglimits_field(const char *text, const char *key)
{
        size_t klen = key ? strlen(key) : 0, n;
        char digits[24];
        uint64_t v;

        for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (key && (strncmp(p, key, klen) != 0 || p[klen] != ' '))
                        continue;
                p += key ? klen + 1 : 0;
                n = strspn(p, "0123456789");
                if (n == 0 || n >= sizeof digits || (p[n] != '\n' && p[n] != 0))
                        return CGLIMITS_UNKNOWN;
                memcpy(digits, p, n);
                digits[n] = 0;
                return parse_u64(digits, false, &v) == 0 ? v : CGLIMITS_UNKNOWN;
        }
        return CGLIMITS_UNKNOWN;
}

/* The field key (NULL: the whole file) of dfd/file; unknown when the file is missing. */
static int cglimits_read_field(int dfd, const char *file, const char *key, uint64_t *ret)
{
        char buf[2048];
        int r;

        r = cglimits_read(dfd, file, buf, sizeof buf);
        if (r == -ENOENT) {
                *ret = CGLIMITS_UNKNOWN;
                return 0;
        }
        if (r < 0)
                return r;
        *ret = cglimits_field(buf, key);
        return 0;
}

/* See cglimits.h. */
int cglimits_usage(int unit_dfd, struct cglimits_usage *ret)
{
        struct cglimits_usage u;
        int r;

        r = cglimits_read_field(unit_dfd, "cpu.stat", "usage_usec", &u.cpu_usec);
        if (r >= 0)
                r = cglimits_read_field(unit_dfd, "memory.current", NULL, &u.memory_bytes);
        if (r >= 0)
                r = cglimits_read_field(unit_dfd, "memory.events", "oom_kill", &u.oom_kills);
        if (r < 0)
                return r;
        *ret = u;
        return 0;
}

/* See cglimits.h. */
bool cglimits_oom_killed(int unit_dfd, uint64_t *counter)
{
        uint64_t n;
        bool killed;

        if (cglimits_read_field(unit_dfd, "memory.events", "oom_kill", &n) < 0 ||
            n == CGLIMITS_UNKNOWN) {
                *counter = CGLIMITS_UNKNOWN;
                return false;
        }
        killed = n > *counter;
        *counter = n;
        return killed;
}
