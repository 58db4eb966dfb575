/* test-recover: the crash-recovery file's reader (recover_parse) against
 * what the writer makes, replays, and garbage of every kind; never a record
 * from a line that is not whole and exact. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recover.h"
#include "tap.h"

static size_t parse(const char *text, struct recover_record **recs, size_t *bad)
{
        size_t n = 0;
        int r = recover_parse(text, strlen(text), recs, &n, bad);

        return r < 0 ? (size_t)-1 : n;
}

static void test_round_trip(void)
{
        struct recover_record in = { .name = "web-1.a@b_c",
                                     .main = { 42, UINT64_MAX, 7, 123456 },
                                     .leader = { 41, 5, 7, 123450 } };
        char buf[1024] = RECOVER_MAGIC, small[16];
        struct recover_record *out = NULL;
        size_t n, bad;
        int k = recover_format(buf + strlen(buf), sizeof buf - strlen(buf), &in);

        ok(k > 0 && buf[strlen(buf) - 1] == '\n', "format writes one line");
        n = parse(buf, &out, &bad);
        ok(n == 1 && bad == 0 && strcmp(out[0].name, in.name) == 0 && out[0].main.pid == 42 &&
                   out[0].main.ino == UINT64_MAX && out[0].main.dev == 7 &&
                   out[0].main.start == 123456 && out[0].leader.pid == 41 &&
                   out[0].leader.ino == 5 && out[0].leader.dev == 7 &&
                   out[0].leader.start == 123450,
           "what the writer writes reads back equal");
        free(out);
        ok(recover_format(small, sizeof small, &in) == -ENOBUFS, "format: -ENOBUFS when short");
}

static void test_replay(void)
{
        struct recover_record *out = NULL;
        size_t n, bad;

        n = parse(RECOVER_MAGIC "+ a 1 1 1 1 0 0 0 0\n"
                                "+ b 2 2 2 2 0 0 0 0\n"
                                "+ a 3 3 3 3 0 0 0 0\n"
                                "- b\n"
                                "+ c 4 4 4 4 9 9 9 9\n"
                                "- nobody\n",
                  &out, &bad);
        ok(n == 2 && bad == 0, "the last record of each name counts (%zu)", n);
        ok(n == 2 && strcmp(out[0].name, "a") == 0 && out[0].main.pid == 3 &&
                   out[0].main.start == 3 && out[0].leader.pid == 0,
           "a: its later record");
        ok(n == 2 && strcmp(out[1].name, "c") == 0 && out[1].leader.pid == 9,
           "b removed, c with its leader");
        free(out);

        n = parse(RECOVER_MAGIC "+ a 1 1 1 1 0 0 0 0\n- a\n+ a 5 5 5 5 0 0 0 0\n", &out, &bad);
        ok(n == 1 && out[0].main.pid == 5, "removed, then back");
        free(out);

        n = parse(RECOVER_MAGIC "+ a 1 1 1 1 0 7 7 7\n", &out, &bad);
        ok(n == 1 && out[0].leader.ino == 0 && out[0].leader.start == 0,
           "leader pid 0: no leader, whatever follows");
        free(out);

        n = parse(RECOVER_MAGIC, &out, &bad);
        ok(n == 0 && out != NULL && bad == 0, "header only: no record");
        free(out);
}

static void test_refused(void)
{
        static const char *const headers[] = {
                "",
                "tendd-recover 1",
                "tendd-recover 2\n",
                "TENDD-RECOVER 1\n",
                "+ a 1 1 1 1 0 0 0 0\n",
                "\ntendd-recover 1\n",
        };
        struct recover_record *out = (void *)1;
        size_t n = 7;

        for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
                int r = recover_parse(headers[i], strlen(headers[i]), &out, &n, NULL);
                ok(r == -EBADMSG && out == NULL && n == 0, "no header refused (case %zu)", i);
        }
}

static void test_garbage_lines(void)
{
        static const char *const lines[] = {
                "",
                " ",
                "+",
                "+ a",
                "+ a 1 1 1 1 0 0 0",     /* one short */
                "+ a 1 1 1 1 0 0 0 0 0", /* one too many */
                "+ a 0 1 1 1 0 0 0 0",   /* pid 0 */
                "+ a -1 1 1 1 0 0 0 0",  /* signed */
                "+ a +1 1 1 1 0 0 0 0",
                "+ a 2147483648 1 1 1 0 0 0 0",           /* beyond a pid */
                "+ a 1 18446744073709551616 1 1 0 0 0 0", /* beyond 64 bits */
                "+ a 1 0x10 1 1 0 0 0 0",
                "+ a 1 1 1 1 0 0 0 0 ", /* trailing space */
                " + a 1 1 1 1 0 0 0 0",
                "+  a 1 1 1 1 0 0 0 0",
                "+ a 1 1  1 1 0 0 0 0",
                "+\ta 1 1 1 1 0 0 0 0",
                "* a 1 1 1 1 0 0 0 0",
                "++ a 1 1 1 1 0 0 0 0",
                "+ .a 1 1 1 1 0 0 0 0", /* not a service name */
                "+ a/b 1 1 1 1 0 0 0 0",
                "+ a;rm 1 1 1 1 0 0 0 0",
                "+ aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 1 1 1 0 0 0 "
                "0",
                "- a 1",
                "-",
                "- ",
                "tendd-recover 1",
        };
        struct recover_record *out = NULL;
        char buf[512];
        size_t n, bad;

        for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
                (void)snprintf(buf, sizeof buf, RECOVER_MAGIC "+ keep 9 9 9 9 0 0 0 0\n%s\n",
                               lines[i]);
                n = parse(buf, &out, &bad);
                ok(n == 1 && bad == 1 && strcmp(out[0].name, "keep") == 0 && out[0].main.pid == 9,
                   "skipped, the rest kept (case %zu: \"%.40s\")", i, lines[i]);
                free(out);
        }

        /* A NUL inside a line. */
        static const char nul[] = RECOVER_MAGIC "+ a 1 1 1 1 0 0 0 0\n+ b 1\0 1 1 1 0 0 0 0\n";
        ok(recover_parse(nul, sizeof nul - 1, &out, &n, &bad) == 0 && n == 1 && bad == 1,
           "a NUL in a line: skipped");
        free(out);

        /* A line longer than any record. */
        char *longl = malloc(100000);
        if (longl) {
                size_t m = (size_t)snprintf(longl, 100000, RECOVER_MAGIC);
                memset(longl + m, '9', 90000);
                longl[m + 90000] = '\n';
                ok(recover_parse(longl, m + 90001, &out, &n, &bad) == 0 && n == 0 && bad == 1,
                   "a 90000-byte line: skipped");
                free(out);
                free(longl);
        }
}

