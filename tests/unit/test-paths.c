/* test-paths: the default socket and log directory, log file names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "paths.h"
#include "tap.h"

/* Non-root defaults: checked in a child that drops to nobody when we are root. */
static void test_default_paths(void)
{
        char *s = NULL;
        pid_t pid;
        int status;

        if (geteuid() == 0) {
                ok(paths_default_socket(&s) == 0 && strcmp(s, "/run/tend/tend.sock") == 0,
                   "root default socket");
                free(s);
                ok(paths_default_log_dir(&s) == 0 && strcmp(s, "/var/log/tend") == 0,
                   "root default log_dir");
                free(s);
                fflush(stdout);
                pid = fork();
                if (pid == 0) {
                        int bad = 0;
                        if (setresgid(65534, 65534, 65534) < 0 ||
                            setresuid(65534, 65534, 65534) < 0)
                                _exit(77);
                        setenv("XDG_RUNTIME_DIR", "/run/user/65534", 1);
                        bad |= paths_default_socket(&s) != 0 ||
                               strcmp(s, "/run/user/65534/tend/tend.sock") != 0;
                        bad |= paths_default_log_dir(&s) != 0 ||
                               strcmp(s, "/run/user/65534/tend/log") != 0;
                        unsetenv("XDG_RUNTIME_DIR");
                        bad |= paths_default_socket(&s) != -ENXIO;
                        bad |= paths_default_log_dir(&s) != -ENXIO;
                        _exit(bad);
                }
                if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
                    WEXITSTATUS(status) == 77)
                        ok(1, "# SKIP cannot drop privileges");
                else
                        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                           "non-root defaults under XDG_RUNTIME_DIR, -ENXIO without it");
        } else {
                const char *old = getenv("XDG_RUNTIME_DIR");
                char *saved = old ? strdup(old) : NULL;
                setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
                ok(paths_default_socket(&s) == 0 && strcmp(s, "/run/user/1/tend/tend.sock") == 0,
                   "user default socket");
                free(s);
                unsetenv("XDG_RUNTIME_DIR");
                ok(paths_default_log_dir(&s) == -ENXIO, "no XDG_RUNTIME_DIR: -ENXIO");
                if (saved)
                        setenv("XDG_RUNTIME_DIR", saved, 1);
                free(saved);
        }
}

static void test_log_names(void)
{
        char buf[16], *p = paths_log_file("/var/log/tend", "web");

        ok(p && strcmp(p, "/var/log/tend/web.log") == 0, "log_dir/NAME.log");
        free(p);
        ok(paths_rotated(buf, sizeof buf, "web.log", 3) == 0 && strcmp(buf, "web.log.3") == 0,
           "NAME.log.N");
        ok(paths_rotated(buf, sizeof buf, "web.log", 1234567) == 0 &&
                   strcmp(buf, "web.log.1234567") == 0,
           "fills the buffer exactly");
        ok(paths_rotated(buf, sizeof buf, "web.log", 12345678) == -ENAMETOOLONG,
           "one byte too long: -ENAMETOOLONG");
}

int main(void)
{
        test_default_paths();
        test_log_names();
        return tap_done();
}
