/* wire.h: what tendd (control.c) and tendctl agree on, defined once: the
 * control API's object, interface, method, signal and error names, and the
 * service record. The record is one table, WIRE_SERVICE_FIELDS; from it come
 * struct wire_service (both sides hold a record in it), the a{sv} dicts of
 * ListServices and GetService (member names), the fixed struct of
 * ListServicesCompact (WIRE_SERVICE_SIGNATURE, fields in table order), the
 * readers and appenders below, tendd's filling of a record (control.c) and
 * the objects of `tendctl status --json`. A field added to the table is on
 * the wire, read, and printed. */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

#define WIRE_PATH "/org/tend/Manager"
#define WIRE_INTERFACE "org.tend.Manager1"

#define WIRE_METHOD_LIST "ListServices"
#define WIRE_METHOD_LIST_COMPACT "ListServicesCompact"
#define WIRE_METHOD_GET "GetService"
#define WIRE_METHOD_START "StartService"
#define WIRE_METHOD_STOP "StopService"
#define WIRE_METHOD_RESTART "RestartService"
#define WIRE_METHOD_KILL "KillService"
/* The same for many services in one call: (as names, t flags) -> a(ss),
 * each name with the state it reached; answered once, when every one of
 * them is decided. */
#define WIRE_METHOD_START_MANY "StartServices"
#define WIRE_METHOD_STOP_MANY "StopServices"
#define WIRE_METHOD_RESTART_MANY "RestartServices"
#define WIRE_SIGNATURE_MANY_REPLY "a(ss)"
#define WIRE_METHOD_RELOAD "Reload"
#define WIRE_METHOD_REEXEC "Reexec"
/* (s name): one service's own reload, its exec_reload or reload_signal
 * (Reload() is tendd's configuration); answered once it began. */
#define WIRE_METHOD_RELOAD_SERVICE "ReloadService"
/* (s name) -> as: the files of its config, the main one, then drop-ins. */
#define WIRE_METHOD_GET_FILES "GetServiceFiles"
/* (s name, b enabled) -> s: the drop-in written (then a reload). */
#define WIRE_METHOD_SET_ENABLED "SetServiceEnabled"
/* ServiceStateChanged goes only to connections that called Subscribe(). */
#define WIRE_METHOD_SUBSCRIBE "Subscribe"
#define WIRE_METHOD_UNSUBSCRIBE "Unsubscribe"
#define WIRE_SIGNAL_STATE_CHANGED "ServiceStateChanged"

#define WIRE_ERROR_FAILED "org.tend.Error.Failed"
#define WIRE_ERROR_NO_SUCH_SERVICE "org.tend.Error.NoSuchService"
#define WIRE_ERROR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define WIRE_ERROR_INVALID_CONFIG "org.tend.Error.InvalidConfig"

/* The largest message tendd takes from a client (header and body). */
#define WIRE_MESSAGE_MAX (16 * 1024)

/* Flags of the *Services methods. */
#define WIRE_MANY_ALL 0x1      /* every service (names must be empty) */
#define WIRE_MANY_NO_BLOCK 0x2 /* answer once the requests are made, not when done */
#define WIRE_MANY_KNOWN (WIRE_MANY_ALL | WIRE_MANY_NO_BLOCK)

/* Strings tendd puts on the wire are cut to this many bytes. */
#define WIRE_STRING_MAX (4096 * 4 + 8)

