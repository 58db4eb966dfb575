/* metrics.c: tendctl metrics: every service from one ListServicesCompact, in
 * the Prometheus text exposition format 0.0.4, for node_exporter's textfile
 * collector: one family per metric (HELP, TYPE, then its samples), label
 * values escaped (\\ \" \n), counters named _total, samples of what is not
 * known left out rather than given a made-up value. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendctl.h"

/* The states a service can be in (DESIGN: the product's vocabulary); each
 * is a series of tend_service_state, as node_systemd_unit_state does. */
static const char *const metrics_states[] = {
        "stopped", "starting", "running", "stopping", "backoff", "failed",
};

/* A label value: \, " and newline escaped as the format requires. */
static void metrics_label(const char *s)
{
        for (const char *p = s ? s : ""; *p; p++) {
                if (*p == '\\')
                        fputs("\\\\", stdout);
                else if (*p == '"')
                        fputs("\\\"", stdout);
                else if (*p == '\n')
                        fputs("\\n", stdout);
                else
                        putchar(*p);
        }
}

static void metrics_family(const char *name, const char *type, const char *help)
{
        printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_sample_start(const char *name, const struct wire_service *w)
{
        printf("%s{service=\"", name);
        metrics_label(w->name);
        putchar('"');
}

/* usec as seconds, exactly (no float rounding). */
static void metrics_seconds(uint64_t usec)
{
        printf("%" PRIu64 ".%06" PRIu64 "\n", usec / USEC_PER_SEC, usec % USEC_PER_SEC);
}

static void metrics_print(const struct wire_service *v, size_t n)
{
        metrics_family("tend_service_up", "gauge",
                       "Whether the service is running (1) or not (0).");
        for (size_t i = 0; i < n; i++) {
                metrics_sample_start("tend_service_up", &v[i]);
                printf("} %d\n", streq_ptr(v[i].state, "running"));
        }

        metrics_family("tend_service_state", "gauge",
                       "The service's state: 1 for the state it is in, 0 for the others.");
        for (size_t i = 0; i < n; i++) {
                bool listed = false;

                for (size_t k = 0; k < ELEMENTSOF(metrics_states); k++) {
                        bool in = streq_ptr(v[i].state, metrics_states[k]);

                        listed = listed || in;
                        metrics_sample_start("tend_service_state", &v[i]);
                        printf(",state=\"%s\"} %d\n", metrics_states[k], in);
                }
                if (!listed && v[i].state) { /* a state of a newer tendd */
                        metrics_sample_start("tend_service_state", &v[i]);
                        fputs(",state=\"", stdout);
                        metrics_label(v[i].state);
                        fputs("\"} 1\n", stdout);
                }
        }

        metrics_family("tend_service_restarts_total", "counter",
                       "Automatic restarts of the service since tendd started.");
        for (size_t i = 0; i < n; i++) {
                metrics_sample_start("tend_service_restarts_total", &v[i]);
                printf("} %" PRIu32 "\n", v[i].restarts);
        }

        metrics_family("tend_service_last_exit_code", "gauge",
                       "Exit code of the service's last exit (absent: none yet, or killed).");
        for (size_t i = 0; i < n; i++)
                if (v[i].has_exit && v[i].exit_code >= 0) {
                        metrics_sample_start("tend_service_last_exit_code", &v[i]);
                        printf("} %" PRIi32 "\n", v[i].exit_code);
                }

        metrics_family("tend_service_last_exit_signal", "gauge",
                       "Signal that ended the service's last run (absent: none yet, or exited).");
        for (size_t i = 0; i < n; i++)
                if (v[i].has_exit && v[i].exit_signal > 0) {
                        metrics_sample_start("tend_service_last_exit_signal", &v[i]);
                        printf("} %" PRIi32 "\n", v[i].exit_signal);
                }

        metrics_family("tend_service_start_time_seconds", "gauge",
                       "Unix time of the service's last start (absent: never started).");
        for (size_t i = 0; i < n; i++)
                if (v[i].started) {
                        metrics_sample_start("tend_service_start_time_seconds", &v[i]);
                        fputs("} ", stdout);
                        metrics_seconds(v[i].started);
                }

        metrics_family("tend_service_state_change_time_seconds", "gauge",
                       "Unix time the service entered its state.");
        for (size_t i = 0; i < n; i++)
                if (v[i].since) {
                        metrics_sample_start("tend_service_state_change_time_seconds", &v[i]);
                        fputs("} ", stdout);
                        metrics_seconds(v[i].since);
                }

        metrics_family("tend_service_cpu_seconds_total", "counter",
                       "CPU time used by the service's cgroup (absent: not known).");
        for (size_t i = 0; i < n; i++)
                if (v[i].cpu_usec != UINT64_MAX) {
                        metrics_sample_start("tend_service_cpu_seconds_total", &v[i]);
                        fputs("} ", stdout);
                        metrics_seconds(v[i].cpu_usec);
                }

        metrics_family("tend_service_memory_bytes", "gauge",
                       "Memory used by the service's cgroup (absent: not known).");
        for (size_t i = 0; i < n; i++)
                if (v[i].memory_bytes != UINT64_MAX) {
                        metrics_sample_start("tend_service_memory_bytes", &v[i]);
                        printf("} %" PRIu64 "\n", v[i].memory_bytes);
                }

        metrics_family("tend_service_healthy", "gauge",
                       "1 while the service's health check passes, 0 while it fails or has not "
                       "passed yet (absent: no health check, or not running).");
        for (size_t i = 0; i < n; i++)
                if (v[i].health && *v[i].health && strcmp(v[i].health, "inactive") != 0) {
                        metrics_sample_start("tend_service_healthy", &v[i]);
                        printf("} %d\n", strcmp(v[i].health, "healthy") == 0);
                }
}

/* metrics; see tendctl.h. Nothing is printed unless the listing worked, so
 * `tendctl metrics > f.tmp && mv f.tmp f.prom` never leaves half a file. */
int ctl_metrics(struct ctl_args *a)
{
        struct wire_service *v = NULL;
        size_t n = 0;
        int code = ctl_list_services(a->bus, &v, &n);

        if (code != EXIT_OK)
                return code;
        metrics_print(v, n);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "tendctl: metrics: writing: %m\n");
                code = EXIT_FAILED;
        }
        for (size_t i = 0; i < n; i++)
                wire_service_done(&v[i]);
        free(v);
        return code;
}
