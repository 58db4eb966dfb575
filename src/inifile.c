/* inifile.c: the INI reader, over inih.
 *
 * inih never sees a line of the file. Debian's libinih truncates lines
 * longer than INI_MAX_LINE (200) bytes, takes " ;" as an inline comment,
 * joins indented lines onto the previous key and tells the handler no line
 * number (DESIGN.md). So our reader walks the text itself, one physical line
 * at a time: it counts lines, settles comments, section headers and syntax,
 * and for each key it delivers hands inih the line "key=" alone (a key name
 * fits its buffer). inih calls the handler for that line before it asks the
 * reader for the next one, so the exact value and its line number wait here,
 * in struct inifile, for that one call. */
#include <assert.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "inifile.h"
#include "util.h"

struct inifile {
        const struct inifile_ops *ops;
        void *userdata;
        char *text;
        size_t len;
        size_t pos; /* where the next line starts */
        unsigned line;
        const char *section; /* the taken section; NULL before any header */
        bool skip;           /* after a malformed or skipped header: drop its keys */
        int r;               /* the first negative callback result */
        /* The key handed to inih, until its handler call. */
        bool pending;
        const char *key;
        const char *value;
        size_t value_len;
};

static void inifile_result(struct inifile *p, int r)
{
        if (r < 0 && p->r >= 0)
                p->r = r;
}

/* Report the current line as not valid INI. */
_printf_(2, 3) static void inifile_error(struct inifile *p, const char *fmt, ...)
{
        char msg[160]; /* the longest message holds a key of INIFILE_KEY_MAX bytes */
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        inifile_result(p, p->ops->error(p->line, msg, p->userdata));
}

/* The next physical line, NUL-terminated and stripped; NULL at the end of
 * the text or once a callback stopped the parse. */
static char *inifile_next_line(struct inifile *p)
{
        while (p->r >= 0 && p->pos < p->len) {
                char *s = p->text + p->pos, *nl = memchr(s, '\n', p->len - p->pos);
                size_t n = nl ? (size_t)(nl - s) : p->len - p->pos;

                s[n] = '\0'; /* the newline, or the terminator already there */
                p->pos += n + 1;
                p->line++;
                if (memchr(s, 0, n)) {
                        inifile_error(p, "line contains a NUL byte");
                        continue;
                }
                if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
                        s += 3;
                /* Leading blanks go too: an indented line never continues a key. */
                return string_strip(s);
        }
        return NULL;
}

/* "[name]": check it, then ask the caller whether its keys count. */
static void inifile_section(struct inifile *p, char *s)
{
        char *end = strchr(s, ']'), *name;
        int r;

        p->section = NULL;
        p->skip = true;
        if (!end) {
                inifile_error(p, "invalid section header: missing ']'");
                return;
        }
        *end = 0;
        name = string_strip(s + 1);
        end = string_strip(end + 1);
        if (*end && *end != '#' && *end != ';') {
                inifile_error(p, "invalid section header: text after ']'");
                return;
        }
        r = p->ops->section(name, p->line, p->userdata);
        inifile_result(p, r);
        if (r > 0) {
                p->section = name;
                p->skip = false;
        }
}

/* "key = value": check it; true if it is to be delivered (then pending). */
static bool inifile_key(struct inifile *p, char *s)
{
        char *eq = strchr(s, '='), *key;
        size_t n;

        if (!eq) {
                inifile_error(p, "syntax error: expected 'key = value', '[section]' or a comment");
                return false;
        }
        *eq = 0;
        key = string_strip(s);
        n = strlen(key);
        if (n == 0) {
                inifile_error(p, "syntax error: missing key before '='");
                return false;
        }
        if (n > INIFILE_KEY_MAX) {
                inifile_error(p, "key name too long (at most %d bytes)", INIFILE_KEY_MAX);
                return false;
        }
        for (size_t i = 0; i < n; i++)
                if (!ascii_isalnum(key[i]) && key[i] != '_' && key[i] != '-' && key[i] != '.') {
                        inifile_error(p, "invalid key name '%s'", key);
                        return false;
                }
        if (p->skip)
                return false;
        p->key = key;
        p->value = string_strip(eq + 1);
        p->value_len = strlen(p->value);
        p->pending = true;
        return true;
}

/* inih's reader: the next key to deliver, as the line "key=". */
static char *inifile_reader(char *str, int num, void *stream)
{
        struct inifile *p = stream;
        char *s;

        while ((s = inifile_next_line(p))) {
                if (!*s || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        inifile_section(p, s);
                        continue;
                }
                if (inifile_key(p, s)) {
                        assert(strlen(p->key) + 3 <= (size_t)num);
                        (void)snprintf(str, (size_t)num, "%s=\n", p->key);
                        return str;
                }
        }
        return NULL;
}

/* inih's handler, called for the line the reader just returned. inih's
 * section, name and value are not used: the reader kept the exact ones. */
static int inifile_handler(void *user, const char *section, const char *name, const char *value)
{
        struct inifile *p = user;
        int r;

        assert(p->pending);
        p->pending = false;
        r = p->ops->key(p->section, p->key, p->value, p->value_len, p->line, p->userdata);
        inifile_result(p, r);
        return r >= 0;
}

/* See inifile.h. */
int inifile_parse_buffer(char *text, size_t len, const struct inifile_ops *ops, void *userdata)
{
        struct inifile p = { .ops = ops, .userdata = userdata, .text = text, .len = len };

        /* Its result is a line number of inih's count (or -2: no memory,
         * never with INI_USE_STACK); what went wrong reached the callbacks. */
        (void)ini_parse_stream(inifile_reader, &p, inifile_handler, &p);
        return p.r;
}
