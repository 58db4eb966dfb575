/* env.c: environment entries: parsing, environment files, merging. */
#include <stdio.h>

#include "env.h"
#include "util.h"

/* See env.h. */
bool env_name_is_valid(const char *s, size_t n)
{
        if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!ascii_isalnum(s[i]) && s[i] != '_')
                        return false;
        return true;
}

/* The inside of "...", v at the opening quote, honouring \" \\ \$ \`. */
static int env_unquote_double(const char *v, char **ret)
{
        _cleanup_free_ char *out = malloc(strlen(v));
        size_t j = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 1;; i++) {
                if (!v[i])
                        return -EINVAL;
                if (v[i] == '"') {
                        if (v[i + 1])
                                return -EINVAL;
                        break;
                }
                if (v[i] == '\\' && v[i + 1] && strchr("\"\\$`", v[i + 1]))
                        i++;
                out[j++] = v[i];
        }
        out[j] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

/* See env.h. */
int env_unquote(const char *v, char **ret)
{
        const char *end;
        char *out;

        if (v[0] == '"')
                return env_unquote_double(v, ret);
        if (v[0] != '\'')
                out = strdup(v);
        else {
                end = strchr(v + 1, '\'');
                if (!end || end[1])
                        return -EINVAL;
                out = strndup(v + 1, (size_t)(end - v - 1));
        }
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

/* See env.h. */
int env_parse_assignment(const char *s, char **ret, const char **ret_reason)
{
        _cleanup_free_ char *value = NULL;
        const char *eq = strchr(s, '='), *v;
        size_t klen;
        char *entry;
        int r;

        if (!eq) {
                *ret_reason = "expected KEY=VALUE";
                return -EINVAL;
        }
        /* Blanks around '=' are not part of the name or the value. */
        for (klen = (size_t)(eq - s); klen > 0 && ascii_isspace(s[klen - 1]); klen--)
                ;
        if (!env_name_is_valid(s, klen)) {
                *ret_reason = "invalid variable name";
                return -EINVAL;
        }
        for (v = eq + 1; ascii_isspace(*v); v++)
                ;
        r = env_unquote(v, &value);
        if (r == -EINVAL) {
                *ret_reason = "unterminated quote or text after the closing quote";
                return r;
        }
        if (r < 0)
                return r;
        if (asprintf(&entry, "%.*s=%s", (int)klen, s, value) < 0)
                return -ENOMEM;
        *ret = entry;
        return 0;
}

/* See env.h. */
int env_parse_file(char *text, size_t len, env_line_cb cb, void *userdata)
{
        char *p = text, *end = text + len, *next;
        unsigned line = 0;

        for (; p < end; p = next) {
                char *nl = memchr(p, '\n', (size_t)(end - p)), *entry = NULL, *t;
                size_t k = nl ? (size_t)(nl - p) : (size_t)(end - p);
                const char *reason = NULL;
                int r;

                next = p + k + 1;
                p[k] = '\0'; /* the newline, or the terminator already there */
                line++;
                if (memchr(p, 0, k))
                        reason = "line contains a NUL byte";
                else {
                        t = string_strip(p);
                        if (!*t || *t == '#')
                                continue;
                        r = env_parse_assignment(t, &entry, &reason);
                        if (r == -ENOMEM)
                                return r;
                }
                r = cb(line, entry, reason, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* An entry's key and where the entry stands, for sorting. */
struct env_ref {
        const char *key;
        size_t klen;
        size_t pos;
};

static int env_ref_cmp(const void *a, const void *b)
{
        const struct env_ref *x = a, *y = b;
        int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);

        if (c != 0)
                return c;
        if (x->klen != y->klen)
                return x->klen < y->klen ? -1 : 1;
        return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* One entry per key, in place: each key keeps the place of its first entry
 * and the value of its last, as replacing in place would, in O(n log n):
 * the entries sorted by (key, position) give each key's first and last. */
static int env_dedup(char **env, size_t n, size_t *ret_n)
{
        _cleanup_free_ struct env_ref *refs = NULL;
        _cleanup_free_ char **slot = NULL;
        size_t m = 0;

        if (n < 2) {
                *ret_n = n;
                return 0;
        }
        refs = malloc(n * sizeof *refs);
        slot = calloc(n, sizeof *slot);
        if (!refs || !slot)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                refs[i] = (struct env_ref){ env[i], strcspn(env[i], "="), i };
        qsort(refs, n, sizeof *refs, env_ref_cmp);
        for (size_t i = 0, j; i < n; i = j) {
                for (j = i + 1; j < n && refs[j].klen == refs[i].klen &&
                                memcmp(refs[j].key, refs[i].key, refs[i].klen) == 0;
                     j++)
                        ;
                slot[refs[i].pos] = env[refs[j - 1].pos];
                for (size_t k = i; k + 1 < j; k++)
                        free(env[refs[k].pos]); /* overridden by a later one */
        }
        for (size_t i = 0; i < n; i++)
                if (slot[i])
                        env[m++] = slot[i];
        env[m] = NULL;
        *ret_n = m;
        return 0;
}

/* See env.h. */
int env_merge(char ***envp, size_t *n, size_t *cap, char **add)
{
        size_t i = 0;
        int r = 0;

        while (add && add[i] && r >= 0)
                r = strv_append(envp, n, cap, add[i++]); /* frees add[i] on failure */
        while (add && add[i])
                free(add[i++]);
        free(add);
        if (r < 0)
                return r;
        return env_dedup(*envp, *n, n);
}
