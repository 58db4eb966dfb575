/* recover.c: the file that lets tendd take its services over after a crash
 * of the previous tendd (see recover.h): written as services change, read
 * and checked process by process at the next start. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "hashmap.h"
#include "intmap.h"
#include "log.h"
#include "manager.h"
#include "recover.h"
#include "service.h"

#define RECOVER_TMP RECOVER_FILE ".tmp"
#define RECOVER_LINE_MAX 512
/* Appending stops at this (and 4 times the live records), the file is rewritten. */
#define RECOVER_COMPACT_MIN (64U << 10)

/* What was written for one service: one allocation, the record's line in
 * it (thousands of services: a few dozen bytes each). */
struct recover_entry {
        pid_t pid;    /* s->pid when last looked at, 0: none */
        bool leader;  /* ...and whether it had a leader apart */
        bool dirty;   /* in rc->dirty */
        uint16_t len; /* its "+" record in the file (line), 0: none */
        char line[];
};

struct recover {
        struct manager *m;
        struct manager_listener listener;
        int dfd;                /* the directory of the control socket */
        int fd;                 /* the file, O_APPEND; -1: to be made */
        struct intmap *entries; /* struct recover_entry by service */
        struct service **dirty; /* changed since the last write; NULL: removed since */
        size_t n_dirty, cap_dirty;
        char *buf; /* records to append */
        size_t len, cap;
        size_t file_bytes; /* in the file now */
        size_t live_bytes; /* of the "+" records in effect */
        bool compact;      /* rewrite it whole at the next write */
        bool failing;      /* the last write failed (logged once) */
        ev_prepare flush;
};

/* -- the format ------------------------------------------------------------ */

static int recover_parse_u64(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                uint64_t d = (uint64_t)(*s - '0');

                if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

static int recover_parse_pid(const char *s, bool zero_ok, pid_t *ret)
{
        uint64_t v;

        if (recover_parse_u64(s, &v) < 0 || v > INT_MAX || (v == 0 && !zero_ok))
                return -EINVAL;
        *ret = (pid_t)v;
        return 0;
}

/* One line without its newline: 1 "+" (r filled), 0 "-" (r->name set),
 * -EINVAL anything else. */
static int recover_parse_line(const char *line, size_t n, struct recover_record *r)
{
        char copy[RECOVER_LINE_MAX], *tok[11], *save = NULL;
        size_t k = 0;

        if (n == 0 || n >= sizeof copy || memchr(line, '\0', n))
                return -EINVAL;
        memcpy(copy, line, n);
        copy[n] = '\0';
        /* Single spaces only: what recover_format() writes, nothing looser. */
        if (copy[0] == ' ' || copy[n - 1] == ' ' || strstr(copy, "  "))
                return -EINVAL;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (k == ELEMENTSOF(tok))
                        return -EINVAL;
                tok[k++] = t;
        }
        if (k < 2 || strlen(tok[0]) != 1 || !service_name_is_valid(tok[1]))
                return -EINVAL;
        *r = (struct recover_record){};
        (void)snprintf(r->name, sizeof r->name, "%s", tok[1]);
        if (tok[0][0] == '-')
                return k == 2 ? 0 : -EINVAL;
        if (tok[0][0] != '+' || k != 10)
                return -EINVAL;
        if (recover_parse_pid(tok[2], false, &r->main.pid) < 0 ||
            recover_parse_u64(tok[3], &r->main.ino) < 0 ||
            recover_parse_u64(tok[4], &r->main.dev) < 0 ||
            recover_parse_u64(tok[5], &r->main.start) < 0 ||
            recover_parse_pid(tok[6], true, &r->leader.pid) < 0 ||
            recover_parse_u64(tok[7], &r->leader.ino) < 0 ||
            recover_parse_u64(tok[8], &r->leader.dev) < 0 ||
            recover_parse_u64(tok[9], &r->leader.start) < 0)
                return -EINVAL;
        if (r->leader.pid == 0)
                r->leader = (struct pidfd_id){};
        return 1;
}

