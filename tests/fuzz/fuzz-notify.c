/* fuzz-notify: any datagram a service (or anyone who can reach the socket)
 * may send goes through notify_parse. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct service_notify_msg msg;
        char *buf = malloc(size + 1); /* as notify.c: room for a terminator */

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        if (notify_parse(buf, size, &msg) == 0) {
                /* What it points at stays inside the datagram. */
                fuzz_check(!msg.status || (msg.status >= buf && msg.status <= buf + size));
                fuzz_check(!msg.has_errno || (msg.errno_value >= 0 && msg.errno_value < 4096));
                fuzz_check(msg.mainpid >= 0 && msg.mainpid_fd == -1);
        }
        free(buf);
        return 0;
}
