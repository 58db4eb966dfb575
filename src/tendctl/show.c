/* show.c: the verbs that read one service's record for a person or a
 * script: show (every field of the record as Key=Value, the D-Bus member
 * names of wire.h's table), is-active and is-failed (an exit status), and
 * list-dependencies (the tree of After, Requires and Wants, from one listing). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tendctl.h"

/* A timestamp field (realtime usec) also shows as "<Key>USec", raw. */
static bool show_is_timestamp(const struct wire_field *f)
{
        return f->json_form == WIRE_JSON_SECONDS;
}

/* The field that name selects (a member name, or a timestamp's "...USec");
 * *ret_raw: the raw form of a timestamp. */
static const struct wire_field *show_field(const char *name, bool *ret_raw)
{
        size_t l = strlen(name);

        for (size_t i = 0; i < wire_service_n_fields; i++) {
                const struct wire_field *f = &wire_service_fields[i];
                size_t bl = strlen(f->bus);

                if (strcmp(f->bus, name) == 0) {
                        *ret_raw = false;
                        return f;
                }
                if (show_is_timestamp(f) && l == bl + 4 && strncmp(name, f->bus, bl) == 0 &&
                    strcmp(name + bl, "USec") == 0) {
                        *ret_raw = true;
                        return f;
                }
        }
        return NULL;
}

/* See tendctl.h. */
bool ctl_show_property_known(const char *name)
{
        bool raw;

        return show_field(name, &raw) != NULL;
}

/* Whether -p selected name (no -p: everything). */
static bool show_selected(const struct ctl_args *a, const char *name)
{
        size_t l = strlen(name);

        if (a->n_properties == 0)
                return true;
        for (int i = 0; i < a->n_properties; i++)
                for (const char *p = a->properties[i]; *p;) {
                        size_t n = strcspn(p, ",");

                        if (n == l && strncmp(p, name, l) == 0)
                                return true;
                        p += n + (p[n] == ',');
                }
        return false;
}

/* A realtime usec as systemd shows a timestamp: local time, "" for 0. */
static void show_timestamp(char *buf, size_t size, uint64_t usec)
{
        time_t t = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;

        buf[0] = '\0';
        if (usec == 0 || !localtime_r(&t, &tm) ||
            strftime(buf, size, "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                buf[0] = '\0';
}

/* One line: "Key=value" (or the value alone); the text escaped for a terminal. */
static int show_line(const struct ctl_args *a, const char *key, const char *suffix,
                     const char *value)
{
        _cleanup_free_ char *esc = ctl_escape(value);

        if (!esc)
                return -ENOMEM;
        if (a->value)
                printf("%s\n", esc);
        else
                printf("%s%s=%s\n", key, suffix, esc);
        return 0;
}

static int show_text(const struct ctl_args *a, const struct wire_service *w)
{
        for (size_t i = 0; i < wire_service_n_fields; i++) {
                const struct wire_field *f = &wire_service_fields[i];
                const void *p = wire_field_ptr(w, f);
                char buf[128];
                const char *value = buf;
                int r;

                switch (f->type) {
                case 's':
                        value = *(const char *const *)p;
                        value = value ? value : "";
                        break;
                case 'u':
                        snprintf(buf, sizeof buf, "%" PRIu32, *(const uint32_t *)p);
                        break;
                case 'i':
                        snprintf(buf, sizeof buf, "%" PRIi32, *(const int32_t *)p);
                        break;
                case 'b':
                        snprintf(buf, sizeof buf, "%s", *(const int *)p ? "yes" : "no");
                        break;
                default: /* 't' */
                        if (show_is_timestamp(f))
                                show_timestamp(buf, sizeof buf, *(const uint64_t *)p);
                        else if (f->json_form == WIRE_JSON_KNOWN &&
                                 *(const uint64_t *)p == UINT64_MAX)
                                snprintf(buf, sizeof buf, "[not set]");
                        else
                                snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)p);
                }
                if (show_selected(a, f->bus) && (r = show_line(a, f->bus, "", value)) < 0)
                        return r;
                if (!show_is_timestamp(f))
                        continue;
                char key[64];
                snprintf(key, sizeof key, "%sUSec", f->bus);
                snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)p);
                if (show_selected(a, key) && (r = show_line(a, f->bus, "USec", buf)) < 0)
                        return r;
        }
        return 0;
}