/* X(member, Bus, KIND, "json", FORM, server value), one line per field:
 *   member        its name in struct wire_service
 *   Bus           its member name in the a{sv} dicts
 *   KIND          STR s · U32 u · U64 t · BOOL b · I32 i: its D-Bus type
 *   "json"/FORM   its key in `tendctl status --json` and how the value shows
 *                 (enum wire_json: WIRE_JSON_<FORM>); NULL/NONE: not shown
 *   server value  what tendd sends: an expression of s (const struct
 *                 service *) and rec (struct control_record *), in control.c
 * Name: the service's name. State: its state. Pid: its main process, 0 none.
 * Restarts: automatic restarts. Since: realtime usec of the last change of
 * state. HasExit, ExitCode (-1: killed), ExitSignal (0: exited): the last exit.
 * Reason: why it is in its state. Type: simple, notify, oneshot. WantUp: the
 * operator's intent. Status: its last STATUS=. NotifyErrno: its last ERRNO=,
 * 0 none. Output: the output mode in effect (journal, file, console, null).
 * LogPath: the file output goes to in file mode (rotated: LogPath.1 ...).
 * Started: realtime usec of its last spawn, 0 never. CPUUsageUSec,
 * MemoryCurrent: what its cgroup used (cpu.stat usage_usec, memory.current),
 * UINT64_MAX when not known (no cgroup, or no memory controller).
 * After, Requires, Wants: its after=, requires= and wants= names,
 * space-separated, as loaded (a reload's new ones at once). ExecStart: its exec= line as written.
 * JournalMatch: with journal output, the journalctl matches that select its
 * lines and no one else's ("SYSLOG_IDENTIFIER=NAME _SYSTEMD_UNIT=tend.service",
 * or _SYSTEMD_USER_UNIT=; the identifier alone when tendd runs in no service
 * unit), else "". Health: its health check, "" none, else "inactive" (not
 * live), "starting" (no pass since its spawn), "healthy", "unhealthy N/M"
 * (N failures in a row of the M that restart it). HealthResult: the last
 * probe's result, "ok" or why it failed, "" none; HealthTime: its realtime
 * usec, 0 none. */
/* clang-format off */
#define WIRE_SERVICE_FIELDS(X)                                                                     \
        X(name,         "Name",        STR,  "name",         STRING,      s->name)                 \
        X(state,        "State",       STR,  "state",        STRING,      control_state(s))        \
        X(pid,          "Pid",         U32,  "pid",          NUMBER_NULL, control_pid(s))          \
        X(restarts,     "Restarts",    U32,  "restarts",     NUMBER,      s->restarts)             \
        X(since,        "Since",       U64,  "since",        SECONDS,     s->since_real)           \
        X(has_exit,     "HasExit",     BOOL, NULL,           NONE,        s->has_exit)             \
        X(exit_code,    "ExitCode",    I32,  "exit_code",    EXIT_CODE,   s->exit_code)            \
        X(exit_signal,  "ExitSignal",  I32,  "exit_signal",  EXIT_SIGNAL, s->exit_signal)          \
        X(reason,       "Reason",      STR,  "reason",       STRING,      s->reason)               \
        X(type,         "Type",        STR,  "type",         STRING,      control_type(s))         \
        X(want_up,      "WantUp",      BOOL, "want_up",      BOOL,        s->want_up)              \
        X(status,       "Status",      STR,  "status",       STRING_NULL, s->status_text)          \
        X(notify_errno, "NotifyErrno", I32,  "notify_errno", NUMBER_NULL, s->notify_errno)         \
        X(output,       "Output",      STR,  NULL,           NONE,        control_output(s))       \
        X(log_path,     "LogPath",     STR,  NULL,           NONE,        control_logfile(s, rec)) \
        X(started,      "Started",     U64,  "started",      SECONDS,     control_started(s))      \
        X(cpu_usec,     "CPUUsageUSec", U64, "cpu_usec",     KNOWN,       control_usage(s, rec)->cpu_usec) \
        X(memory_bytes, "MemoryCurrent", U64, "memory_bytes", KNOWN,      control_usage(s, rec)->memory_bytes) \
        X(after,        "After",       STR,  NULL,           NONE,        control_after(s, rec))   \
        X(requires,     "Requires",    STR,  NULL,           NONE,        control_requires(s, rec)) \
        X(exec_start,   "ExecStart",   STR,  NULL,           NONE,        control_exec(s))         \
        X(journal_match, "JournalMatch", STR, NULL,          NONE,        control_journal(s, rec)) \
        X(health,       "Health",      STR,  "health",       STRING_NULL, control_health(s, rec))  \
        X(health_result, "HealthResult", STR, "health_result", STRING_NULL, control_health_result(s)) \
        X(health_time,  "HealthTime",  U64,  "health_time",  SECONDS,     control_health_time(s))  \
        X(wants,        "Wants",       STR,  NULL,           NONE,        control_wants(s, rec))   \
        /* new fields go last, above this line: the compact struct grows at its end */
/* clang-format on */

