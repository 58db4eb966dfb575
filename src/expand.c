/* expand.c: ${NAME} and $$ in configuration values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "expand.h"
#include "util.h"

/* The value of the last entry of env for the n bytes of name, or NULL. */
static const char *expand_lookup(char *const *env, const char *name, size_t n)
{
        const char *found = NULL;

        for (; env && *env; env++)
                if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
                        found = *env + n + 1;
        return found;
}

/* expand_string() within *budget bytes of result, taken from it. */
static int expand_within(const char *s, char *const *env, size_t *budget, char **ret,
                         char **ret_bad)
{
        _cleanup_free_ char *out = NULL;
        size_t len = 0, used = 0;
        FILE *f;
        int r = 0;

        f = open_memstream(&out, &len);
        if (!f)
                return -ENOMEM;
        while (*s) {
                const char *dollar = strchr(s, '$'), *end, *value;
                size_t n;

                if (used > *budget) {
                        r = -E2BIG;
                        break;
                }
                if (!dollar) {
                        fputs(s, f);
                        used += strlen(s);
                        break;
                }
                fwrite(s, 1, (size_t)(dollar - s), f);
                used += (size_t)(dollar - s) + 1;
                if (dollar[1] == '$') {
                        fputc('$', f);
                        s = dollar + 2;
                        continue;
                }
                if (dollar[1] != '{') {
                        fputc('$', f);
                        s = dollar + 1;
                        continue;
                }
                used--; /* the '$' is not written */
                end = strchr(dollar + 2, '}');
                n = end ? (size_t)(end - dollar - 2) : 0;
                if (!end || !env_name_is_valid(dollar + 2, n)) {
                        r = -EINVAL;
                        if (ret_bad && !(*ret_bad = strdup(dollar)))
                                r = -ENOMEM;
                        break;
                }
                value = expand_lookup(env, dollar + 2, n);
                if (!value) {
                        r = -ENOENT;
                        if (ret_bad && !(*ret_bad = strndup(dollar + 2, n)))
                                r = -ENOMEM;
                        break;
                }
                n = strlen(value);
                if (used > *budget || n > *budget - used) { /* before it is copied */
                        r = -E2BIG;
                        break;
                }
                fputs(value, f);
                used += n;
                s = end + 1;
        }
        if (fclose(f) != 0 || !out)
                return -ENOMEM;
        if (r == 0 && used > *budget)
                r = -E2BIG;
        if (r < 0)
                return r;
        *budget -= used;
        *ret = TAKE_PTR(out);
        return 0;
}

/* See expand.h. */
int expand_string(const char *s, char *const *env, char **ret, char **ret_bad)
{
        size_t budget = EXPAND_MAX;

        return expand_within(s, env, &budget, ret, ret_bad);
}

/* See expand.h. */
int expand_strv(char *const *v, char *const *env, char ***ret, char **ret_bad)
{
        _cleanup_strv_free_ char **out = NULL;
        size_t n = 0, cap = 0, budget = EXPAND_MAX;
        int r;

        out = calloc(1, sizeof *out);
        if (!out)
                return -ENOMEM;
        cap = 1;
        for (; v && *v; v++) {
                char *e = NULL;

                r = expand_within(*v, env, &budget, &e, ret_bad);
                if (r < 0)
                        return r;
                r = strv_append(&out, &n, &cap, e);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}