/* The record as a JSON object: member names, values as their D-Bus types
 * (strings, numbers, booleans), null for what is not known. */
static void show_json(const struct ctl_args *a, const struct wire_service *w)
{
        const char *sep = "";

        putchar('{');
        for (size_t i = 0; i < wire_service_n_fields; i++) {
                const struct wire_field *f = &wire_service_fields[i];
                const void *p = wire_field_ptr(w, f);
                char key[64];

                snprintf(key, sizeof key, "%sUSec", f->bus);
                if (!show_selected(a, f->bus) && !(show_is_timestamp(f) && show_selected(a, key)))
                        continue;
                printf("%s\"%s\": ", sep, f->bus);
                sep = ", ";
                switch (f->type) {
                case 's':
                        ctl_json_string(*(const char *const *)p);
                        break;
                case 'u':
                        printf("%" PRIu32, *(const uint32_t *)p);
                        break;
                case 'i':
                        printf("%" PRIi32, *(const int32_t *)p);
                        break;
                case 'b':
                        fputs(*(const int *)p ? "true" : "false", stdout);
                        break;
                default:
                        if (f->json_form == WIRE_JSON_KNOWN && *(const uint64_t *)p == UINT64_MAX)
                                fputs("null", stdout);
                        else
                                printf("%" PRIu64, *(const uint64_t *)p);
                }
        }
        putchar('}');
}

/* show [-p KEY[,KEY]] [--value] [--json] NAME...; see tendctl.h. */
int ctl_show(struct ctl_args *a)
{
        int code = EXIT_OK, shown = 0;

        if (a->json)
                putchar('[');
        for (int i = 0; i < a->n_operands; i++) {
                struct wire_service w = {};
                int r = ctl_get_service(a->bus, a->operands[i], &w);

                if (r != EXIT_OK) {
                        wire_service_done(&w);
                        code = r;
                        if (r == EXIT_UNREACHABLE)
                                break;
                        continue;
                }
                if (a->json) {
                        fputs(shown ? ",\n " : "\n ", stdout);
                        show_json(a, &w);
                } else {
                        if (shown)
                                putchar('\n');
                        if (show_text(a, &w) < 0) {
                                fprintf(stderr, "tendctl: out of memory\n");
                                code = EXIT_FAILED;
                        }
                }
                shown++;
                wire_service_done(&w);
        }
        if (a->json)
                fputs(shown ? "\n]\n" : "]\n", stdout);
        fflush(stdout);
        return code;
}

/* is-active / is-failed: each name's state (unknown ones "unknown", said on
 * stderr); exit 0 if any is in the state, else miss. */
static int show_is(struct ctl_args *a, const char *state, int miss)
{
        bool any = false;

        for (int i = 0; i < a->n_operands; i++) {
                struct wire_service w = {};
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int r;

                r = sd_bus_call_method(a->bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_GET,
                                       &error, &reply, "s", a->operands[i]);
                if (r < 0 && sd_bus_error_has_name(&error, WIRE_ERROR_NO_SUCH_SERVICE)) {
                        if (!a->quiet) {
                                printf("unknown\n");
                                fprintf(stderr, "tendctl: %s: unknown service\n", a->operands[i]);
                        }
                } else if (r < 0) {
                        int code = ctl_report(a->operands[i], &error, r);

                        sd_bus_error_free(&error);
                        /* A check that cannot be made is neither yes nor no. */
                        return code == EXIT_UNREACHABLE ? code : EXIT_FAILED;
                } else if ((r = wire_service_read(reply, &w)) < 0) {
                        fprintf(stderr, "tendctl: %s: bad reply from tendd: %s\n", a->operands[i],
                                strerror(-r));
                        wire_service_done(&w);
                        sd_bus_message_unref(reply);
                        return EXIT_FAILED;
                } else {
                        any = any || streq_ptr(w.state, state);
                        if (!a->quiet)
                                printf("%s\n", w.state ? w.state : "unknown");
                }
                wire_service_done(&w);
                sd_bus_message_unref(reply);
                sd_bus_error_free(&error);
        }
        fflush(stdout);
        return any ? EXIT_OK : miss;
}