/* See recover.h. */
int recover_parse(const char *buf, size_t len, struct recover_record **ret, size_t *ret_n,
                  size_t *ret_bad)
{
        size_t magic = strlen(RECOVER_MAGIC), n = 0, cap = 0, bad = 0, live = 0;
        struct recover_record **v = NULL, *out = NULL;
        struct hashmap *by_name = NULL;
        const char *p, *end = buf + len;
        int r = 0;

        *ret = NULL;
        *ret_n = 0;
        if (ret_bad)
                *ret_bad = 0;
        if (len < magic || memcmp(buf, RECOVER_MAGIC, magic) != 0)
                return -EBADMSG;
        by_name = hashmap_new();
        if (!by_name)
                return -ENOMEM;
        for (p = buf + magic; p < end;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                struct recover_record rec, *have;
                int kind;

                if (!nl)
                        break; /* cut short by the crash: not a record */
                kind = recover_parse_line(p, (size_t)(nl - p), &rec);
                p = nl + 1;
                if (kind < 0) {
                        bad++;
                        continue;
                }
                have = hashmap_get(by_name, rec.name);
                if (kind == 0) {
                        if (have) {
                                (void)hashmap_remove(by_name, have->name);
                                have->name[0] = '\0'; /* gone: dropped below */
                                live--;
                        }
                        continue;
                }
                if (have) {
                        *have = rec;
                        continue;
                }
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        struct recover_record **nv = realloc(v, nc * sizeof *nv);
                        if (!nv) {
                                r = -ENOMEM;
                                goto out;
                        }
                        v = nv;
                        cap = nc;
                }
                v[n] = malloc(sizeof *v[n]);
                if (!v[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                *v[n] = rec;
                r = hashmap_put(by_name, v[n]->name, v[n]);
                n++;
                if (r < 0)
                        goto out;
                live++;
        }
        out = calloc(live + 1, sizeof *out);
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        live = 0;
        for (size_t i = 0; i < n; i++)
                if (v[i]->name[0])
                        out[live++] = *v[i];
        *ret = TAKE_PTR(out);
        *ret_n = live;
        if (ret_bad)
                *ret_bad = bad;
        r = 0;
out:
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        hashmap_free(by_name);
        return r;
}

/* See recover.h. */
int recover_format(char *buf, size_t len, const struct recover_record *r)
{
        int n = snprintf(buf, len, "+ %s %d %llu %llu %llu %d %llu %llu %llu\n", r->name,
                         (int)r->main.pid, (unsigned long long)r->main.ino,
                         (unsigned long long)r->main.dev, (unsigned long long)r->main.start,
                         (int)r->leader.pid, (unsigned long long)r->leader.ino,
                         (unsigned long long)r->leader.dev, (unsigned long long)r->leader.start);

        return n < 0 || (size_t)n >= len ? -ENOBUFS : n;
}

/* -- writing --------------------------------------------------------------- */

static int recover_append(struct recover *rc, const char *p, size_t n)
{
        if (rc->len + n > rc->cap) {
                size_t cap = rc->cap ? rc->cap : 4096;
                char *nb;

                while (cap < rc->len + n)
                        cap *= 2;
                nb = realloc(rc->buf, cap);
                if (!nb)
                        return -ENOMEM;
                rc->buf = nb;
                rc->cap = cap;
        }
        memcpy(rc->buf + rc->len, p, n);
        rc->len += n;
        return 0;
}

/* The "+" record of s's processes now into buf; -ESRCH: none (gone). */
static int recover_describe(const struct service *s, char *buf, size_t len)
{
        struct recover_record rec = {};
        int r;

        if (!service_is_live(s) || s->pidfd < 0)
                return -ESRCH;
        (void)snprintf(rec.name, sizeof rec.name, "%s", s->name);
        r = pidfd_identity(s->pidfd, &rec.main);
        if (r < 0)
                return r;
        if (s->leader_pidfd >= 0 && pidfd_identity(s->leader_pidfd, &rec.leader) < 0)
                rec.leader = (struct pidfd_id){}; /* reaped: only the main one is left */
        return recover_format(buf, len, &rec);
}

/* Bring s's record in line with s: a new "+" (or "-") line appended. */
static void recover_update(struct recover *rc, struct service *s)
{
        struct recover_entry *e = intmap_get(rc->entries, (uintptr_t)s), *ne;
        char line[RECOVER_LINE_MAX];
        int n = recover_describe(s, line, sizeof line);
        size_t keep = n > 0 ? (size_t)n : 0;

        if (!e || (n < 0 && e->len == 0))
                return;
        if (n < 0)
                n = snprintf(line, sizeof line, "- %s\n", s->name);
        rc->live_bytes -= e->len;
        e->len = 0;
        if (keep > 0) {
                ne = realloc(e, sizeof *e + keep);
                if (!ne) {
                        (void)intmap_remove(rc->entries, (uintptr_t)s);
                        free(e);
                        rc->compact = true; /* without it, written whole */
                        return;
                }
                /* Moved or not, the map holds the new pointer. */
                (void)intmap_remove(rc->entries, (uintptr_t)s);
                if (intmap_put(rc->entries, (uintptr_t)s, ne) < 0) {
                        free(ne);
                        rc->compact = true;
                        return;
                }
                e = ne;
                memcpy(e->line, line, keep);
                e->len = (uint16_t)keep;
                rc->live_bytes += keep;
        }
        if (recover_append(rc, line, (size_t)n) < 0)
                rc->compact = true;
}

/* The whole file anew: every record in effect, in the manager's order,
 * written to a temporary file renamed over the old one; the new file is
 * appended to from now on. */
static int recover_rewrite(struct recover *rc)
{
        struct manager *m = rc->m;
        _cleanup_close_ int fd = -1;
        char chunk[16384]; /* written a chunk at a time: no buffer of the whole file */
        size_t n = strlen(RECOVER_MAGIC), total = 0;
        int r = 0;

        memcpy(chunk, RECOVER_MAGIC, n);
        (void)unlinkat(rc->dfd, RECOVER_TMP, 0);
        fd = openat(rc->dfd, RECOVER_TMP,
                    O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
                    0600);
        if (fd < 0)
                return -errno;
        for (size_t i = 0; r >= 0 && i <= m->n_services; i++) {
                struct recover_entry *e =
                        i < m->n_services ? intmap_get(rc->entries, (uintptr_t)m->services[i])
                                          : NULL;

                if (i == m->n_services || (e && n + e->len > sizeof chunk)) {
                        r = loop_write(fd, chunk, n);
                        total += n;
                        n = 0;
                }
                if (e && e->len > 0) {
                        memcpy(chunk + n, e->line, e->len);
                        n += e->len;
                }
        }
        if (r >= 0 && renameat(rc->dfd, RECOVER_TMP, rc->dfd, RECOVER_FILE) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlinkat(rc->dfd, RECOVER_TMP, 0);
                return r;
        }
        safe_close(rc->fd);
        rc->fd = TAKE_FD(fd);
        rc->file_bytes = total;
        rc->len = 0; /* what was to be appended is in */
        rc->compact = false;
        return 0;
}

/* See recover.h. */
void recover_flush(struct recover *rc)
{
        int r = 0;

        for (size_t i = 0; i < rc->n_dirty; i++) {
                struct service *s = rc->dirty[i];
                struct recover_entry *e = s ? intmap_get(rc->entries, (uintptr_t)s) : NULL;

                if (!e)
                        continue;
                e->dirty = false;
                recover_update(rc, s);
        }
        rc->n_dirty = 0;
        if (rc->fd < 0 || rc->compact ||
            (rc->file_bytes > RECOVER_COMPACT_MIN && rc->file_bytes > 4 * rc->live_bytes))
                r = recover_rewrite(rc);
        else if (rc->len > 0) {
                r = loop_write(rc->fd, rc->buf, rc->len);
                rc->file_bytes += rc->len;
                rc->len = 0;
                if (r < 0)
                        rc->compact = true; /* a part may be in: start over */
        }
        if (r < 0 && !rc->failing)
                log_warning_errno(r,
                                  "writing %s (services cannot be taken over after a crash "
                                  "of tendd until it works again)",
                                  RECOVER_FILE);
        rc->failing = r < 0;
        if (r < 0)
                rc->len = 0; /* the whole file is written next time */
        if (rc->cap > 16384) {
                /* A burst of changes made it large: not kept for good. */
                free(rc->buf);
                rc->buf = NULL;
                rc->cap = 0;
        }
}

/* Once per loop iteration with changes: after the manager's work (lower
 * priority), so the spawns it made are in. */
static void recover_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
        struct recover *rc = container_of(w, struct recover, flush);

        recover_flush(rc);
        if (!rc->failing)
                ev_prepare_stop(loop, w);
}

