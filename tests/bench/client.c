/* client: the floors tendctl's start-up is compared with, and their timer.
 *   client noop
 *     nothing, in a program linked with libsystemd (and so with what
 *     libsystemd needs): the dynamic loader's work that any client of sd-bus
 *     pays before main().
 *   client call SOCKET NAME
 *     one GetService(NAME) over a peer-to-peer sd-bus connection to SOCKET,
 *     set up as tendctl sets it up, reply read and dropped: the least a
 *     libsystemd client does for `tendctl status NAME`.
 *   client time RUNS CMD [ARG...] [::: CMD [ARG...]]...
 *     each command RUNS times (after 3 untimed rounds), in turn (A B C A B C
 *     ...) so that a drifting machine treats them alike; each run from just
 *     before posix_spawn to its reap, stdin and stdout on /dev/null. Prints
 *     "min_ns median_ns max_ns" per command, one line each; exits 1 if a run
 *     fails. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "wire.h"

extern char **environ;

static long long now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int client_call(const char *socket_path, const char *name)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        char address[4096];
        int r;

        /* The bench's socket paths need no D-Bus escaping. */
        snprintf(address, sizeof address, "unix:path=%s", socket_path);
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 0);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 0);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_GET,
                                       &error, &reply, "s", name);
        if (r < 0)
                fprintf(stderr, "client: GetService(%s): %s\n", name,
                        error.message ? error.message : strerror(-r));
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return r < 0;
}

static int cmp_ll(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;

        return x < y ? -1 : x > y;
}

static int client_time(int runs, int argc, char **argv)
{
        posix_spawn_file_actions_t fa;
        char **cmd[32];
        long long *t;
        int n = 0;

        cmd[n++] = argv;
        for (int i = 0; i < argc; i++)
                if (strcmp(argv[i], ":::") == 0) {
                        if (n == 32)
                                return 2;
                        argv[i] = NULL;
                        cmd[n++] = argv + i + 1;
                }
        t = calloc((size_t)runs * n, sizeof *t);
        if (!t)
                return 1;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        for (int i = -3; i < runs; i++)
                for (int c = 0; c < n; c++) {
                        long long a = now_ns();
                        pid_t pid;
                        int st, r;

                        r = posix_spawn(&pid, cmd[c][0], &fa, NULL, cmd[c], environ);
                        if (r != 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
                            WEXITSTATUS(st) != 0) {
                                fprintf(stderr, "client: %s: %s\n", cmd[c][0],
                                        r ? strerror(r) : "failed");
                                return 1;
                        }
                        if (i >= 0)
                                t[(size_t)c * runs + i] = now_ns() - a;
                }
        for (int c = 0; c < n; c++) {
                long long *v = t + (size_t)c * runs;

                qsort(v, (size_t)runs, sizeof *v, cmp_ll);
                printf("%lld %lld %lld\n", v[0], v[runs / 2], v[runs - 1]);
        }
        free(t);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 2 && strcmp(argv[1], "noop") == 0)
                return 0;
        if (argc == 4 && strcmp(argv[1], "call") == 0)
                return client_call(argv[2], argv[3]);
        if (argc >= 4 && strcmp(argv[1], "time") == 0 && atoi(argv[2]) > 0)
                return client_time(atoi(argv[2]), argc - 3, argv + 3);
        fprintf(stderr, "usage: client noop\n"
                        "       client call SOCKET NAME\n"
                        "       client time RUNS CMD [ARG...] [::: CMD [ARG...]]...\n");
        return 2;
}