/* is-active [-q] NAME...: running counts, nothing else (a oneshot that
 * completed is stopped; starting, stopping and backoff are on the way). */
int ctl_is_active(struct ctl_args *a)
{
        return show_is(a, "running", EXIT_NOT_RUNNING);
}

int ctl_is_failed(struct ctl_args *a)
{
        return show_is(a, "failed", EXIT_FAILED);
}

/* ---- list-dependencies ---- */

/* The lists an edge can come from, strongest first: a name in several is
 * one edge of the first. */
static const char *const deps_kinds[] = { "requires", "wants", "after" };
#define DEPS_KINDS 3

/* An edge of the reverse graph: v[from] requires, wants or starts after a
 * service. */
struct deps_edge {
        size_t from;
        unsigned kind; /* index of deps_kinds */
};

struct deps_tree {
        const struct ctl_args *a;
        struct wire_service *v;
        size_t n;
        bool *expanded; /* per service of v: its subtree is in the tree already */
        int width;      /* of the name column, tree included */
        size_t *by_name; /* the indices of v, sorted by name */
        /* --reverse: the services that depend on v[i] are
         * rev[rev_start[i]..rev_start[i + 1]), in the listing's order: found
         * once, not by a scan of every record for each service drawn. */
        size_t *rev_start;
        struct deps_edge *rev;
};

/* The record of the service named by the len bytes at name, or NULL. */
static struct wire_service *deps_lookup(const struct deps_tree *t, const char *name, size_t len)
{
        size_t lo = 0, hi = t->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const char *m = t->v[t->by_name[mid]].name ? t->v[t->by_name[mid]].name : "";
                int c = strncmp(name, m, len);

