/* cat.c: tendctl cat NAME...: like `systemctl cat`, the files a service's
 * configuration was built from (GetServiceFiles: its main file, then its
 * drop-ins in the order applied), each as "# PATH" and its text, read by
 * tendctl itself as they are on disk now. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tendctl.h"

/* Copy the regular file path to stdout, ending in a newline; 0 or -errno.
 * O_NONBLOCK: a FIFO put in its place is refused, never waited on. */
static int cat_file(const char *path)
{
        _cleanup_close_ int fd = -1;
        char buf[65536];
        struct stat st;
        char last = '\n';

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
                        return -EIO;
                last = buf[n - 1];
        }
        if (last != '\n')
                putchar('\n');
        return 0;
}

/* The largest file cat --json holds in memory: a service file is at most
 * 1 MiB (CONFIG_FILE_MAX); what is larger is not one tendd could load. */
#define CAT_JSON_FILE_MAX (1 << 20)

/* The regular file path, whole, into *ret (NUL-terminated); 0 or -errno
 * (-EFBIG: larger than CAT_JSON_FILE_MAX). */
static int cat_read(const char *path, char **ret)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        buf = malloc(CAT_JSON_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + len, CAT_JSON_FILE_MAX + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > CAT_JSON_FILE_MAX)
                        return -EFBIG;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

static const char *cat_error(int r)
{
        return r == -EBADFD ? "not a regular file"
               : r == -EFBIG ? "larger than 1 MiB"
                             : strerror(-r);
}

/* GetServiceFiles(name) into *ret; an exit code, the failure printed. */
static int cat_files(sd_bus *bus, const char *name, char ***ret)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r, code = EXIT_OK;

        r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_GET_FILES, &error,
                               &reply, "s", name);
        if (r >= 0)
                r = sd_bus_message_read_strv(reply, ret);
        if (r < 0)
                code = ctl_report(name, &error, r);
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        return code;
}

/* cat --json: [{"name": NAME, "files": [{"path": PATH, "text": TEXT}...]}...],
 * a file that cannot be read with "text": null and "error": why (and said on
 * stderr). */
static int cat_json(struct ctl_args *a)
{
        int code = EXIT_OK;
        bool first = true;

        putchar('[');
        for (int i = 0; i < a->n_operands; i++) {
                const char *name = a->operands[i];
                _cleanup_strv_free_ char **files = NULL;
                int c = cat_files(a->bus, name, &files);

                if (c != EXIT_OK) {
                        code = c > code ? c : code;
                        continue;
                }
                printf("%s\n {\"name\": ", first ? "" : ",");
                first = false;
                ctl_json_string(name);
                printf(", \"files\": [");
                for (char **p = files; p && *p; p++) {
                        _cleanup_free_ char *text = NULL;
                        int r = cat_read(*p, &text);

                        printf("%s{\"path\": ", p == files ? "" : ", ");
                        ctl_json_string(*p);
                        printf(", \"text\": ");
                        if (r < 0) {
                                _cleanup_free_ char *shown = ctl_escape(*p);

                                printf("null, \"error\": ");
                                ctl_json_string(cat_error(r));
                                fprintf(stderr, "tendctl: %s: cannot read %s: %s\n", name,
                                        shown ? shown : *p, cat_error(r));
                                code = code > EXIT_FAILED ? code : EXIT_FAILED;
                        } else
                                ctl_json_string(text);
                        putchar('}');
                }
                printf("]}");
        }
        printf("%s]\n", first ? "" : "\n");
        return code;
}

/* cat; see tendctl.h. */
int ctl_cat(struct ctl_args *a)
{
        int code = EXIT_OK;
        bool first = true;

        if (a->json) {
                code = cat_json(a);
                goto flush;
        }

        for (int i = 0; i < a->n_operands; i++) {
                const char *name = a->operands[i];
                _cleanup_strv_free_ char **files = NULL;
                int c = cat_files(a->bus, name, &files);

                if (c != EXIT_OK) {
                        code = c > code ? c : code;
                        continue;
                }
                for (char **p = files; p && *p; p++) {
                        _cleanup_free_ char *shown = ctl_escape(*p);
                        int r;

                        if (!first)
                                putchar('\n');
                        first = false;
                        printf("# %s\n", shown ? shown : *p);
                        r = cat_file(*p);
                        if (r < 0) {
                                fflush(stdout);
                                fprintf(stderr, "tendctl: %s: cannot read %s: %s\n", name,
                                        shown ? shown : *p, cat_error(r));
                                code = code > EXIT_FAILED ? code : EXIT_FAILED;
                        }
                }
        }
flush:
        if (fflush(stdout) != 0) {
                fprintf(stderr, "tendctl: cannot write: %s\n", strerror(errno));
                return EXIT_FAILED;
        }
        return code;
}
