/* parse.c: value parsers for durations, sizes, signals, booleans, umasks,
 * integers, command lines and service names. Pure functions: no logging, no
 * global state. */
#include <arpa/inet.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

/* Parse a run of decimal digits at *p into *ret; -ERANGE on overflow,
 * -EINVAL when there is no digit. Advances *p past the digits. */
static int parse_digits(const char **p, uint64_t *ret)
{
        const char *s = *p;
        uint64_t v = 0;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        for (; isdigit((unsigned char)*s); s++) {
                unsigned d = (unsigned)(*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

/* Parse a non-negative integer that fits unsigned 64 bits. */
int parse_u64(const char *s, bool allow_infinity, uint64_t *ret)
{
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (allow_infinity && strcmp(s, "infinity") == 0) {
                *ret = UINT64_MAX;
                return 0;
        }
        r = parse_digits(&s, &v);
        if (r < 0)
                return r;
        if (*s)
                return -EINVAL;
        *ret = v;
        return 0;
}

static const struct {
        const char *suffix;
        usec_t usec;
} duration_units[] = {
        /* Longest suffix first where one is a prefix of another ("ms" before "s"). */
        { "min", USEC_PER_MINUTE },
        { "ms", USEC_PER_MSEC },
        { "us", 1 },
        { "h", USEC_PER_HOUR },
        { "s", USEC_PER_SEC },
};

/* Parse a duration; see parse.h. "us" is accepted too so that every value
 * format_duration() prints parses back. */
int parse_duration(const char *s, usec_t *ret)
{
        usec_t total = 0;
        bool any = false;

        if (!s)
                return -EINVAL;
        if (strcmp(s, "infinity") == 0) {
                *ret = USEC_INFINITY;
                return 0;
        }

        for (;;) {
                uint64_t whole = 0, frac = 0, frac_div = 1;
                usec_t unit = USEC_PER_SEC, term;
                bool have_whole, have_frac = false;
                int r;

                while (*s == ' ' || *s == '\t')
                        s++;
                if (!*s)
                        break;

                have_whole = isdigit((unsigned char)*s);
                if (have_whole) {
                        r = parse_digits(&s, &whole);
                        if (r < 0)
                                return r;
                }
                if (*s == '.') {
                        s++;
                        if (!isdigit((unsigned char)*s))
                                return -EINVAL;
                        /* Digits beyond the ninth are below any unit's resolution. */
                        for (; isdigit((unsigned char)*s); s++)
                                if (frac_div < 1000000000ULL) {
                                        frac = frac * 10 + (uint64_t)(*s - '0');
                                        frac_div *= 10;
                                }
                        have_frac = true;
                }
                if (!have_whole && !have_frac)
                        return -EINVAL;

                for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
                        size_t l = strlen(duration_units[i].suffix);
                        if (strncmp(s, duration_units[i].suffix, l) == 0 &&
                            !isalpha((unsigned char)s[l])) {
                                unit = duration_units[i].usec;
                                s += l;
                                break;
                        }
                }
                if (isalpha((unsigned char)*s))
                        return -EINVAL;

                /* Up to the last microsecond below infinity, which is what
                 * format_duration() prints for it: no term may fall short. */
                if (whole > UINT64_MAX / unit)
                        return -ERANGE;
                term = whole * unit;
                if (frac * unit / frac_div > UINT64_MAX - term)
                        return -ERANGE;
                term += frac * unit / frac_div;
                if (term >= USEC_INFINITY - total)
                        return -ERANGE;
                total += term;
                any = true;
        }

        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}

/* Format a duration with the largest unit that keeps it exact. */
const char *format_duration(char *buf, size_t len, usec_t u)
{
        if (u == USEC_INFINITY)
                snprintf(buf, len, "infinity");
        else if (u == 0)
                snprintf(buf, len, "0");
        else if (u % USEC_PER_HOUR == 0)
                snprintf(buf, len, "%lluh", (unsigned long long)(u / USEC_PER_HOUR));
        else if (u % USEC_PER_MINUTE == 0)
                snprintf(buf, len, "%llumin", (unsigned long long)(u / USEC_PER_MINUTE));
        else if (u % USEC_PER_SEC == 0)
                snprintf(buf, len, "%llus", (unsigned long long)(u / USEC_PER_SEC));
        else if (u >= USEC_PER_SEC) {
                char frac[8];
                size_t n;

                snprintf(frac, sizeof frac, "%06llu", (unsigned long long)(u % USEC_PER_SEC));
                for (n = strlen(frac); n > 1 && frac[n - 1] == '0'; n--)
                        frac[n - 1] = 0;
                snprintf(buf, len, "%llu.%ss", (unsigned long long)(u / USEC_PER_SEC), frac);
        } else if (u % USEC_PER_MSEC == 0)
                snprintf(buf, len, "%llums", (unsigned long long)(u / USEC_PER_MSEC));
        else
                snprintf(buf, len, "%lluus", (unsigned long long)u);
        return buf;
}

/* Parse a byte size with an optional K, M or G suffix (powers of 1024). */
int parse_size(const char *s, uint64_t *ret)
{
        uint64_t v, mult = 1;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(&s, &v);
        if (r < 0)
                return r;
        switch (*s) {
        case 0:
                break;
        case 'K':
        case 'k':
                mult = 1ULL << 10;
                s++;
                break;
        case 'M':
        case 'm':
                mult = 1ULL << 20;
                s++;
                break;
        case 'G':
        case 'g':
                mult = 1ULL << 30;
                s++;
                break;
        case 'T':
        case 't':
                mult = 1ULL << 40;
                s++;
                break;
        default:
                return -EINVAL;
        }
        if (*s)
                return -EINVAL;
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

/* Format a byte size with the largest suffix that keeps it exact. */
const char *format_size(char *buf, size_t len, uint64_t v)
{
        static const char suffixes[] = "KMGT";
        int i = -1;

        while (i < 3 && v >= 1024 && v % 1024 == 0) {
                v /= 1024;
                i++;
        }
        if (i < 0)
                snprintf(buf, len, "%llu", (unsigned long long)v);
        else
                snprintf(buf, len, "%llu%c", (unsigned long long)v, suffixes[i]);
        return buf;
}

static const char *const signal_names[] = {
        [SIGHUP] = "HUP",     [SIGINT] = "INT",       [SIGQUIT] = "QUIT",   [SIGILL] = "ILL",
        [SIGTRAP] = "TRAP",   [SIGABRT] = "ABRT",     [SIGBUS] = "BUS",     [SIGFPE] = "FPE",
        [SIGKILL] = "KILL",   [SIGUSR1] = "USR1",     [SIGSEGV] = "SEGV",   [SIGUSR2] = "USR2",
        [SIGPIPE] = "PIPE",   [SIGALRM] = "ALRM",     [SIGTERM] = "TERM",   [SIGSTKFLT] = "STKFLT",
        [SIGCHLD] = "CHLD",   [SIGCONT] = "CONT",     [SIGSTOP] = "STOP",   [SIGTSTP] = "TSTP",
        [SIGTTIN] = "TTIN",   [SIGTTOU] = "TTOU",     [SIGURG] = "URG",     [SIGXCPU] = "XCPU",
        [SIGXFSZ] = "XFSZ",   [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF",   [SIGWINCH] = "WINCH",
        [SIGIO] = "IO",       [SIGPWR] = "PWR",       [SIGSYS] = "SYS",
};

static const struct {
        const char *name;
        int sig;
} signal_aliases[] = {
        { "IOT", SIGABRT },
        { "CLD", SIGCHLD },
        { "POLL", SIGIO },
};

/* Names for SIGRTMIN+n; glibc has 31 real-time signals (34..64). */
static const char *const signal_rt_names[] = {
        "RTMIN",    "RTMIN+1",  "RTMIN+2",  "RTMIN+3",  "RTMIN+4",  "RTMIN+5",  "RTMIN+6",
        "RTMIN+7",  "RTMIN+8",  "RTMIN+9",  "RTMIN+10", "RTMIN+11", "RTMIN+12", "RTMIN+13",
        "RTMIN+14", "RTMIN+15", "RTMIN+16", "RTMIN+17", "RTMIN+18", "RTMIN+19", "RTMIN+20",
        "RTMIN+21", "RTMIN+22", "RTMIN+23", "RTMIN+24", "RTMIN+25", "RTMIN+26", "RTMIN+27",
        "RTMIN+28", "RTMIN+29", "RTMIN+30", "RTMIN+31", "RTMIN+32",
};

static bool signal_is_valid(int sig)
{
        if (sig > 0 && (size_t)sig < ELEMENTSOF(signal_names) && signal_names[sig])
                return true;
        return sig >= SIGRTMIN && sig <= SIGRTMAX;
}

/* Name of a signal without the SIG prefix; NULL when unknown. */
const char *signal_to_name(int sig)
{
        if (sig > 0 && (size_t)sig < ELEMENTSOF(signal_names) && signal_names[sig])
                return signal_names[sig];
        if (sig >= SIGRTMIN && sig <= SIGRTMAX &&
            (size_t)(sig - SIGRTMIN) < ELEMENTSOF(signal_rt_names))
                return signal_rt_names[sig - SIGRTMIN];
        return NULL;
}

/* "RTMIN", "RTMIN+n", "RTMAX", "RTMAX-n" (prefix already stripped). */
static int parse_signal_rt(const char *s, int *ret)
{
        bool from_min = strncasecmp(s, "RTMIN", 5) == 0;
        uint64_t n = 0;
        int sig;

        if (!from_min && strncasecmp(s, "RTMAX", 5) != 0)
                return -EINVAL;
        s += 5;
        if (*s) {
                if (*s != (from_min ? '+' : '-'))
                        return -EINVAL;
                s++;
                if (parse_u64(s, false, &n) < 0 || n > (uint64_t)(SIGRTMAX - SIGRTMIN))
                        return -EINVAL;
        }
        sig = from_min ? SIGRTMIN + (int)n : SIGRTMAX - (int)n;
        *ret = sig;
        return 0;
}

/* Parse a signal name (with or without SIG, any case), number or RTMIN+n. */
int parse_signal(const char *s, int *ret)
{
        uint64_t n;

        if (!s || !*s)
                return -EINVAL;
        if (isdigit((unsigned char)*s)) {
                if (parse_u64(s, false, &n) < 0 || n > INT32_MAX || !signal_is_valid((int)n))
                        return -EINVAL;
                *ret = (int)n;
                return 0;
        }
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < ELEMENTSOF(signal_names); i++)
                if (signal_names[i] && strcasecmp(s, signal_names[i]) == 0) {
                        *ret = (int)i;
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(signal_aliases); i++)
                if (strcasecmp(s, signal_aliases[i].name) == 0) {
                        *ret = signal_aliases[i].sig;
                        return 0;
                }
        return parse_signal_rt(s, ret);
}

/* Parse yes/no, true/false, on/off, 1/0 (any case). */
int parse_bool(const char *s, bool *ret)
{
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* Parse an octal umask of at most 0777. */
int parse_umask(const char *s, mode_t *ret)
{
        unsigned v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '7')
                        return -EINVAL;
                v = v * 8 + (unsigned)(*s - '0');
                if (v > 0777)
                        return -ERANGE;
        }
        *ret = (mode_t)v;
        return 0;
}

/* A growing word buffer for shell_split(). */
struct word {
        char *buf;
        size_t len, cap;
        bool started; /* '' and "" make an empty word */
};

static int word_add(struct word *w, char c)
{
        if (w->len + 2 > w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 64;
                char *b = realloc(w->buf, cap);
                if (!b)
                        return -ENOMEM;
                w->buf = b;
                w->cap = cap;
        }
        w->buf[w->len++] = c;
        w->buf[w->len] = 0;
        w->started = true;
        return 0;
}

/* The words so far: n of them in room for cap (strv_append). */
struct words {
        char **v;
        size_t n, cap;
};

static int word_finish(struct word *w, struct words *argv)
{
        int r;

        if (!w->started)
                return 0;
        r = strv_append(&argv->v, &argv->n, &argv->cap, w->buf ? w->buf : strdup(""));
        *w = (struct word){};
        return r;
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Split a command line into words; see parse.h for the exact rules. */
int shell_split(const char *s, char ***ret_argv)
{
        struct words argv = {};
        struct word w = {};
        int r = 0;

        argv.v = calloc(1, sizeof(char *));
        if (!argv.v)
                return -ENOMEM;
        argv.cap = 1;

        for (const char *p = s; *p && r >= 0; p++) {
                if (is_blank(*p)) {
                        r = word_finish(&w, &argv);
                } else if (*p == '\'') {
                        const char *end = strchr(p + 1, '\'');
                        if (!end) {
                                r = -EINVAL;
                                break;
                        }
                        w.started = true;
                        for (p++; p < end && r >= 0; p++)
                                r = word_add(&w, *p);
                        p = end;
                } else if (*p == '"') {
                        w.started = true;
                        for (p++; *p != '"' && r >= 0; p++) {
                                if (!*p) {
                                        r = -EINVAL;
                                        break;
                                }
                                if (*p == '\\' && p[1] == '\n') {
                                        p++;
                                        continue;
                                }
                                if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                                        p++;
                                r = word_add(&w, *p);
                        }
                        if (r < 0)
                                break;
                } else if (*p == '\\') {
                        if (!p[1]) {
                                r = -EINVAL;
                                break;
                        }
                        p++;
                        if (*p != '\n') /* backslash-newline joins lines */
                                r = word_add(&w, *p);
                } else
                        r = word_add(&w, *p);
        }
        if (r >= 0)
                r = word_finish(&w, &argv);
        free(w.buf);
        if (r < 0) {
                strv_free(argv.v);
                return r;
        }
        *ret_argv = argv.v;
        return 0;
}

/* True for 1..64 bytes of [A-Za-z0-9_.@-] not starting with a dot. */
bool service_name_is_valid(const char *s)
{
        size_t n;

        if (!s || !*s || *s == '.')
                return false;
        n = strlen(s);
        if (n > SERVICE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
                    !(s[i] >= '0' && s[i] <= '9') && !strchr("_.@-", s[i]))
                        return false;
        return true;
}

/* HOST[:PORT] of length len at s into ret; default_port 0: the port is required. */
static int parse_authority(const char *s, size_t len, uint16_t default_port,
                           struct parse_target *ret, const char **ret_why)
{
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ret->addr;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ret->addr;
        char host[INET6_ADDRSTRLEN + 1], port[8];
        const char *h = s, *p = NULL, *end = s + len;
        size_t hl;
        uint64_t v;

        if (len > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', len);

                if (!close) {
                        *ret_why = "unterminated '[' of an IPv6 address";
                        return -EINVAL;
                }
                h = s + 1;
                hl = (size_t)(close - h);
                if (close + 1 < end) {
                        if (close[1] != ':') {
                                *ret_why = "expected ':PORT' after ']'";
                                return -EINVAL;
                        }
                        p = close + 2;
                }
        } else {
                const char *colon = memrchr(s, ':', len);

                if (colon && memchr(s, ':', len) != colon) {
                        *ret_why = "an IPv6 address must be written in brackets, as [::1]:80";
                        return -EINVAL;
                }
                hl = colon ? (size_t)(colon - s) : len;
                p = colon ? colon + 1 : NULL;
        }
        if (hl == 0) {
                *ret_why = "no host";
                return -EINVAL;
        }
        if (!p) {
                if (default_port == 0) {
                        *ret_why = "no port (expected HOST:PORT)";
                        return -EINVAL;
                }
                v = default_port;
        } else {
                size_t pl = (size_t)(end - p);

                if (pl == 0 || pl >= sizeof port || strspn(p, "0123456789") < pl) {
                        *ret_why = "invalid port (expected 1 to 65535)";
                        return -EINVAL;
                }
                memcpy(port, p, pl);
                port[pl] = '\0';
                if (parse_u64(port, false, &v) < 0 || v == 0 || v > 65535) {
                        *ret_why = "invalid port (expected 1 to 65535)";
                        return -EINVAL;
                }
        }
        if (hl >= sizeof host) {
                *ret_why = "host is not a numeric address or localhost (no name is looked up)";
                return -EINVAL;
        }
        memcpy(host, h, hl);
        host[hl] = '\0';
        memset(&ret->addr, 0, sizeof ret->addr);
        if (h != s) { /* in brackets */
                if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
                        *ret_why = "invalid IPv6 address in brackets";
                        return -EINVAL;
                }
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)v);
                ret->addr_len = sizeof *in6;
        } else {
                if (strcasecmp(host, "localhost") == 0)
                        (void)snprintf(host, sizeof host, "127.0.0.1");
                if (inet_pton(AF_INET, host, &in4->sin_addr) != 1) {
                        *ret_why = "host is not a numeric address or localhost (no name is "
                                   "looked up)";
                        return -EINVAL;
                }
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)v);
                ret->addr_len = sizeof *in4;
        }
        ret->host = s;
        ret->host_len = len;
        return 0;
}

