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

        /* A UTF-8 byte order mark, which some editors write; systemd skips it too. */
        if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
                p += 3;
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

/* FNV-1a of entry's key (what comes before '='), and the key's length. */
static size_t env_key_hash(const char *entry, size_t *ret_klen)
{
        size_t h = 14695981039346656037ULL, k;

        for (k = 0; entry[k] && entry[k] != '='; k++)
                h = (h ^ (unsigned char)entry[k]) * 1099511628211ULL;
        *ret_klen = k;
        return h;
}

/* One entry per key, in place: each key keeps the place of its first entry
 * and the value of its last, as replacing in place one by one would, in
 * O(n): an open-addressing table of the kept entries finds each key's. */
static int env_dedup(char **env, size_t n, size_t *ret_n)
{
        _cleanup_free_ size_t *slot = NULL; /* 1 + index of a kept entry; 0: empty */
        size_t size = 2, m = 0;

        while (size < 2 * n)
                size *= 2;
        slot = calloc(size, sizeof *slot);
        if (!slot)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t klen, h = env_key_hash(env[i], &klen) & (size - 1);
                char **kept;

                for (;; h = (h + 1) & (size - 1)) {
                        if (!slot[h]) {
                                slot[h] = m + 1;
                                env[m++] = env[i]; /* m <= i: that place was read */
                                break;
                        }
                        kept = &env[slot[h] - 1];
                        if (strncmp(*kept, env[i], klen) == 0 && (*kept)[klen] == env[i][klen]) {
                                free(*kept); /* overridden by a later one */
                                *kept = env[i];
                                break;
                        }
                }
        }
        if (n > 0)
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