static void recover_schedule(struct recover *rc)
{
        if (!ev_is_active(&rc->flush))
                ev_prepare_start(rc->m->loop, &rc->flush);
}

static struct recover_entry *recover_entry_of(struct recover *rc, struct service *s)
{
        struct recover_entry *e = intmap_get(rc->entries, (uintptr_t)s);

        if (e)
                return e;
        e = calloc(1, sizeof *e);
        if (!e)
                return NULL;
        if (intmap_put(rc->entries, (uintptr_t)s, e) < 0) {
                free(e);
                return NULL;
        }
        return e;
}

/* Every change of state comes here; most change no process (a new reason,
 * a state without one): then nothing is written. */
static void recover_state_changed(struct service *s, enum service_state old, void *userdata)
{
        struct recover *rc = userdata;
        struct recover_entry *e;
        pid_t pid = service_is_live(s) && s->pidfd >= 0 ? s->pid : 0;
        bool leader = pid > 0 && s->leader_pidfd >= 0;

        e = intmap_get(rc->entries, (uintptr_t)s);
        if (!e && pid == 0)
                return;
        if (!e)
                e = recover_entry_of(rc, s);
        if (!e) {
                rc->compact = true; /* no memory: it is missed, and written whole later */
                recover_schedule(rc);
                return;
        }
        if (e->pid == pid && e->leader == leader)
                return;
        e->pid = pid;
        e->leader = leader;
        if (!e->dirty) {
                if (rc->n_dirty == rc->cap_dirty) {
                        size_t cap = rc->cap_dirty ? rc->cap_dirty * 2 : 64;
                        struct service **nd = realloc(rc->dirty, cap * sizeof *nd);
                        if (!nd) {
                                e->pid = -1; /* looked at again at its next change */
                                return;
                        }
                        rc->dirty = nd;
                        rc->cap_dirty = cap;
                }
                rc->dirty[rc->n_dirty++] = s;
                e->dirty = true;
        }
        recover_schedule(rc);
}