#define WIRE_CTYPE_STR const char *
#define WIRE_CTYPE_U32 uint32_t
#define WIRE_CTYPE_U64 uint64_t
#define WIRE_CTYPE_BOOL int /* as sd-bus reads and writes 'b' */
#define WIRE_CTYPE_I32 int32_t
#define WIRE_SIG_STR "s"
#define WIRE_SIG_U32 "u"
#define WIRE_SIG_U64 "t"
#define WIRE_SIG_BOOL "b"
#define WIRE_SIG_I32 "i"

#define WIRE_SIG_FIELD(member, bus, kind, ...) WIRE_SIG_##kind
/* ListServicesCompact's element: every field, in table order. */
#define WIRE_SERVICE_SIGNATURE "(" WIRE_SERVICE_FIELDS(WIRE_SIG_FIELD) ")"

/* One service as the API shows it. tendctl owns the strings it read (freed
 * by wire_service_done); tendd's point into the service or static text. */
struct wire_service {
#define WIRE_MEMBER(member, bus, kind, ...) WIRE_CTYPE_##kind member;
        WIRE_SERVICE_FIELDS(WIRE_MEMBER)
#undef WIRE_MEMBER
};

/* How `tendctl status --json` shows a field. */
enum wire_json {
        WIRE_JSON_NONE,        /* not shown */
        WIRE_JSON_STRING,      /* a string, "" for none */
        WIRE_JSON_STRING_NULL, /* a string, null when empty */
        WIRE_JSON_NUMBER,      /* an integer */
        WIRE_JSON_NUMBER_NULL, /* an integer, null when 0 */
        WIRE_JSON_SECONDS,     /* usec as whole unix seconds, null when 0 */
        WIRE_JSON_BOOL,        /* true or false */
        WIRE_JSON_EXIT_CODE,   /* an integer with HasExit and >= 0, else null */
        WIRE_JSON_EXIT_SIGNAL, /* an integer with HasExit and > 0, else null */
        WIRE_JSON_KNOWN,       /* an integer, null when UINT64_MAX (not known) */
};

struct wire_field {
        const char *bus; /* member name in the dicts */
        char type;       /* D-Bus type: s u t b i */
        size_t offset;   /* in struct wire_service */
        const char *json;
        enum wire_json json_form;
};

/* The table as data, in order; wire_service_n_fields entries. */
extern const struct wire_field wire_service_fields[];
extern const size_t wire_service_n_fields;

/* Field f of w: where its value is (a const char * for 's'). */
static inline const void *wire_field_ptr(const struct wire_service *w, const struct wire_field *f)
{
        return (const char *)w + f->offset;
}

/* Free the strings a reader copied into w and zero it. NULL-safe. */
void wire_service_done(struct wire_service *w);

/* Append w as an a{sv} dict, or as one WIRE_SERVICE_SIGNATURE struct. Every
 * string is made valid UTF-8 (as D-Bus requires; invalid bytes become '?')
 * and cut to WIRE_STRING_MAX bytes, in scratch (WIRE_STRING_MAX bytes). */
int wire_service_append(sd_bus_message *m, const struct wire_service *w, char *scratch);
int wire_service_append_compact(sd_bus_message *m, const struct wire_service *w, char *scratch);

/* Read one a{sv} dict (members not in the table are skipped; Name is
 * required: -EBADMSG without it) or one compact struct into w, which must
 * start zeroed; on failure w holds what was read (wire_service_done it).
 * A compact struct may come from another version of tendd: an older one's
 * fields are the start of the table's, a newer one's start with them (more
 * are skipped); any other struct is -EBADMSG. A field the record lacks is not
 * known: NULL, 0, or UINT64_MAX for a WIRE_JSON_KNOWN one. */
int wire_service_read(sd_bus_message *m, struct wire_service *w);
int wire_service_read_compact(sd_bus_message *m, struct wire_service *w);

/* One UTF-8 sequence at p: its length and code point, or 0 when invalid
 * (overlong, surrogate, beyond U+10FFFF, truncated). */
size_t wire_utf8_decode(const unsigned char *p, uint32_t *ret);
/* s with each byte of an invalid UTF-8 sequence replaced by '?', cut to fit
 * size (at least 8) at a character boundary, in buf; returns buf. */
const char *wire_utf8(const char *s, char *buf, size_t size);
