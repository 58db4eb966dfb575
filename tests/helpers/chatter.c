/* chatter: a service that writes numbered lines without pause, for the
 * re-exec tests: no line may be lost or doubled while tendd is replaced.
 *
 *   chatter NAME [USEC]
 *
 * Writes "NAME N" lines to stdout, N = 1, 2, ..., each in two write()s
 * (the text, then the newline after a short pause), so tendd often holds an
 * unfinished line; USEC (default 1000) is the pause between lines. Exits 0
 * on SIGTERM after the line it is writing. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
        (void)sig;
        stop = 1;
}

static void pause_usec(long usec)
{
        struct timespec ts = { .tv_sec = usec / 1000000, .tv_nsec = (usec % 1000000) * 1000 };

        while (nanosleep(&ts, &ts) < 0 && !stop)
                ;
}

/* All of buf, or exit: a writer that lost bytes would look like tendd's fault. */
static void write_all(const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(STDOUT_FILENO, buf, len);

                if (n <= 0)
                        exit(2);
                buf += n;
                len -= (size_t)n;
        }
}

int main(int argc, char **argv)
{
        long usec = argc > 2 ? atol(argv[2]) : 1000;
        struct sigaction sa = { .sa_handler = on_term };
        char line[256];

        if (argc < 2)
                return 2;
        sigaction(SIGTERM, &sa, NULL);
        for (unsigned long n = 1; !stop; n++) {
                int len = snprintf(line, sizeof line, "%s %lu", argv[1], n);

                write_all(line, (size_t)len);
                pause_usec(usec / 4);
                write_all("\n", 1);
                pause_usec(usec);
        }
        return 0;
}
