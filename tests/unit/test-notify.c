/* test-notify: parsing sd_notify datagrams. */
#include <stdio.h>

#include "notify.h"
#include "tap.h"

static int parse(const char *text, struct service_notify_msg *msg)
{
        static char buf[4200];
        size_t n = strlen(text);

        memcpy(buf, text, n + 1);
        return notify_parse(buf, n, msg);
}

int main(void)
{
        struct service_notify_msg m;
        char *path = NULL;

        ok(parse("READY=1", &m) == 0 && m.ready && !m.status, "READY=1");
        ok(parse("READY=1\nSTATUS=serving 10 clients\n", &m) == 0 && m.ready && m.status &&
                   strcmp(m.status, "serving 10 clients") == 0,
           "READY and STATUS, trailing newline");
        ok(parse("STATUS=", &m) == 0 && m.status && !*m.status, "empty STATUS clears it");
        ok(parse("WATCHDOG=1", &m) == 0 && m.watchdog && !m.watchdog_trigger, "WATCHDOG=1");
        ok(parse("WATCHDOG=trigger", &m) == 0 && m.watchdog_trigger, "WATCHDOG=trigger");
        ok(parse("WATCHDOG_USEC=2000000", &m) == 0 && m.has_watchdog_usec &&
                   m.watchdog_usec == 2000000,
           "WATCHDOG_USEC=");
        ok(parse("EXTEND_TIMEOUT_USEC=5000000", &m) == 0 && m.has_extend &&
                   m.extend_usec == 5000000,
           "EXTEND_TIMEOUT_USEC=");
        ok(parse("RELOADING=1\nMONOTONIC_USEC=123", &m) == 0 && m.reloading, "RELOADING=1");
        ok(parse("STOPPING=1", &m) == 0 && m.stopping, "STOPPING=1");
        ok(parse("ERRNO=2", &m) == 0 && m.has_errno && m.errno_value == 2, "ERRNO=");
        ok(parse("MAINPID=4242", &m) == 0 && m.mainpid == 4242 && m.mainpid_fd == -1,
           "MAINPID= parsed, not yet opened");
        ok(parse("MAINPID=0", &m) == -EINVAL, "MAINPID=0 ignored");
        ok(parse("MAINPID=-5\nERRNO=x\nWATCHDOG_USEC=soon", &m) == -EINVAL,
           "malformed values are ignored");
        ok(parse("READY=0", &m) == -EINVAL && !m.ready, "READY=0 is not readiness");
        ok(parse("FOO=bar\nX", &m) == -EINVAL, "unknown keys only: nothing to do");
        ok(parse("BARRIER=1", &m) == 0, "BARRIER=1 is understood");
        ok(parse("READYX=1\nREADY", &m) == -EINVAL, "keys match exactly");
        ok(notify_default_path("/run/tend/tend.sock", &path) == 0 &&
                   strcmp(path, "/run/tend/notify.sock") == 0,
           "notify socket next to the control socket");
        free(path);
        return tap_done();
}