/* s is about to be freed (down, dropped by a reload). */
static void recover_removed(struct service *s, void *userdata)
{
        struct recover *rc = userdata;
        struct recover_entry *e = intmap_remove(rc->entries, (uintptr_t)s);
        char line[8 + SERVICE_NAME_MAX];
        int n;

        if (!e)
                return;
        for (size_t i = 0; e->dirty && i < rc->n_dirty; i++)
                if (rc->dirty[i] == s)
                        rc->dirty[i] = NULL;
        if (e->len > 0) {
                n = snprintf(line, sizeof line, "- %s\n", s->name);
                if (recover_append(rc, line, (size_t)n) < 0)
                        rc->compact = true;
                rc->live_bytes -= e->len;
                recover_schedule(rc);
        }
        free(e);
}

/* See recover.h. */
int recover_new(struct manager *m, struct recover **ret)
{
        _cleanup_free_ char *dir = strdup(m->config->socket_path);
        struct recover *rc;
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else if (slash)
                *slash = '\0';
        else
                strcpy(dir, ".");
        rc = calloc(1, sizeof *rc);
        if (!rc)
                return -ENOMEM;
        rc->m = m;
        rc->fd = -1;
        rc->compact = true;
        rc->entries = intmap_new();
        rc->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rc->dfd < 0 || !rc->entries) {
                int r = rc->dfd < 0 ? -errno : -ENOMEM;
                intmap_free(rc->entries);
                safe_close(rc->dfd);
                free(rc);
                return r;
        }
        ev_prepare_init(&rc->flush, recover_flush_cb);
        ev_set_priority(&rc->flush, EV_MINPRI);
        rc->listener = (struct manager_listener){
                .state_changed = recover_state_changed,
                .removed = recover_removed,
                .userdata = rc,
        };
        if (manager_listen(m, &rc->listener) < 0) {
                rc->m = NULL;
                recover_free(rc);
                return -ENOSPC;
        }
        /* Services live now (a re-exec) are recorded; the file is written
         * whole at the first iteration in any case. */
        for (size_t i = 0; i < m->n_services; i++)
                recover_state_changed(m->services[i], m->services[i]->state, rc);
        recover_schedule(rc);
        *ret = rc;
        return 0;
}

