/* test-parse.c: every value parser in parse.c, good and bad input. */
#include <signal.h>
#include <stdio.h>

#include "parse.h"
#include "tap.h"

static void test_duration_ok(const char *s, usec_t want)
{
        usec_t u = 12345;
        int r = parse_duration(s, &u);

        ok(r == 0 && u == want, "parse_duration(\"%s\") = %llu (got r=%d %llu)", s,
           (unsigned long long)want, r, (unsigned long long)u);
}

static void test_duration_bad(const char *s, int want)
{
        usec_t u = 12345;
        int r = parse_duration(s, &u);

        ok(r == want && u == 12345, "parse_duration(\"%s\") fails with %d (got %d)", s, want, r);
}

static void test_durations(void)
{
        char buf[32];

        test_duration_ok("0", 0);
        test_duration_ok("5", 5 * USEC_PER_SEC);
        test_duration_ok("100ms", 100 * USEC_PER_MSEC);
        test_duration_ok("30s", 30 * USEC_PER_SEC);
        test_duration_ok("2min", 2 * USEC_PER_MINUTE);
        test_duration_ok("1h", USEC_PER_HOUR);
        test_duration_ok("7us", 7);
        test_duration_ok("1.5s", 1500 * USEC_PER_MSEC);
        test_duration_ok("0.25", 250 * USEC_PER_MSEC);
        test_duration_ok(".5s", 500 * USEC_PER_MSEC);
        test_duration_ok("1.5h", 90 * USEC_PER_MINUTE);
        test_duration_ok("1min 30s", 90 * USEC_PER_SEC);
        test_duration_ok("1min30s", 90 * USEC_PER_SEC);
        test_duration_ok("1h 2min 3s 4ms", USEC_PER_HOUR + 2 * USEC_PER_MINUTE +
                                                   3 * USEC_PER_SEC + 4 * USEC_PER_MSEC);
        test_duration_ok("  10s  ", 10 * USEC_PER_SEC);
        test_duration_ok("infinity", USEC_INFINITY);
        test_duration_ok("0.0000001s", 0);

        test_duration_bad("", -EINVAL);
        test_duration_bad("   ", -EINVAL);
        test_duration_bad("s", -EINVAL);
        test_duration_bad("-1s", -EINVAL);
        test_duration_bad("1m", -EINVAL);
        test_duration_bad("1mins", -EINVAL);
        test_duration_bad("10 s", -EINVAL);
        test_duration_bad("1.s", -EINVAL);
        test_duration_bad(".", -EINVAL);
        test_duration_bad("1x", -EINVAL);
        test_duration_bad("1s,", -EINVAL);
        test_duration_bad("Infinity", -EINVAL);
        test_duration_bad("infinity 1s", -EINVAL);
        test_duration_bad("99999999999999999999", -ERANGE);
        test_duration_bad("9999999999999h", -ERANGE);
        test_duration_bad("3000000000h 3000000000h", -ERANGE);
        test_duration_bad("18446744073709.551615s", -ERANGE); /* that is infinity */
        {
                /* The largest finite duration, as format_duration() prints it
                 * (found by tests/fuzz/fuzz-parse). */
                usec_t d = 0;
                ok(parse_duration("18446744073709.551614s", &d) == 0 && d == USEC_INFINITY - 1,
                   "largest finite duration parses back");
        }

        ok(strcmp(format_duration(buf, sizeof buf, 0), "0") == 0, "format 0");
        ok(strcmp(format_duration(buf, sizeof buf, USEC_INFINITY), "infinity") == 0,
           "format infinity");
        ok(strcmp(format_duration(buf, sizeof buf, 100 * USEC_PER_MSEC), "100ms") == 0,
           "format 100ms: %s", buf);
        ok(strcmp(format_duration(buf, sizeof buf, 1500 * USEC_PER_MSEC), "1.5s") == 0,
           "format 1.5s: %s", buf);
        ok(strcmp(format_duration(buf, sizeof buf, 2 * USEC_PER_MINUTE), "2min") == 0,
           "format 2min: %s", buf);
        ok(strcmp(format_duration(buf, sizeof buf, 3 * USEC_PER_HOUR), "3h") == 0,
           "format 3h: %s", buf);
        ok(strcmp(format_duration(buf, sizeof buf, 90 * USEC_PER_SEC), "90s") == 0,
           "format 90s: %s", buf);
        ok(strcmp(format_duration(buf, sizeof buf, 7), "7us") == 0, "format 7us: %s", buf);
        ok(strcmp(format_duration(buf, sizeof buf, USEC_PER_SEC + 1), "1.000001s") == 0,
           "format 1.000001s: %s", buf);

        /* Everything format_duration prints parses back to the same value. */
        static const usec_t round[] = { 1, 999, 1000, 1001, 1500000, 59999999, 60000000,
                                        3600000000ULL, 3600000001ULL, 86400000000ULL };
        for (size_t i = 0; i < ELEMENTSOF(round); i++) {
                usec_t u = 0;
                format_duration(buf, sizeof buf, round[i]);
                ok(parse_duration(buf, &u) == 0 && u == round[i], "round trip %llu via %s",
                   (unsigned long long)round[i], buf);
        }
}

