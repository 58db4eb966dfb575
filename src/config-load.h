/* config-load.h: what the parts of config_load() share, and nothing outside
 * src/config*.c uses: the state of one load, the file being parsed, the
 * shape of a key table and its parsers, and the error list every part
 * appends to (config-load.c). config.c reads the files and drives the load;
 * config-keys.c (the tables) and config-deps.c (dependencies) sit beside it,
 * and all three report here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Longest value quoted whole in a message; longer ones end in "...". */
#define CONFIG_VALUE_SHOWN_MAX 64

/* A growable buffer a file is read into, reused from file to file. */
struct config_scratch {
        char *buf;
        size_t cap;
};

/* State shared by every file of one config_load(). */
struct config_load_ctx {
        /* The first CONFIG_ERRORS_MAX messages; the rest are only counted. */
        char **errors;
        size_t n_errors, errors_cap;
        size_t n_more;
        bool oom;
        char *services_display; /* services dir as shown in messages */
        char *vendor_display;   /* vendor services dir as shown in messages */
        /* The names of the services found (loaded or not) and of the masked
         * ones, sorted: what after=, requires= and exit_with may name; set
         * while the services are loaded, the strings borrowed. */
        char **names, **masked;
        size_t n_names, n_masked;
        const struct config *conf; /* being loaded: its templates, read first */
        uint64_t bytes_read;    /* by every file so far, against CONFIG_TREE_MAX */
        uint64_t nr_open;       /* fs.nr_open, read once; 0: not yet */
        /* Scratch space of the file being parsed, reused for each file so
         * that parsing leaves no holes between the configs that are kept. */
        struct config_scratch text; /* the whole file */
        struct config_scratch env;  /* an environment file */
        unsigned *seen;
        unsigned *set_line, *set_file;
        bool *failed;
        size_t keys_cap;
};

struct config_key;

/* One file being parsed. */
struct config_file_ctx {
        struct config_load_ctx *load;
        bool have_text; /* text holds the file (else: only the defaults apply) */
        char *text;     /* load->text.buf: the whole file, NUL-terminated */
        size_t text_len;
        const char *display; /* path shown in messages */
        const char *dir;     /* absolute directory relative paths are resolved against */
        const char *display_dir;
        const char *section; /* the only section this kind of file may have */
        const struct config_key *keys;
        size_t n_keys;
        void *target;          /* struct config or struct service_config */
        unsigned *seen;        /* per key: line it was first set on in this file; 0: not set */
        unsigned *set_line;    /* per key: line it was last set on, in any file; 0: not set */
        unsigned *set_file;    /* per key: that line's file, an index of displays */
        bool *failed;          /* per key: its value was rejected */
        char **displays;       /* the files parsed so far as shown, display is the last */
        size_t n_displays, displays_cap;
        size_t env_n, env_cap; /* length and room of the service's environment= list */
        struct config_where *envf_where; /* per environment_file entry: where it was set */
        size_t n_envf_where, envf_where_cap;
        /* Specifiers: with instance set, %i (instance), %n (unit, the full
         * name) and %% are substituted in each value before it is parsed. */
        const char *instance;
        const char *unit;
        /* A template on its own: a value with %i or %n is left to its
         * instances to check (quiet: this one has, its errors are not kept). */
        bool checking, quiet;
        bool tell_instance; /* the file is a template's: messages name the instance */
        /* Reading a template: each file's text goes here. */
        struct config_template *collect;
};

/* A line of one of f->displays. */
struct config_where {
        unsigned line, file;
};

/* Parse value (line 0: the table's default) into field; report problems
 * with config_file_error(). Returns 0, or -EINVAL after reporting, or
 * -ENOMEM. Declared as systemd declares its parsers: */
#define CONFIG_KEY_PARSER(name)                                                                    \
        int name(struct config_file_ctx *f, const struct config_key *k, unsigned line,             \
                 const char *value, void *field)
typedef CONFIG_KEY_PARSER((*config_key_parser));

/* One key of a file: its parser, where it goes, its default. */
struct config_key {
        const char *name;
        config_key_parser parse;
        size_t offset;   /* of the field in f->target */
        const char *def; /* default, run through parse; NULL: none */
        int arg;         /* parser-specific */
        bool repeatable;
        uint64_t min, max; /* numbers: range of non-zero values; max 0: none */
        bool empty;        /* the parser takes an empty value (it resets the field) */
};

/* Set each key's default in f->target, through the key's own parser (a
 * default its parser rejects is a bug of the table). 0 or -ENOMEM. */
int config_file_apply_defaults(struct config_file_ctx *f);

/* Expand value (a string of the service being loaded, set on line under
 * key) from env as expand_string() does, replacing *value; a problem is
 * reported as "unknown variable ${NAME}" or "unterminated or invalid
 * variable '${...'". 0, -EINVAL after reporting, -ENOMEM. */
int config_expand_string(struct config_file_ctx *f, unsigned line, const char *key,
                         char *const *env, char **value);
/* The same for each word of *argv. */
int config_expand_strv(struct config_file_ctx *f, unsigned line, const char *key,
                       char *const *env, char ***argv);

/* config-load.c: the error list. */

/* True once no more messages are kept: the caller only counts (and need not
 * format) the next one. */
bool config_errors_full(struct config_load_ctx *l);
/* Errors found so far, kept or only counted. */
size_t config_errors_count(const struct config_load_ctx *l);
/* Record "FILE:0: message": a problem with a file as a whole. */
_printf_(3, 4) void config_whole_file_error(struct config_load_ctx *l, const char *display,
                                            const char *fmt, ...);
/* Record a message formatted whole by the caller's format. */
_printf_(2, 3) void config_errorf(struct config_load_ctx *l, const char *fmt, ...);
/* Record "FILE:LINE: key: message" (or "FILE:LINE: message" without a key).
 * Returns -EINVAL, or -ENOMEM once memory ran out. */
_printf_(4, 5) int config_file_error(struct config_file_ctx *f, unsigned line, const char *key,
                                     const char *fmt, ...);
/* v as shown in a message: cut after CONFIG_VALUE_SHOWN_MAX bytes into buf. */
const char *config_shown(const char *v, char buf[static CONFIG_VALUE_SHOWN_MAX + 4]);
/* True if the n sorted names hold name. */
bool config_names_have(char *const *names, size_t n, const char *name);
/* The absolute path of a file of c's services directories as shown in
 * messages (as the directory was given); NULL when out of memory. */
char *config_display(const struct config_load_ctx *l, const struct config *c, const char *path);
/* Position of name in c's name-sorted services, or SIZE_MAX. */
size_t config_index(const struct config *c, const char *name);