/* Every cut of a valid file reads as its whole lines, never a torn one. */
static void test_cuts(void)
{
        const char *text =
                RECOVER_MAGIC "+ a 1 11 111 1111 0 0 0 0\n- a\n+ b 2 22 222 2222 3 3 3 3\n";
        size_t len = strlen(text), magic = strlen(RECOVER_MAGIC);
        size_t e1 = (size_t)(strchr(text + magic, '\n') - text);
        size_t e2 = (size_t)(strchr(text + e1 + 1, '\n') - text);
        size_t e3 = len - 1;
        bool good = true;

        for (size_t cut = 0; cut <= len; cut++) {
                struct recover_record *out = NULL;
                size_t n = 0, bad = 0;
                int r = recover_parse(text, cut, &out, &n, &bad);
                size_t want;

                if (cut < magic) {
                        good &= r == -EBADMSG;
                        continue;
                }
                /* Whole lines only: a, then none (- a), then b. */
                want = cut > e3 ? 1 : cut > e2 ? 0 : cut > e1 ? 1 : 0;
                good &= r == 0 && bad == 0 && n == want;
                if (n == 1)
                        good &= strcmp(out[0].name, cut > e3 ? "b" : "a") == 0;
                free(out);
        }
        ok(good, "every cut reads as its whole lines, never a torn one");
}

/* Random bytes after the header: never a crash, never a record that is not
 * in the file's exact syntax (checked by writing it back). */
static void test_random(void)
{
        char buf[4096];
        bool good = true;
        unsigned seed = 12345;

        for (int round = 0; round < 20000; round++) {
                size_t m = strlen(RECOVER_MAGIC), len = m + (size_t)(rand_r(&seed) % 200);
                struct recover_record *out = NULL;
                size_t n = 0, bad = 0;
                static const char alphabet[] = "+- 0123456789ab\n\n\n";

                memcpy(buf, RECOVER_MAGIC, m);
                for (size_t i = m; i < len; i++)
                        buf[i] = round % 2 ? (char)rand_r(&seed)
                                           : alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
                if (recover_parse(buf, len, &out, &n, &bad) < 0) {
                        good = false;
                        continue;
                }
                for (size_t i = 0; i < n; i++) {
                        char line[256];
                        int k = recover_format(line, sizeof line, &out[i]);
                        char *sp = line + 2;
                        /* Name, pid, inode, device, start as read are in the file. */
                        for (int f = 0; f < 5 && sp; f++)
                                sp = strchr(sp + 1, ' ');
                        if (k <= 0 || !sp || !memmem(buf, len, line, (size_t)(sp - line)))
                                good = false;
                }
                free(out);
        }
        ok(good, "20000 random files: no failure, every record read is in the file");
}

int main(void)
{
        test_round_trip();
        test_replay();
        test_refused();
        test_garbage_lines();
        test_cuts();
        test_random();
        return tap_done();
}
