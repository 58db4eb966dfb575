/* fuzz-main: replay inputs through LLVMFuzzerTestOneInput without libFuzzer,
 * one TAP line per file: the corpus (seeds and every crash found, kept) runs
 * on each test build under the sanitizers. Arguments: files or directories. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int read_file(const char *path, uint8_t **ret, size_t *ret_size)
{
        FILE *f = fopen(path, "re");
        uint8_t *buf = NULL;
        size_t size = 0, cap = 0;

        if (!f)
                return -errno;
        for (;;) {
                size_t n;

                if (size == cap) {
                        uint8_t *b = realloc(buf, cap = cap ? 2 * cap : 4096);
                        if (!b) {
                                free(buf);
                                fclose(f);
                                return -ENOMEM;
                        }
                        buf = b;
                }
                n = fread(buf + size, 1, cap - size, f);
                size += n;
                if (n == 0)
                        break;
        }
        fclose(f);
        *ret = buf;
        *ret_size = size;
        return 0;
}

static int names_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
        char **files = NULL;
        size_t n = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                DIR *d;
                struct dirent *de;

                if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
                        files = realloc(files, (n + 1) * sizeof *files);
                        if (!files || !(files[n++] = strdup(argv[i])))
                                return 1;
                        continue;
                }
                d = opendir(argv[i]);
                if (!d)
                        return 1;
                while ((de = readdir(d))) {
                        char *p;

                        if (de->d_name[0] == '.')
                                continue;
                        if (asprintf(&p, "%s/%s", argv[i], de->d_name) < 0)
                                return 1;
                        files = realloc(files, (n + 1) * sizeof *files);
                        if (!files)
                                return 1;
                        files[n++] = p;
                }
                closedir(d);
        }
        qsort(files, n, sizeof *files, names_cmp);
        printf("1..%zu\n", n);
        for (size_t i = 0; i < n; i++) {
                uint8_t *data = NULL;
                size_t size = 0;
                int r = read_file(files[i], &data, &size);

                if (r < 0) {
                        printf("not ok %zu - %s: %s\n", i + 1, files[i], strerror(-r));
                        continue;
                }
                (void)LLVMFuzzerTestOneInput(data, size);
                printf("ok %zu - %s (%zu bytes)\n", i + 1, files[i], size);
                fflush(stdout);
                free(data);
                free(files[i]);
        }
        free(files);
        return 0;
}
