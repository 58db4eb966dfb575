/* notifier: a type=notify test service using libsystemd's own sd_notify().
 *
 *   notifier [-r MS] [-s STATUS] [-p PINGS] [-l LOG] NAME
 *
 * Logs "NAME start MONO_NS" to LOG, waits MS milliseconds, logs "NAME ready
 * MONO_NS", sends READY=1 (with STATUS=STATUS), then, if the watchdog is enabled
 * (sd_watchdog_enabled, which checks WATCHDOG_PID against its own pid), sends
 * WATCHDOG=1 at a quarter of the interval PINGS times (-1: forever) and then
 * hangs. On SIGTERM logs "NAME stop MONO_NS" and exits 0. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

static const char *name = "notifier";
static int logfd = -1;

static void note(const char *what)
{
        struct timespec ts;
        char buf[256];
        int n;

        if (logfd < 0)
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        n = snprintf(buf, sizeof buf, "%s %s %lld\n", name, what,
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        if (n > 0)
                (void)!write(logfd, buf, (size_t)n); /* O_APPEND: one line per write */
}

static void on_term(int sig)
{
        (void)sig;
        note("stop");
        _exit(0);
}

static void sleep_us(unsigned long long us)
{
        struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) < 0)
                ;
}

int main(int argc, char **argv)
{
        long delay_ms = 0, pings = -1;
        const char *status = NULL, *log = NULL;
        uint64_t wd = 0;
        int opt, r;

        while ((opt = getopt(argc, argv, "r:s:p:l:")) >= 0) {
                switch (opt) {
                case 'r':
                        delay_ms = atol(optarg);
                        break;
                case 's':
                        status = optarg;
                        break;
                case 'p':
                        pings = atol(optarg);
                        break;
                case 'l':
                        log = optarg;
                        break;
                default:
                        return 2;
                }
        }
        if (optind < argc)
                name = argv[optind];
        if (log)
                logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        signal(SIGTERM, on_term);
        note("start");
        sleep_us((unsigned long long)delay_ms * 1000);
        /* Logged before READY=1 is sent: tendd may start a dependent before
         * this process runs again. */
        note("ready");
        if (status)
                r = sd_notifyf(0, "READY=1\nSTATUS=%s", status);
        else
                r = sd_notify(0, "READY=1");
        if (r <= 0) {
                fprintf(stderr, "%s: sd_notify: %s\n", name, r < 0 ? strerror(-r) : "no socket");
                return 1;
        }
        r = sd_watchdog_enabled(0, &wd);
        if (r > 0) {
                note("watchdog");
                for (long i = 0; pings < 0 || i < pings; i++) {
                        sleep_us(wd / 4);
                        sd_notify(0, "WATCHDOG=1");
                }
                note("hang");
        }
        for (;;)
                pause();
}