/* See parse.h. */
int parse_host_port(const char *s, struct parse_target *ret, const char **ret_why)
{
        int r = parse_authority(s, strlen(s), 0, ret, ret_why);

        if (r >= 0)
                ret->path = "";
        return r;
}

/* See parse.h. */
int parse_http_url(const char *s, struct parse_target *ret, const char **ret_why)
{
        static const char scheme[] = "http://";
        const char *a, *slash;
        int r;

        if (strlen(s) >= PARSE_URL_MAX) {
                *ret_why = "URL longer than 2047 bytes";
                return -EINVAL;
        }
        if (strncasecmp(s, "https://", 8) == 0) {
                *ret_why = "https is not supported (plain http:// only)";
                return -EINVAL;
        }
        if (strncasecmp(s, scheme, sizeof scheme - 1) != 0) {
                *ret_why = "not an http:// URL";
                return -EINVAL;
        }
        a = s + sizeof scheme - 1;
        slash = strchr(a, '/');
        if (memchr(a, '@', slash ? (size_t)(slash - a) : strlen(a))) {
                *ret_why = "user information in the URL is not supported";
                return -EINVAL;
        }
        for (const char *p = slash ? slash : ""; *p; p++)
                if (*p <= ' ' || *p >= 127) {
                        *ret_why = "the path has a blank or a character that is not printable "
                                   "ASCII (percent-encode it)";
                        return -EINVAL;
                }
        r = parse_authority(a, slash ? (size_t)(slash - a) : strlen(a), 80, ret, ret_why);
        if (r < 0)
                return r;
        ret->path = slash ? slash : "";
        return 0;
}

/* See parse.h. */
size_t service_template_len(const char *name)
{
        const char *at = name ? strchr(name, '@') : NULL;

        if (!at || at == name || !service_name_is_valid(name))
                return 0;
        return (size_t)(at - name) + 1;
}

/* See parse.h. */
bool service_name_is_template(const char *name)
{
        size_t n = service_template_len(name);

        return n > 0 && name[n] == '\0';
}

/* See parse.h. */
bool service_name_is_instance(const char *name)
{
        size_t n = service_template_len(name);

        return n > 0 && name[n] != '\0' && !strchr(name + n, '@');
}