static void test_sizes(void)
{
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } t[] = {
                { "0", 0, 0 },
                { "4096", 0, 4096 },
                { "512K", 0, 512ULL << 10 },
                { "512k", 0, 512ULL << 10 },
                { "10M", 0, 10ULL << 20 },
                { "1G", 0, 1ULL << 30 },
                { "16777216G", 0, 1ULL << 54 },
                { "", -EINVAL, 0 },
                { "K", -EINVAL, 0 },
                { "10MB", -EINVAL, 0 },
                { "10 M", -EINVAL, 0 },
                { "1.5G", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "1T", 0, 1ULL << 40 },
                { "2t", 0, 2ULL << 40 },
                { "1P", -EINVAL, 0 },
                { "18446744073709551616", -ERANGE, 0 },
                { "17179869184G", -ERANGE, 0 },
                { "16777216T", -ERANGE, 0 },
        };
        static const struct {
                uint64_t v;
                const char *s;
        } f[] = {
                { 0, "0" },      { 1000, "1000" },     { 4096, "4K" },        { 1536, "1536" },
                { 10 << 20, "10M" }, { 1ULL << 30, "1G" }, { 1ULL << 40, "1T" },
                { 1ULL << 50, "1024T" }, { (1ULL << 40) + 1024, "1073741825K" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 77;
                int r = parse_size(t[i].s, &v);
                ok(r == t[i].r && (r < 0 ? v == 77 : v == t[i].v), "parse_size(\"%s\") r=%d v=%llu",
                   t[i].s, r, (unsigned long long)v);
        }
        for (size_t i = 0; i < ELEMENTSOF(f); i++) {
                char buf[32];
                uint64_t v;

                format_size(buf, sizeof buf, f[i].v);
                ok(strcmp(buf, f[i].s) == 0 && parse_size(buf, &v) == 0 && v == f[i].v,
                   "format_size(%llu) = %s, parses back", (unsigned long long)f[i].v, buf);
        }
}

