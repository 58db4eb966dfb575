/* fuzz-parse: the value parsers every config key goes through. The first
 * byte picks the parser, the rest is the value (NUL-terminated here, as the
 * config reader hands it over). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s, buf[64];
        uint64_t u;
        usec_t d, d2;
        int sig;
        bool b;
        mode_t m;
        char **argv = NULL;

        if (size < 1)
                return 0;
        s = strndup((const char *)data + 1, size - 1);
        if (!s)
                return 0;
        switch (data[0] % 8) {
        case 0:
                if (parse_duration(s, &d) == 0) {
                        /* What status shows parses back to the same duration. */
                        format_duration(buf, sizeof buf, d);
                        fuzz_check(parse_duration(buf, &d2) == 0);
                        fuzz_check(d2 == d);
                }
                break;
        case 1:
                (void)parse_size(s, &u);
                break;
        case 2:
                if (parse_signal(s, &sig) == 0)
                        fuzz_check(sig > 0 && sig < 65);
                break;
        case 3:
                (void)parse_bool(s, &b);
                break;
        case 4:
                if (parse_umask(s, &m) == 0)
                        fuzz_check(m <= 0777);
                break;
        case 5:
                (void)parse_u64(s, true, &u);
                break;
        case 6:
                if (shell_split(s, &argv) == 0) {
                        fuzz_check(argv);
                        for (char **a = argv; *a; a++)
                                fuzz_check(strlen(*a) <= strlen(s));
                        strv_free(argv);
                }
                break;
        case 7:
                if (service_name_is_valid(s))
                        fuzz_check(strlen(s) > 0 && strlen(s) <= SERVICE_NAME_MAX && s[0] != '.' &&
                               !strchr(s, '/'));
                break;
        }
        free(s);
        return 0;
}
