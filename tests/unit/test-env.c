/* test-env: environment entries: names, quotes, assignments, environment
 * files and the one merge both config and spawn use. */
#include <stdio.h>

#include "env.h"
#include "tap.h"
#include "util.h"

static void test_assignment(void)
{
        static const struct {
                const char *in, *out, *reason;
        } cases[] = {
                { "A=1", "A=1", NULL },
                { "_x9 =  two words ", "_x9=two words ", NULL },
                { "Q='a \"b\" $c'", "Q=a \"b\" $c", NULL },
                { "Q=\"a \\\"b\\\" \\$c \\\\ \\n\"", "Q=a \"b\" $c \\ \\n", NULL },
                { "E=", "E=", NULL },
                { "E=''", "E=", NULL },
                { "NOEQUALS", NULL, "expected KEY=VALUE" },
                { "=1", NULL, "invalid variable name" },
                { "1X=y", NULL, "invalid variable name" },
                { "A-B=y", NULL, "invalid variable name" },
                { "Q=\"open", NULL, "unterminated quote or text after the closing quote" },
                { "Q='a'b", NULL, "unterminated quote or text after the closing quote" },
                { "Q=\"a\" b", NULL, "unterminated quote or text after the closing quote" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *reason = NULL;
                char *out = NULL;
                int r = env_parse_assignment(cases[i].in, &out, &reason);

                if (cases[i].out)
                        ok(r == 0 && strcmp(out, cases[i].out) == 0, "'%s' -> '%s' (got '%s')",
                           cases[i].in, cases[i].out, out ? out : "-");
                else
                        ok(r == -EINVAL && reason && strcmp(reason, cases[i].reason) == 0,
                           "'%s': %s", cases[i].in, cases[i].reason);
                free(out);
        }
        ok(env_name_is_valid("ABC", 2) && !env_name_is_valid("", 0) && !env_name_is_valid("9", 1),
           "env_name_is_valid takes a length");
}

static int collect(unsigned line, char *entry, const char *reason, void *userdata)
{
        FILE *f = userdata;

        fprintf(f, "%u %s|", line, entry ? entry : reason);
        free(entry);
        return line == 9 ? -ECANCELED : 0;
}

static void test_file(void)
{
        char text[] = "A=1\n\n  # comment\nB = 'x y'\r\nbad\nC\0=1\n; not a comment\nD=4";
        char stop[] = "\n\n\n\n\n\n\n\nA=1\nB=2\n";
        char bom[] = "\357\273\277A=1\n\357\273\277B=2\n"; /* EF BB BF: the mark */
        _cleanup_free_ char *log = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&log, &len);
        int r;

        r = env_parse_file(text, sizeof text - 1, collect, f);
        fclose(f);
        ok(r == 0 && strcmp(log, "1 A=1|4 B=x y|5 expected KEY=VALUE|6 line contains a NUL byte|"
                                 "7 expected KEY=VALUE|8 D=4|") == 0,
           "env_parse_file: entries, blank and comment lines, bad lines with their numbers (%s)",
           log);
        free(TAKE_PTR(log));
        f = open_memstream(&log, &len);
        r = env_parse_file(stop, sizeof stop - 1, collect, f);
        fclose(f);
        ok(r == -ECANCELED && strcmp(log, "9 A=1|") == 0, "the callback's error stops it");
        free(TAKE_PTR(log));

        /* A UTF-8 byte order mark opening the file is skipped (as systemd
         * does); anywhere else it is text, here a bad name. */
        f = open_memstream(&log, &len);
        r = env_parse_file(bom, sizeof bom - 1, collect, f);
        fclose(f);
        ok(r == 0 && strcmp(log, "1 A=1|2 invalid variable name|") == 0,
           "env_parse_file: a leading byte order mark is skipped (%s)", log);
}

/* envp from the NULL-terminated list, with its length and room. */
static char **env_of(const char *const *list, size_t *n, size_t *cap)
{
        char **v = strv_copy((char *const *)list);

        *n = strv_length(v);
        *cap = *n + 1;
        return v;
}

static void test_merge(void)
{
        static const char *const base[] = { "PATH=/bin", "HOME=/", "A=1", "A=2", NULL };
        static const char *const add[] = { "B=1", "HOME=/home", "B=2", "C=", "A=3", NULL };
        static const char *const want[] = { "PATH=/bin", "HOME=/home", "A=3", "B=2", "C=", NULL };
        size_t n, cap;
        char **v = env_of(base, &n, &cap);
        int r;

        r = env_merge(&v, &n, &cap, strv_copy((char *const *)add));
        ok(r == 0 && n == 5 && strv_equal(v, (char *const *)want),
           "env_merge: each key at its first place with its last value");
        r = env_merge(&v, &n, &cap, NULL);
        ok(r == 0 && n == 5 && strv_equal(v, (char *const *)want), "merging NULL changes nothing");
        strv_free(v);

        v = NULL;
        n = cap = 0;
        ok(env_merge(&v, &n, &cap, NULL) == 0 && !v && n == 0, "NULL into NULL: still empty");
        {
                static const char *const one[] = { "AB=1", "A=2", "ABC=3", "AB=4", NULL };
                static const char *const want1[] = { "AB=4", "A=2", "ABC=3", NULL };

                ok(env_merge(&v, &n, &cap, strv_copy((char *const *)one)) == 0 &&
                           strv_equal(v, (char *const *)want1),
                   "keys that are prefixes of each other stay apart");
                strv_free(v);
        }
        {
                size_t m = 0, mcap = 0, a = 0, acap = 0;
                char **big = NULL, **add2 = NULL;
                usec_t t = now_monotonic();
                bool all = true;

                for (int i = 0; i < 30000; i++) {
                        char *s1, *s2;

                        if (asprintf(&s1, "K%d=a", i) < 0 || strv_append(&big, &m, &mcap, s1) < 0 ||
                            asprintf(&s2, "K%d=b", 29999 - i) < 0 ||
                            strv_append(&add2, &a, &acap, s2) < 0)
                                all = false;
                }
                r = env_merge(&big, &m, &mcap, add2);
                for (int i = 0; all && i < 30000; i++) {
                        char want_s[32];

                        (void)snprintf(want_s, sizeof want_s, "K%d=b", i);
                        all = strcmp(big[i], want_s) == 0;
                }
                ok(r == 0 && all && m == 30000 && !big[30000],
                   "30,000 entries replaced in place in %llu ms",
                   (unsigned long long)((now_monotonic() - t) / 1000));
                strv_free(big);
        }
}

int main(void)
{
        test_assignment();
        test_file();
        test_merge();
        return tap_done();
}