static void test_signals(void)
{
        static const struct {
                const char *s;
                int sig; /* 0: must fail */
        } t[] = {
                { "TERM", SIGTERM },  { "SIGTERM", SIGTERM }, { "term", SIGTERM },
                { "sigterm", SIGTERM }, { "15", SIGTERM },    { "9", SIGKILL },
                { "KILL", SIGKILL },  { "HUP", SIGHUP },      { "INT", SIGINT },
                { "USR1", SIGUSR1 },  { "SIGUSR2", SIGUSR2 }, { "QUIT", SIGQUIT },
                { "WINCH", SIGWINCH }, { "IOT", SIGABRT },    { "SYS", SIGSYS },
                { "CHLD", SIGCHLD },  { "0", 0 },             { "", 0 },
                { "SIG", 0 },         { "FOO", 0 },           { "SIGFOO", 0 },
                { "-15", 0 },         { "+15", 0 },           { "15x", 0 },
                { "65", 0 },          { "32", 0 },            { "99999999999", 0 },
                { " TERM", 0 },       { "RTMIN+", 0 },        { "RTMIN-1", 0 },
                { "RTMIN+99", 0 },    { "RTMAX+1", 0 },       { "RTMINX", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                int sig = -1, r = parse_signal(t[i].s, &sig);
                if (t[i].sig)
                        ok(r == 0 && sig == t[i].sig, "parse_signal(\"%s\") = %d (got %d)",
                           t[i].s, t[i].sig, sig);
                else
                        ok(r == -EINVAL && sig == -1, "parse_signal(\"%s\") fails (r=%d)",
                           t[i].s, r);
        }

        int sig = -1;
        ok(parse_signal("RTMIN", &sig) == 0 && sig == SIGRTMIN, "RTMIN");
        ok(parse_signal("RTMIN+3", &sig) == 0 && sig == SIGRTMIN + 3, "RTMIN+3");
        ok(parse_signal("SIGRTMIN+3", &sig) == 0 && sig == SIGRTMIN + 3, "SIGRTMIN+3");
        ok(parse_signal("rtmin+1", &sig) == 0 && sig == SIGRTMIN + 1, "rtmin+1");
        ok(parse_signal("RTMAX", &sig) == 0 && sig == SIGRTMAX, "RTMAX");
        ok(parse_signal("RTMAX-2", &sig) == 0 && sig == SIGRTMAX - 2, "RTMAX-2");
        ok(parse_signal("34", &sig) == 0 && sig == SIGRTMIN, "34 is RTMIN");
        ok(parse_signal("64", &sig) == 0 && sig == SIGRTMAX, "64 is RTMAX");

        ok(strcmp(signal_to_name(SIGTERM), "TERM") == 0, "signal_to_name(15)");
        ok(strcmp(signal_to_name(SIGKILL), "KILL") == 0, "signal_to_name(9)");
        ok(strcmp(signal_to_name(SIGRTMIN + 3), "RTMIN+3") == 0, "signal_to_name(RTMIN+3)");
        ok(signal_to_name(0) == NULL, "signal_to_name(0) is NULL");
        ok(signal_to_name(32) == NULL, "signal_to_name(32) is NULL");
        ok(signal_to_name(1000) == NULL, "signal_to_name(1000) is NULL");
        ok(signal_to_name(-1) == NULL, "signal_to_name(-1) is NULL");
        /* Every name we print parses back. */
        for (int s = 1; s <= SIGRTMAX; s++) {
                const char *n = signal_to_name(s);
                int back = 0;
                if (n && (parse_signal(n, &back) < 0 || back != s))
                        ok(0, "signal %d name %s does not parse back", s, n);
        }
        ok(1, "every signal name parses back");
}

static void test_bool(void)
{
        static const char *const yes[] = { "yes", "YES", "true", "True", "on", "1" };
        static const char *const no[] = { "no", "No", "false", "FALSE", "off", "0" };
        static const char *const bad[] = { "", "y", "n", "2", "yess", " yes", "enabled" };
        bool b;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                ok(parse_bool(yes[i], &b) == 0 && b, "parse_bool(%s) true", yes[i]);
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                ok(parse_bool(no[i], &b) == 0 && !b, "parse_bool(%s) false", no[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ok(parse_bool(bad[i], &b) == -EINVAL, "parse_bool(\"%s\") fails", bad[i]);
}

static void test_umask(void)
{
        mode_t m = 0;

        ok(parse_umask("022", &m) == 0 && m == 022, "umask 022");
        ok(parse_umask("0077", &m) == 0 && m == 077, "umask 0077");
        ok(parse_umask("0", &m) == 0 && m == 0, "umask 0");
        ok(parse_umask("777", &m) == 0 && m == 0777, "umask 777");
        ok(parse_umask("0777", &m) == 0 && m == 0777, "umask 0777");
        m = 5;
        ok(parse_umask("1000", &m) == -ERANGE && m == 5, "umask 1000 out of range");
        ok(parse_umask("8", &m) == -EINVAL, "umask 8");
        ok(parse_umask("", &m) == -EINVAL, "umask empty");
        ok(parse_umask("0x22", &m) == -EINVAL, "umask hex");
        ok(parse_umask("-022", &m) == -EINVAL, "umask negative");
        ok(parse_umask("u=rwx", &m) == -EINVAL, "umask symbolic");
}

static void test_u64(void)
{
        uint64_t v = 0;

        ok(parse_u64("0", false, &v) == 0 && v == 0, "u64 0");
        ok(parse_u64("18446744073709551615", false, &v) == 0 && v == UINT64_MAX, "u64 max");
        ok(parse_u64("18446744073709551616", false, &v) == -ERANGE, "u64 overflow");
        ok(parse_u64("infinity", true, &v) == 0 && v == UINT64_MAX, "u64 infinity allowed");
        ok(parse_u64("infinity", false, &v) == -EINVAL, "u64 infinity refused");
        ok(parse_u64("", false, &v) == -EINVAL, "u64 empty");
        ok(parse_u64("-1", false, &v) == -EINVAL, "u64 negative");
        ok(parse_u64(" 1", false, &v) == -EINVAL, "u64 leading blank");
        ok(parse_u64("1 ", false, &v) == -EINVAL, "u64 trailing blank");
        ok(parse_u64("12abc", false, &v) == -EINVAL, "u64 junk");
}

/* s with newlines shown as \n, so TAP lines stay single lines. */
static const char *esc(const char *s)
{
        static char buf[256];
        size_t j = 0;

        for (; *s && j < sizeof buf - 3; s++) {
                if (*s == '\n') {
                        buf[j++] = '\\';
                        buf[j++] = 'n';
                } else
                        buf[j++] = *s;
        }
        buf[j] = 0;
        return buf;
}

/* Compare a split against an expected NULL-terminated list. */
static void split_ok(const char *s, const char *const *want)
{
        char **argv = NULL;
        int r = shell_split(s, &argv);
        bool same = r == 0 && strv_equal(argv, (char *const *)want);

        ok(same, "shell_split(%s)", esc(s));
        if (!same && r == 0)
                for (char **a = argv; *a; a++)
                        diag("  got [%s]", *a);
        strv_free(argv);
}

static void split_bad(const char *s)
{
        char **argv = (char **)0x1;

        ok(shell_split(s, &argv) == -EINVAL && argv == (char **)0x1, "shell_split(%s) fails",
           esc(s));
}

static void test_shell_split(void)
{
        char **argv = NULL;

        ok(shell_split("", &argv) == 0 && argv && !argv[0], "empty line: empty vector");
        strv_free(argv);
        argv = NULL;
        ok(shell_split("   \t ", &argv) == 0 && argv && !argv[0], "blank line: empty vector");
        strv_free(argv);

        split_ok("/bin/echo hello world",
                 (const char *const[]){ "/bin/echo", "hello", "world", NULL });
        split_ok("  a\t b  ", (const char *const[]){ "a", "b", NULL });
        split_ok("sh -c 'a ;b'", (const char *const[]){ "sh", "-c", "a ;b", NULL });
        split_ok("echo 'it''s'", (const char *const[]){ "echo", "its", NULL });
        split_ok("echo '\\n $HOME \"x\"'",
                 (const char *const[]){ "echo", "\\n $HOME \"x\"", NULL });
        split_ok("echo \"a b\" c", (const char *const[]){ "echo", "a b", "c", NULL });
        split_ok("echo \"\\\" \\\\ \\$ \\`\"",
                 (const char *const[]){ "echo", "\" \\ $ `", NULL });
        split_ok("echo \"\\n\\a\"", (const char *const[]){ "echo", "\\n\\a", NULL });
        split_ok("echo \"'single' inside\"",
                 (const char *const[]){ "echo", "'single' inside", NULL });
        split_ok("echo \"a\\\nb\"", (const char *const[]){ "echo", "ab", NULL });
        split_ok("echo a\\ b", (const char *const[]){ "echo", "a b", NULL });
        split_ok("echo \\'x\\\"", (const char *const[]){ "echo", "'x\"", NULL });
        split_ok("echo \\\\", (const char *const[]){ "echo", "\\", NULL });
        split_ok("echo a\\\nb", (const char *const[]){ "echo", "ab", NULL });
        split_ok("echo '' \"\" x", (const char *const[]){ "echo", "", "", "x", NULL });
        split_ok("''", (const char *const[]){ "", NULL });
        split_ok("a'b'\"c\"d", (const char *const[]){ "abcd", NULL });
        split_ok("echo $HOME `id` ~ *",
                 (const char *const[]){ "echo", "$HOME", "`id`", "~", "*", NULL });
        split_ok("echo # not a comment",
                 (const char *const[]){ "echo", "#", "not", "a", "comment", NULL });
        split_ok("a;b|c&d", (const char *const[]){ "a;b|c&d", NULL });

        split_bad("echo 'abc");
        split_bad("echo \"abc");
        split_bad("echo \"abc\\\"");
        split_bad("echo abc\\");
        split_bad("'");
        split_bad("\"");

        /* A long line splits exactly. */
        char *big = malloc(10001);
        memset(big, 'x', 10000);
        big[10000] = 0;
        big[5000] = ' ';
        argv = NULL;
        ok(shell_split(big, &argv) == 0 && strv_length(argv) == 2 && strlen(argv[0]) == 5000 &&
                   strlen(argv[1]) == 4999,
           "10000-byte line splits into two words");
        strv_free(argv);
        free(big);
}

static void test_service_names(void)
{
        static const char *const good[] = { "a", "web", "web-1", "my_app", "x.y", "tty@1",
                                            "A9", "a.", "-dash" };
        static const char *const bad[] = { "", ".hidden", "a b", "a/b", "a:b", "ä", "a\n",
                                           "a*", "a+b" };
        char name[SERVICE_NAME_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                ok(service_name_is_valid(good[i]), "name '%s' valid", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ok(!service_name_is_valid(bad[i]), "name '%s' invalid", esc(bad[i]));
        ok(!service_name_is_valid(NULL), "NULL name invalid");
        memset(name, 'n', SERVICE_NAME_MAX);
        name[SERVICE_NAME_MAX] = 0;
        ok(service_name_is_valid(name), "64-byte name valid");
        name[SERVICE_NAME_MAX] = 'n';
        name[SERVICE_NAME_MAX + 1] = 0;
        ok(!service_name_is_valid(name), "65-byte name invalid");
}

int main(void)
{
        test_durations();
        test_sizes();
        test_signals();
        test_bool();
        test_umask();
        test_u64();
        test_shell_split();
        test_service_names();
        return tap_done();
}
