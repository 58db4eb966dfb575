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

#include "readfile.h"
#include "tendctl.h"

/* The largest file cat reads: a service file is at most 1 MiB
 * (CONFIG_FILE_MAX); what is larger is not one tendd could load. */
#define CAT_FILE_MAX (1 << 20)

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

/* One file of name's: "# PATH" and its text, or with --json its object,
 * {"path": PATH, "text": TEXT}, "text": null and "error": why for a file it
 * cannot read (said on stderr too); an exit code. */
static int cat_one(const struct ctl_args *a, const char *name, const char *path, bool first)
{
        _cleanup_free_ char *text = NULL, *shown = ctl_escape(path);
        size_t len = 0;
        int r = read_regular_file_at(AT_FDCWD, path, 0, CAT_FILE_MAX, &text, &len);

        if (a->json) {
                printf("%s{\"path\": ", first ? "" : ", ");
                ctl_json_string(path);
                printf(", \"text\": ");
                if (r < 0) {
                        printf("null, \"error\": ");
                        ctl_json_string(cat_error(r));
                } else
                        ctl_json_string_n(text, len);
                putchar('}');
        } else {
                printf("%s# %s\n", first ? "" : "\n", shown ? shown : path);
                if (r >= 0 && (fwrite(text, 1, len, stdout) != len ||
                               (len > 0 && text[len - 1] != '\n' && putchar('\n') == EOF)))
                        r = -EIO;
        }
        if (r >= 0)
                return EXIT_OK;
        fflush(stdout);
        fprintf(stderr, "tendctl: %s: cannot read %s: %s\n", name, shown ? shown : path,
                cat_error(r));
        return EXIT_FAILED;
}

/* cat [--json]; see tendctl.h. --json: [{"name": NAME, "files": [FILE...]}...]. */
int ctl_cat(struct ctl_args *a)
{
        int code = EXIT_OK;
        bool first = true;

        if (a->json)
                putchar('[');
        for (int i = 0; i < a->n_operands; i++) {
                const char *name = a->operands[i];
                _cleanup_strv_free_ char **files = NULL;
                int c = cat_files(a->bus, name, &files);

                if (c == EXIT_OK && a->json) {
                        printf("%s\n {\"name\": ", first ? "" : ",");
                        ctl_json_string(name);
                        printf(", \"files\": [");
                }
                for (char **p = files; c == EXIT_OK && p && *p; p++) {
                        int r = cat_one(a, name, *p, a->json ? p == files : first);

                        code = r > code ? r : code;
                        first = false;
                }
                if (c == EXIT_OK && a->json)
                        printf("]}");
                first = first && c != EXIT_OK;
                code = c > code ? c : code;
        }
        if (a->json)
                printf("%s]\n", first ? "" : "\n");
        if (fflush(stdout) != 0) {
                fprintf(stderr, "tendctl: cannot write: %s\n", strerror(errno));
                return EXIT_FAILED;
        }
        return code;
}
