/* expand.h: variables in configuration values (a service's expand = yes):
 * "${NAME}" is replaced by NAME's value in a service's environment (its
 * "KEY=VALUE" entries), "$$" by one '$'; a '$' followed by anything else is
 * kept as it is, so "$1" or "$HOME" in a shell snippet reach the shell. A
 * value is expanded within the string given: the caller splits a command
 * line into words first, and a variable's value stays inside its word.
 * Never logs; the config names file, line and key. */
#pragma once

/* Bytes a value, or the words of a vector together, may expand to: more
 * could never be executed (execve's limit for arguments and environment),
 * and a file of "${BIG}" repeated must not make the daemon allocate
 * gigabytes. */
#define EXPAND_MAX (1 << 20)

/* Expand s from env (NULL: empty) into a new string in *ret. On -ENOENT
 * (NAME is not set in env) and -EINVAL ("${" without its "}", or with a
 * name that is not [A-Za-z_][A-Za-z0-9_]*) *ret_bad holds a new string:
 * the name, or the text from "${" on. -E2BIG: the result would be longer
 * than EXPAND_MAX (*ret_bad untouched). -ENOMEM. *ret and *ret_bad are
 * untouched unless set as said; ret_bad may be NULL. */
int expand_string(const char *s, char *const *env, char **ret, char **ret_bad);

/* Expand each string of v (NULL-terminated) as expand_string() does, into a
 * new vector in *ret; the first error stops. -E2BIG: the words together
 * would be longer than EXPAND_MAX. */
int expand_strv(char *const *v, char *const *env, char ***ret, char **ret_bad);
