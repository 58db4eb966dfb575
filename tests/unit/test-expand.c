/* test-expand: ${NAME} and $$ in configuration values. */
#include <stdio.h>

#include "expand.h"
#include "tap.h"
#include "util.h"

static char *const env[] = { "A=1", "SPACED=a b", "EMPTY=", "A=2", "DOLLAR=$x${A}", NULL };

static void test_string(void)
{
        static const struct {
                const char *in, *out; /* out NULL: an error */
                int err;
                const char *bad;
        } cases[] = {
                { "plain", "plain", 0, NULL },
                { "", "", 0, NULL },
                { "${A}", "2", 0, NULL }, /* the last entry of a key wins */
                { "x${SPACED}y", "xa by", 0, NULL },
                { "${EMPTY}|${EMPTY}", "|", 0, NULL },
                { "$$", "$", 0, NULL },
                { "$${A}", "${A}", 0, NULL },
                { "$$$${A}", "$${A}", 0, NULL },
                { "$$${A}", "$2", 0, NULL },
                { "$A $1 $ end$", "$A $1 $ end$", 0, NULL },
                { "${DOLLAR}", "$x${A}", 0, NULL }, /* a value is not expanded again */
                { "${NOPE}", NULL, -ENOENT, "NOPE" },
                { "a${A}${NOPE}b", NULL, -ENOENT, "NOPE" },
                { "${A", NULL, -EINVAL, "${A" },
                { "x${}", NULL, -EINVAL, "${}" },
                { "${1A}", NULL, -EINVAL, "${1A}" },
                { "${A-B}", NULL, -EINVAL, "${A-B}" },
                { "${A B}", NULL, -EINVAL, "${A B}" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *out = NULL, *bad = NULL;
                int r = expand_string(cases[i].in, env, &out, &bad);

                if (cases[i].out)
                        ok(r == 0 && out && strcmp(out, cases[i].out) == 0 && !bad,
                           "'%s' -> '%s' (got '%s')", cases[i].in, cases[i].out, out ? out : "-");
                else
                        ok(r == cases[i].err && !out && bad && strcmp(bad, cases[i].bad) == 0,
                           "'%s': %d naming '%s' (got %d, '%s')", cases[i].in, cases[i].err,
                           cases[i].bad, r, bad ? bad : "-");
                free(out);
                free(bad);
        }
        {
                char *out = NULL;

                ok(expand_string("${A}", NULL, &out, NULL) == -ENOENT && !out,
                   "no environment: every variable is unknown; ret_bad may be NULL");
                ok(expand_string("$$x", NULL, &out, NULL) == 0 && strcmp(out, "$x") == 0,
                   "no environment: $$ still works");
                free(out);
        }
}

static void test_strv(void)
{
        char *const argv[] = { "/bin/prog", "--name=${SPACED}", "$$", NULL };
        char *const broken[] = { "ok", "${NOPE}", NULL };
        char *const none[] = { NULL };
        _cleanup_strv_free_ char **out = NULL, **empty = NULL;
        char *bad = NULL;
        int r;

        r = expand_strv(argv, env, &out, &bad);
        ok(r == 0 && strv_length(out) == 3 && strcmp(out[0], "/bin/prog") == 0 &&
                   strcmp(out[1], "--name=a b") == 0 && strcmp(out[2], "$") == 0,
           "each word on its own, the value kept in its word");
        r = expand_strv(broken, env, &empty, &bad);
        ok(r == -ENOENT && !empty && bad && strcmp(bad, "NOPE") == 0,
           "the first error stops, naming the variable");
        free(bad);
        r = expand_strv(none, env, &empty, NULL);
        ok(r == 0 && empty && !empty[0], "an empty vector gives an empty vector");
}

/* A value is bounded, and so are a vector's words together: a file of
 * "${BIG}" repeated cannot make gigabytes. */
static void test_bounded(void)
{
        _cleanup_free_ char *big = malloc(EXPAND_MAX / 4 + 5), *out = NULL;
        _cleanup_strv_free_ char **v = NULL;
        char *words[6], *bad = NULL;
        char *benv[] = { big, NULL };
        int r;

        if (!big)
                abort();
        memcpy(big, "BIG=", 4);
        memset(big + 4, 'x', EXPAND_MAX / 4);
        big[4 + EXPAND_MAX / 4] = '\0';
        r = expand_string("${BIG}${BIG}${BIG}", benv, &out, &bad);
        ok(r == 0 && out && strlen(out) == 3 * (EXPAND_MAX / 4) && !bad,
           "three quarters of the bound expand");
        free(out);
        out = NULL;
        r = expand_string("${BIG}${BIG}${BIG}${BIG}x", benv, &out, &bad);
        ok(r == -E2BIG && !out && !bad, "past the bound: -E2BIG (got %d)", r);
        for (size_t i = 0; i < 5; i++)
                words[i] = "${BIG}";
        words[5] = NULL;
        r = expand_strv(words, benv, &v, &bad);
        ok(r == -E2BIG && !v && !bad, "the words together past the bound: -E2BIG (got %d)", r);
        words[4] = NULL;
        r = expand_strv(words, benv, &v, &bad);
        ok(r == 0 && strv_length(v) == 4, "the words together up to the bound expand");
}

int main(void)
{
        test_string();
        test_strv();
        test_bounded();
        return tap_done();
}
