/* inifile.h: the INI reader, the only user of inih. It splits a file held in
 * memory into section headers and "key = value" lines and hands each to a
 * callback with its line number and its value exactly as written: any length,
 * ';' and '#' inside it kept, blanks around it trimmed. Lines starting with ';'
 * or '#' are comments, indented lines are ordinary lines (never
 * continuations), CRLF and a UTF-8 BOM are accepted. What a section or key
 * means is the caller's business. Never logs. */
#pragma once

#include <stddef.h>

/* Key names: [A-Za-z0-9_.-], 1 to INIFILE_KEY_MAX bytes. */
#define INIFILE_KEY_MAX 64

struct inifile_ops {
        /* A "[name]" line. Returns > 0 to take the section's keys, 0 to skip
         * them (the callback says why, if it must), < 0 to stop parsing. */
        int (*section)(const char *name, unsigned line, void *userdata);
        /* "key = value" in a taken section, or before any section header
         * (section NULL). value is NUL-terminated, value_len bytes long, and
         * lives as long as the text. Returns >= 0 to go on, < 0 to stop. */
        int (*key)(const char *section, const char *key, const char *value, size_t value_len,
                   unsigned line, void *userdata);
        /* A line that is neither: message says what is wrong with it (the
         * line's keys, if any, are skipped). Returns >= 0 to go on, < 0 to stop. */
        int (*error)(unsigned line, const char *message, void *userdata);
};

/* Parse text, len bytes followed by a NUL, which is cut up in place (values
 * point into it). Keys after a malformed or skipped section header are
 * checked for syntax, then skipped, up to the next header. Returns 0, or the
 * first negative value a callback returned (parsing stopped there). */
int inifile_parse_buffer(char *text, size_t len, const struct inifile_ops *ops, void *userdata);