/* See recover.h. */
struct recover *recover_free(struct recover *rc)
{
        bool clean = false; /* nothing live: the file goes */

        if (!rc)
                return NULL;
        if (rc->m) {
                manager_unlisten(rc->m, &rc->listener);
                ev_prepare_stop(rc->m->loop, &rc->flush);
                clean = rc->m->n_live == 0;
                if (!clean)
                        recover_flush(rc); /* what they are is there for the next tendd */
                for (size_t i = 0; i < rc->m->n_services; i++) {
                        struct recover_entry *e =
                                intmap_remove(rc->entries, (uintptr_t)rc->m->services[i]);
                        free(e);
                }
        }
        if (clean) {
                (void)unlinkat(rc->dfd, RECOVER_FILE, 0);
                (void)unlinkat(rc->dfd, RECOVER_TMP, 0);
        }
        intmap_free(rc->entries);
        safe_close(rc->fd);
        safe_close(rc->dfd);
        free(rc->dirty);
        free(rc->buf);
        free(rc);
        return NULL;
}

/* -- adopting -------------------------------------------------------------- */

/* A pidfd for the process the file names, if it is that process: the fd,
 * or -errno with why in buf. */
static int recover_open(const struct pidfd_id *want, char *why, size_t len)
{
        _cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, want->pid, 0);
        struct pidfd_id have;
        int r;

        if (fd < 0) {
                r = -errno;
                (void)snprintf(why, len, "%s", r == -ESRCH ? "it is gone" : strerror(-r));
                return r;
        }
        r = pidfd_identity(fd, &have);
        if (r < 0) {
                (void)snprintf(why, len, "%s", r == -ESRCH ? "it is gone" : strerror(-r));
                return r;
        }
        if (have.ino != want->ino || have.dev != want->dev) {
                (void)snprintf(why, len,
                               "it is another process now (pidfs inode %llu, "
                               "not %llu)",
                               (unsigned long long)have.ino, (unsigned long long)want->ino);
                return -ESTALE;
        }
        if (have.start != want->start) {
                (void)snprintf(why, len, "it is another process now (started at %llu, not %llu)",
                               (unsigned long long)have.start, (unsigned long long)want->start);
                return -ESTALE;
        }
        return TAKE_FD(fd);
}

static bool recover_adopt_one(struct recover *rc, const struct recover_record *rec,
                              struct intmap *taken)
{
        struct service *s = manager_find(rc->m, rec->name), *other;
        _cleanup_close_ int pidfd = -1, leader = -1;
        char why[160], reason[SERVICE_REASON_MAX];
        int r;