                if (c == 0 && m[len])
                        c = -1; /* name is a prefix of m */
                if (c == 0)
                        return &t->v[t->by_name[mid]];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

static struct wire_service *deps_find(const struct deps_tree *t, const char *name)
{
        return deps_lookup(t, name, strlen(name));
}

static int deps_name_cmp(const void *a, const void *b, void *data)
{
        const struct wire_service *v = data;
        const char *x = v[*(const size_t *)a].name, *y = v[*(const size_t *)b].name;

        return strcmp(x ? x : "", y ? y : "");
}

/* One pass over every record's requires, wants, then after, names: count
 * the edges into each service (rev_start[i + 1]) or, with fill, store them
 * at pos[i]. A name in several lists is one edge, of the first. */
static void deps_reverse_pass(struct deps_tree *t, size_t *last, size_t *pos, bool fill)
{
        for (size_t i = 0; i < t->n; i++)
                last[i] = SIZE_MAX;
        for (size_t j = 0; j < t->n; j++) {
                const char *lists[DEPS_KINDS] = { t->v[j].requires ? t->v[j].requires : "",
                                                  t->v[j].wants ? t->v[j].wants : "",
                                                  t->v[j].after ? t->v[j].after : "" };

                for (unsigned k = 0; k < DEPS_KINDS; k++)
                        for (const char *p = lists[k]; *p;) {
                                size_t l = strcspn(p, " ");
                                const struct wire_service *w = l ? deps_lookup(t, p, l) : NULL;
                                size_t i;

                                p += l;
                                p += strspn(p, " ");
                                if (!w)
                                        continue;
                                i = (size_t)(w - t->v);
                                if (last[i] == j)
                                        continue;
                                last[i] = j;
                                if (fill)
                                        t->rev[pos[i]++] = (struct deps_edge){ j, k };
                                else
                                        t->rev_start[i + 1]++;
                        }
        }
}

/* by_name, and with --reverse the reverse graph; 0 or -ENOMEM. */
static int deps_index(struct deps_tree *t)
{
        _cleanup_free_ size_t *last = NULL, *pos = NULL;

        t->by_name = malloc((t->n + 1) * sizeof *t->by_name);
        if (!t->by_name)
                return -ENOMEM;
        for (size_t i = 0; i < t->n; i++)
                t->by_name[i] = i;
        qsort_r(t->by_name, t->n, sizeof *t->by_name, deps_name_cmp, t->v);
        if (!t->a->reverse)
                return 0;
        t->rev_start = calloc(t->n + 1, sizeof *t->rev_start);
        last = malloc((t->n + 1) * sizeof *last);
        pos = malloc((t->n + 1) * sizeof *pos);
        if (!t->rev_start || !last || !pos)
                return -ENOMEM;
        deps_reverse_pass(t, last, NULL, false);
        for (size_t i = 0; i < t->n; i++)
                t->rev_start[i + 1] += t->rev_start[i];
        t->rev = malloc((t->rev_start[t->n] + 1) * sizeof *t->rev);
        if (!t->rev)
                return -ENOMEM;
        memcpy(pos, t->rev_start, t->n * sizeof *pos);
        deps_reverse_pass(t, last, pos, true);
        return 0;
}

/* Whether the space-separated list has name. */
static bool deps_has(const char *list, const char *name)
{
        size_t l = strlen(name);

        for (const char *p = list ? list : ""; *p;) {
                size_t n = strcspn(p, " ");

                if (n == l && strncmp(p, name, l) == 0)
                        return true;
                p += n;
                p += strspn(p, " ");
        }
        return false;
}

/* The children of w, in the order of its requires=, wants=, then after= names
 * (forward), or of the listing (reverse); calls each(t, child name, kind,
 * last?, data). */
typedef int (*deps_each_fn)(struct deps_tree *t, const char *name, const char *kind, bool last,
                            void *data);

/* Each name of a space-separated list, one at a time, as a string. */
static int deps_children(struct deps_tree *t, const struct wire_service *w, deps_each_fn each,
                         void *data)
{
        const char *names[DEPS_KINDS] = { w->requires ? w->requires : "",
                                          w->wants ? w->wants : "", w->after ? w->after : "" };
        const char *pending = NULL, *pending_kind = NULL;
        char *buf = NULL;
        int r = 0;

        /* Forward: requires first, then the wants and after names not in an
         * earlier list. */
        if (!t->a->reverse) {
                for (unsigned k = 0; k < DEPS_KINDS && r >= 0; k++)
                        for (const char *p = names[k]; *p && r >= 0;) {
                                size_t l = strcspn(p, " ");
                                char *name = strndup(p, l);

                                p += l;
                                p += strspn(p, " ");
                                if (!name)
                                        return -ENOMEM;
                                if ((k > 0 && deps_has(names[0], name)) ||
                                    (k > 1 && deps_has(names[1], name))) {
                                        free(name);
                                        continue;
                                }
                                if (pending)
                                        r = each(t, pending, pending_kind, false, data);
                                free(buf);
                                buf = name;
                                pending = name;
                                pending_kind = deps_kinds[k];
                        }
        } else {
                size_t i = (size_t)(w - t->v);

                for (size_t e = t->rev_start[i]; e < t->rev_start[i + 1] && r >= 0; e++) {
                        if (pending)
                                r = each(t, pending, pending_kind, false, data);
                        pending = t->v[t->rev[e].from].name;
                        pending_kind = deps_kinds[t->rev[e].kind];
                }
        }
        if (pending && r >= 0)
                r = each(t, pending, pending_kind, true, data);
        free(buf);
        return r;
}

static int deps_count(struct deps_tree *t, const char *name, const char *kind, bool last,
                      void *data)
{
        (*(size_t *)data)++;
        return 0;
}

/* Whether w's children are listed under it here: each service's subtree is
 * drawn once (as systemctl does), the first time it comes; after that, and on
 * a cycle (a config refuses them, but the records of two reloads may
 * disagree), it is only named. So the tree has at most one subtree per
 * service, however many paths lead to one, and no deeper than there are
 * services: a chain is drawn to its end. *ret_elided: it has children that
 * are left out. */
static bool deps_expand(struct deps_tree *t, const struct wire_service *w, bool *ret_elided)
{
        size_t i = (size_t)(w - t->v), n = 0;

        *ret_elided = false;
        if (!t->expanded[i]) {
                t->expanded[i] = true;
                return true;
        }
        (void)deps_children(t, w, deps_count, &n);
        *ret_elided = n > 0;
        return false;
}

/* Where a pass through the tree is: how many services are above, and the
 * tree drawn to their left ("│ " or "  " per level; room for cap bytes). */
struct deps_path {
        int depth;
        char *prefix;
        size_t cap;
};

/* Width of the name column: the deepest indentation plus the name. */
static int deps_measure(struct deps_tree *t, const char *name, const char *kind, bool last,
                        void *data)
{
        struct deps_path *p = data;
        const struct wire_service *w = deps_find(t, name);
        int width = 2 * p->depth + (int)strlen(name), r = 0;
        bool elided;

        if (width > t->width)
                t->width = width;
        if (!w || !deps_expand(t, w, &elided)) {
                if (w && elided && 2 * (p->depth + 1) + 3 > t->width)
                        t->width = 2 * (p->depth + 1) + 3; /* its "..." row */
                return 0;
        }
        p->depth++;
        r = deps_children(t, w, deps_measure, p);
        p->depth--;
        return r;
}

/* One row: the tree (prefix and branch: indent columns), the name padded to
 * the column, the kind of edge, the state. */
static void deps_row(const struct deps_tree *t, const struct deps_path *p, const char *branch,
                     const char *name, const char *kind, const char *state)
{
        bool c = t->a->colour && (*p->prefix || *branch);
        const char *on = t->a->colour ? ctl_state_colour(state) : "";
        _cleanup_free_ char *esc = ctl_escape(name);
        int used = 2 * p->depth + (int)strlen(esc ? esc : name);

        if (!*kind) { /* the "..." of a subtree drawn above */
                printf("%s%s%s%s%s\n", c ? "\033[2m" : "", p->prefix, branch,
                       c ? CTL_COLOUR_OFF : "", name);
                return;
        }
        printf("%s%s%s%s%s%*s  %-8s  %s%s%s\n", c ? "\033[2m" : "", p->prefix, branch,
               c ? CTL_COLOUR_OFF : "", esc ? esc : name, t->width > used ? t->width - used : 0, "",
               kind, on, state, *on ? CTL_COLOUR_OFF : "");
}

static int deps_print(struct deps_tree *t, const char *name, const char *kind, bool last,
                      void *data)
{
        struct deps_path *p = data;
        const struct wire_service *w = deps_find(t, name);
        size_t plen = strlen(p->prefix);
        int r = 0;

        /* The root has no branch; a service below has "├─" or "└─" after its
         * ancestors' "│ " or "  " (depth: how many are above it). */
        const char *branch = last ? "└─" : "├─";
        bool expand, elided;

        deps_row(t, p, p->depth == 0 ? "" : branch, name, kind ? kind : "-",
                 w ? w->state : "unknown");
        if (!w)
                return 0;
        expand = deps_expand(t, w, &elided);
        if (!expand && !elided)
                return 0;
        if (p->depth > 0) {
                if (plen + sizeof "│ " > p->cap) {
                        size_t cap = 2 * (plen + sizeof "│ ");
                        char *n = realloc(p->prefix, cap);

                        if (!n)
                                return -ENOMEM;
                        p->prefix = n;
                        p->cap = cap;
                }
                strcat(p->prefix, last ? "  " : "│ ");
        }
        p->depth++;
        if (expand)
                r = deps_children(t, w, deps_print, p);
        else /* drawn above */
                deps_row(t, p, "└─", "...", "", "");
        p->depth--;
        p->prefix[plen] = '\0';
        return r;
}

static int deps_json(struct deps_tree *t, const char *name, const char *kind, bool last, void *data)
{
        struct deps_path *p = data;
        const struct wire_service *w = deps_find(t, name);
        bool elided;
        int r = 0;

        putchar('{');
        fputs("\"name\": ", stdout);
        ctl_json_string(name);
        fputs(", \"kind\": ", stdout);
        if (kind)
                ctl_json_string(kind);
        else
                fputs("null", stdout);
        fputs(", \"state\": ", stdout);
        if (w)
                ctl_json_string(w->state);
        else
                fputs("null", stdout);
        printf(", \"%s\": ", t->a->reverse ? "dependents" : "dependencies");
        if (!w || deps_expand(t, w, &elided)) {
                putchar('[');
                p->depth++;
                r = w ? deps_children(t, w, deps_json, p) : 0;
                p->depth--;
                putchar(']');
        } else
                fputs(elided ? "null" : "[]", stdout); /* null: listed above */
        fputs(last ? "}" : "}, ", stdout);
        return r;
}

/* list-dependencies [--reverse] [--json] [--no-legend] NAME; see tendctl.h. */
int ctl_list_dependencies(struct ctl_args *a)
{
        struct deps_tree t = { .a = a };
        _cleanup_free_ char *prefix = calloc(1, 64);
        struct deps_path path = { .prefix = prefix, .cap = 64 }, *p = &path;
        const char *name = a->operands[0];
        bool indexed = false;
        int code, r;

        if (!prefix) {
                fprintf(stderr, "tendctl: out of memory\n");
                return EXIT_FAILED;
        }
        code = ctl_list_services(a->bus, &t.v, &t.n);
        if (code != EXIT_OK)
                return code;
        t.expanded = calloc(t.n + 1, sizeof *t.expanded);
        if (!t.expanded || !(indexed = deps_index(&t) >= 0)) {
                fprintf(stderr, "tendctl: out of memory\n");
                code = EXIT_FAILED;
        } else if (!deps_find(&t, name)) {
                fprintf(stderr, "tendctl: %s: unknown service\n", name);
                code = EXIT_FAILED;
        } else if (a->json) {
                r = deps_json(&t, name, NULL, true, p);
                putchar('\n');
                code = r < 0 ? EXIT_FAILED : EXIT_OK;
        } else {
                t.width = 4;
                r = deps_measure(&t, name, NULL, true, p);
                memset(t.expanded, 0, t.n * sizeof *t.expanded); /* again, to draw */
                if (r >= 0 && !a->no_legend)
                        printf("%-*s  %-8s  %s\n", t.width, "NAME", "KIND", "STATE");
                if (r >= 0)
                        r = deps_print(&t, name, NULL, true, p);
                code = r < 0 ? EXIT_FAILED : EXIT_OK;
        }
        if (code == EXIT_FAILED && indexed && deps_find(&t, name))
                fprintf(stderr, "tendctl: out of memory\n");
        fflush(stdout);
        prefix = path.prefix; /* grown by deps_print */
        free(t.expanded);
        free(t.by_name);
        free(t.rev_start);
        free(t.rev);
        for (size_t i = 0; i < t.n; i++)
                wire_service_done(&t.v[i]);
        free(t.v);
        return code;
}
