/* config-keys.h: the keys of tend.ini and of service files (config-keys.c):
 * for each its parser, field, default and range. */
#pragma once

#include "config-load.h"

extern const struct config_key config_keys_tend[];
extern const size_t config_keys_n_tend;
extern const struct config_key config_keys_service[];
extern const size_t config_keys_n_service;
/* Set what a service config holds before any key: each limit's RLIMIT_*. */
void config_keys_init_limits(struct service_config *sc);
/* Report (under key, at line) a path too long for a unix socket. */
int config_keys_check_socket_path(struct config_file_ctx *f, unsigned line, const char *key,
                                  const char *path);
/* Report (under key, at line) a command line that cannot be executed: empty,
 * an empty or relative program path, a word over execve's limit. */
int config_keys_check_argv(struct config_file_ctx *f, unsigned line, const char *key,
                           char *const *argv);
/* Report (under key, at line) a path that is not absolute or too long. */
int config_keys_check_absolute(struct config_file_ctx *f, unsigned line, const char *key,
                               const char *value);