        /* An instance a start made at runtime is in no file: made again. */
        if (!s && config_find_template(rc->m->config, rec->name)) {
                _cleanup_strv_free_ char **errors = NULL;

                r = manager_instantiate(rc->m, rec->name, &s, &errors);
                if (r < 0)
                        log_warning("%s names service %s, not made again from its template: %s",
                                    RECOVER_FILE, rec->name,
                                    errors && errors[0] ? errors[0] : strerror(-r));
        }
        if (!s) {
                log_warning("%s names service %s (pid %d), which is not in the config: "
                            "its processes are left alone",
                            RECOVER_FILE, rec->name, (int)rec->main.pid);
                return false;
        }
        if (service_is_live(s))
                return false; /* taken over already, from systemd's fd store */
        /* Only a forged file names one process twice: neither claim is
         * believed beyond the first. */
        other = intmap_get(taken, (uint64_t)rec->main.pid);
        if (other) {
                log_service(LOG_WARNING, s->name,
                            "not taken over: pid %d is %s's, taken over "
                            "already",
                            (int)rec->main.pid, other->name);
                return false;
        }
        pidfd = recover_open(&rec->main, why, sizeof why);
        if (pidfd < 0) {
                log_service(LOG_WARNING, s->name, "not taken over: pid %d: %s; left alone",
                            (int)rec->main.pid, why);
                return false;
        }
        if (rec->leader.pid > 0) {
                leader = recover_open(&rec->leader, why, sizeof why);
                if (leader < 0)
                        log_service(LOG_WARNING, s->name,
                                    "its first process, pid %d: %s; "
                                    "its process group is not signalled",
                                    (int)rec->leader.pid, why);
        }
        (void)snprintf(reason, sizeof reason, "adopted after a restart of tendd, pid %d",
                       (int)rec->main.pid);
        r = service_adopt(s, &(const struct service_adoption){ .pidfd = pidfd,
                                                               .pid = rec->main.pid,
                                                               .leader_pidfd = leader,
                                                               .ready_fd = -1,
                                                               .reason = reason });
        if (r < 0) {
                log_service(LOG_WARNING, s->name, "not taken over: pid %d: %s", (int)rec->main.pid,
                            strerror(-r));
                return false;
        }
        TAKE_FD(pidfd);
        TAKE_FD(leader);
        (void)intmap_put(taken, (uint64_t)rec->main.pid, s);
        return true;
}

/* See recover.h. */
size_t recover_adopt(struct recover *rc)
{
        _cleanup_close_ int fd = openat(rc->dfd, RECOVER_FILE,
                                        O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ struct recover_record *recs = NULL;
        size_t n = 0, bad = 0, adopted = 0, got = 0;
        struct intmap *taken;
        struct stat st;
        int r;

        if (fd < 0) {
                if (errno != ENOENT)
                        log_warning_errno(-errno, "%s: nothing taken over", RECOVER_FILE);
                return 0;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            (st.st_mode & 0077) || st.st_size > RECOVER_SIZE_MAX) {
                log_warning("%s: not a regular file of tendd's own, mode 0600, of at most "
                            "%u bytes: ignored, nothing taken over",
                            RECOVER_FILE, RECOVER_SIZE_MAX);
                return 0;
        }
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
                log_warning_errno(-ENOMEM, "%s: nothing taken over", RECOVER_FILE);
                return 0;
        }
        while (got < (size_t)st.st_size) {
                ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                got += (size_t)k;
        }
        r = recover_parse(buf, got, &recs, &n, &bad);
        if (r < 0) {
                log_warning_errno(r, "%s: not a state file: ignored, nothing taken over",
                                  RECOVER_FILE);
                return 0;
        }
        if (bad > 0)
                log_warning("%s: %zu malformed line%s skipped", RECOVER_FILE, bad,
                            bad == 1 ? "" : "s");
        taken = intmap_new();
        if (!taken) {
                log_warning_errno(-ENOMEM, "%s: nothing taken over", RECOVER_FILE);
                return 0;
        }
        for (size_t i = 0; i < n; i++)
                adopted += recover_adopt_one(rc, &recs[i], taken);
        intmap_free(taken);
        if (n > 0)
                log_info("%zu of %zu service%s running before tendd restarted taken over", adopted,
                         n, n == 1 ? "" : "s");
        return adopted;
}
