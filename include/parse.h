/* parse.h: value parsers shared by the config and the tools. Each returns 0 or
 * -EINVAL/-ERANGE/-ENOMEM and never logs; the caller names file, line and key. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "util.h"

/* "100ms", "30s", "2min", "1h", "1.5s", "0"; a bare number means seconds.
 * Several terms add up ("1min 30s"). "infinity" gives USEC_INFINITY. */
int parse_duration(const char *s, usec_t *ret);
/* Format a duration compactly ("1.5s", "100ms", "2min"); buf of at least 32 bytes. */
const char *format_duration(char *buf, size_t len, usec_t u);

/* "4096", "512K", "10M", "1G", "1T" (powers of 1024). */
int parse_size(const char *s, uint64_t *ret);
/* Format a size with the largest exact suffix ("4K", "1T", "1000"); buf of at least 32 bytes. */
const char *format_size(char *buf, size_t len, uint64_t v);

/* "TERM", "SIGTERM", "15", case-insensitive names; real-time "RTMIN+3". */
int parse_signal(const char *s, int *ret);
/* "TERM" for 15, NULL for an unknown number. */
const char *signal_to_name(int sig);

/* yes/no, true/false, on/off, 1/0. */
int parse_bool(const char *s, bool *ret);

/* Octal umask "022", "0077"; at most 0777. */
int parse_umask(const char *s, mode_t *ret);

/* Non-negative integer that fits unsigned 64 bits; "infinity" → UINT64_MAX when
 * allow_infinity. */
int parse_u64(const char *s, bool allow_infinity, uint64_t *ret);

/* Split a command line the way a POSIX shell splits words: blanks separate,
 * single quotes keep everything literal, double quotes keep everything but
 * \" \\ \$ \` and backslash-newline, an unquoted backslash quotes the next
 * character. No expansion of any kind. -EINVAL on an unterminated quote or
 * trailing backslash; an empty line gives an empty vector. */
int shell_split(const char *s, char ***ret_argv);

/* Service names: [A-Za-z0-9_.@-], no leading dot, 1..64 bytes. */
bool service_name_is_valid(const char *s);
#define SERVICE_NAME_MAX 64

/* A health check's target (health_tcp, health_http), resolved without any
 * name lookup. addr/addr_len: where to connect. host/host_len: the
 * authority as written (for HTTP's Host:), path: "/..." or "" (meaning "/").
 * Both point into the string parsed. */
struct parse_target {
        struct sockaddr_storage addr;
        socklen_t addr_len;
        const char *host;
        size_t host_len;
        const char *path;
};
#define PARSE_URL_MAX 2048 /* bytes of a health_http URL */

/* "HOST:PORT": HOST an IPv4 address, an IPv6 address in brackets
 * ("[::1]:80") or "localhost" (127.0.0.1); PORT 1 to 65535. -EINVAL with
 * *ret_why saying what is wrong. */
int parse_host_port(const char *s, struct parse_target *ret, const char **ret_why);
/* "http://HOST[:PORT][/PATH]": HOST as above, PORT 80 when not given; the
 * path of printable ASCII without blanks (it goes into the request line
 * as is). No https, no user info. */
int parse_http_url(const char *s, struct parse_target *ret, const char **ret_why);

/* Templates and instances: "NAME@" is a template when NAME is a service
 * name without '@'; "NAME@X" is one of its instances when X is not empty
 * and has no '@' (and the whole is a service name). The length of the
 * template's name ("NAME@") that name starts with, or 0 when none. */
size_t service_template_len(const char *name);
/* True if name is a template's name, "NAME@". */
bool service_name_is_template(const char *name);
/* True if name is a valid instance "NAME@X" of some template. */
bool service_name_is_instance(const char *name);
