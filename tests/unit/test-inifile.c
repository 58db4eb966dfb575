/* test-inifile: the INI reader over inih: exact values of any length, line
 * numbers, comments, sections and syntax errors, as the callbacks see them. */
#include <stdio.h>

#include "inifile.h"
#include "tap.h"
#include "util.h"

/* What the callbacks saw, one line per call. */
struct events {
        char *log;
        size_t len;
        FILE *f;
        int stop_at; /* a callback on this line returns -ECANCELED; 0: never */
};

static int events_result(struct events *e, unsigned line)
{
        return e->stop_at && (unsigned)e->stop_at == line ? -ECANCELED : 0;
}

static int on_section(const char *name, unsigned line, void *userdata)
{
        struct events *e = userdata;

        fprintf(e->f, "%u [%s]\n", line, name);
        if (events_result(e, line) < 0)
                return -ECANCELED;
        return strcmp(name, "skip") != 0;
}

static int on_key(const char *section, const char *key, const char *value, size_t len,
                  unsigned line, void *userdata)
{
        struct events *e = userdata;

        if (strlen(value) != len)
                fprintf(e->f, "%u length %zu of %zu\n", line, len, strlen(value));
        else if (len > 100)
                fprintf(e->f, "%u %s.%s=<%zu bytes>\n", line, section ? section : "-", key, len);
        else
                fprintf(e->f, "%u %s.%s=%s\n", line, section ? section : "-", key, value);
        return events_result(e, line);
}

static int on_error(unsigned line, const char *message, void *userdata)
{
        struct events *e = userdata;

        fprintf(e->f, "%u error: %s\n", line, message);
        return events_result(e, line);
}

static const struct inifile_ops ops = { on_section, on_key, on_error };

/* Parse text (a copy: the reader cuts it up) and compare what was seen. */
static void check(const char *text, size_t len, int stop_at, int want_r, const char *want,
                  const char *what)
{
        _cleanup_free_ char *copy = malloc(len + 1);
        struct events e = { .stop_at = stop_at };
        int r;

        memcpy(copy, text, len);
        copy[len] = '\0';
        e.f = open_memstream(&e.log, &e.len);
        r = inifile_parse_buffer(copy, len, &ops, &e);
        fclose(e.f);
        if (!ok(r == want_r && strcmp(e.log, want) == 0, "%s", what))
                diag("r=%d, saw:\n%s", r, e.log);
        free(e.log);
}

#define CHECK(text, stop_at, want_r, want, what)                                                   \
        check(text, sizeof(text) - 1, stop_at, want_r, want, what)

static void test_lines(void)
{
        CHECK("\xef\xbb\xbf; comment\n"
              "# comment\n"
              "early = 1\n"
              "[main]\r\n"
              "  a = x ;y #z  \r\n"
              "\tb=\n"
              "c = \"q\" = r\n"
              "[ skip ] ; a comment\n"
              "d = hidden\n"
              "[main]\n"
              "e.f-g_h = last",
              0, 0,
              "3 -.early=1\n"
              "4 [main]\n"
              "5 main.a=x ;y #z\n"
              "6 main.b=\n"
              "7 main.c=\"q\" = r\n"
              "8 [skip]\n"
              "10 [main]\n"
              "11 main.e.f-g_h=last\n",
              "BOM, comments, CRLF, inline ';' and '#' kept, indented lines, skipped section");

        CHECK("[main\n"
              "a = 1\n"
              "[main] x\n"
              "b = 2\n"
              "no equals sign\n"
              "= 3\n"
              "bad key = 4\n"
              "[main]\n"
              "c\0d = 5\n"
              "e = 6\n",
              0, 0,
              "1 error: invalid section header: missing ']'\n"
              "3 error: invalid section header: text after ']'\n"
              "5 error: syntax error: expected 'key = value', '[section]' or a comment\n"
              "6 error: syntax error: missing key before '='\n"
              "7 error: invalid key name 'bad key'\n"
              "8 [main]\n"
              "9 error: line contains a NUL byte\n"
              "10 main.e=6\n",
              "syntax errors, keys after a malformed header skipped");

        CHECK("[skip]\nbad key = 1\n", 0, 0, "1 [skip]\n2 error: invalid key name 'bad key'\n",
              "keys of a skipped section are still checked for syntax");
        CHECK("[main]\na = 1\nb = 2\nc = 3\n", 3, -ECANCELED, "1 [main]\n2 main.a=1\n3 main.b=2\n",
              "a callback's error stops the parse and is returned");
        CHECK("", 0, 0, "", "empty text");
}

static void test_long(void)
{
        char key[INIFILE_KEY_MAX + 2], *text, *p;
        size_t n = 300000;

        memset(key, 'k', sizeof key - 1);
        key[sizeof key - 1] = '\0';
        text = malloc(n + 400);
        p = text + sprintf(text, "[main]\nlong = ");
        memset(p, 'v', n);
        p += n;
        p += sprintf(p, "\n%s = 1\n%.*s = 2\nafter = 3\n", key, INIFILE_KEY_MAX, key);
        check(text, (size_t)(p - text), 0, 0,
              "1 [main]\n2 main.long=<300000 bytes>\n"
              "3 error: key name too long (at most 64 bytes)\n"
              "4 main.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk=2\n"
              "5 main.after=3\n",
              "a 300 KB value whole, line numbers after it right, key names up to 64 bytes");
        free(text);
}

int main(void)
{
        test_lines();
        test_long();
        return tap_done();
}
