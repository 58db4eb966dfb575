/* env.h: environment entries ("KEY=VALUE" strings): parsing them as service
 * files write them, reading an environment file's text, and merging
 * vectors of them so that each key is set once. Never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Variable names: [A-Za-z0-9_], not starting with a digit; n bytes of s. */
bool env_name_is_valid(const char *s, size_t n);

/* Remove one pair of surrounding quotes into a new string in *ret: '...' is
 * literal, "..." honours \" \\ \$ \`; an unquoted value is copied as it is.
 * -EINVAL on an unterminated quote or text after the closing one, -ENOMEM. */
int env_unquote(const char *v, char **ret);

/* "KEY=VALUE" with blanks allowed around '=' and the value unquoted as
 * env_unquote() does, into a new "KEY=VALUE" string in *ret. -EINVAL with a
 * static reason in *ret_reason, or -ENOMEM. */
int env_parse_assignment(const char *s, char **ret, const char **ret_reason);

/* Called for each assignment line of an environment file, with the new
 * entry (the callback owns it) or, for a bad line, entry NULL and a static
 * reason. Returns >= 0 to go on, < 0 to stop. */
typedef int (*env_line_cb)(unsigned line, char *entry, const char *reason, void *userdata);

/* Parse the text of an environment file, len bytes followed by a NUL (cut up
 * in place): KEY=VALUE lines as env_parse_assignment() takes them, blank
 * lines and lines starting with '#' skipped, a line with a NUL byte bad, a
 * UTF-8 byte order mark opening the text skipped.
 * Returns 0, -ENOMEM, or the first negative value cb returned. */
int env_parse_file(char *text, size_t len, env_line_cb cb, void *userdata);

/* Append the entries of add to the environment *envp of length *n (room
 * *cap, kept as strv_append() keeps them), replacing in place: each key
 * keeps the place of its first entry and the value of its last, also among
 * add's own. Takes add (the vector and its strings; NULL is empty) whatever
 * happens. O(n + m) for m added: tens of thousands of entries cost no
 * quadratic time. -ENOMEM leaves *envp valid, some of add perhaps not in it
 * and keys perhaps set twice. */
int env_merge(char ***envp, size_t *n, size_t *cap, char **add);
