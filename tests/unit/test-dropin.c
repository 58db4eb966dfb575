/* test-dropin.c: dropin_set() in a fresh temporary directory: made,
 * replaced, removed and put back; what it refuses (a bad name, a link or a
 * file in place of NAME.ini.d, a link or FIFO in place of the file) leaves
 * everything as it was. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dropin.h"
#include "tap.h"
#include "util.h"

static char tmp[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)remove(p);
        return 0;
}

static char *tpath(const char *rel)
{
        static char p[512];

        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        return p;
}

/* The content of tmp/rel, or NULL. */
static char *slurp(const char *rel)
{
        static char buf[4096];
        FILE *f = fopen(tpath(rel), "re");
        size_t n;

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

static size_t count_entries(const char *rel)
{
        struct dirent *de;
        size_t n = 0;
        DIR *d = opendir(tpath(rel));

        if (!d)
                return 0;
        while ((de = readdir(d)))
                n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        closedir(d);
        return n;
}

int main(void)
{
        char why[512] = "", *old = NULL, *c;
        struct stat st;
        int r;

        strcpy(tmp, "/tmp/test-dropin-XXXXXX");
        if (!mkdtemp(tmp))
                return 99;

        r = dropin_set(tmp, "web", DROPIN_ENABLE_FILE, "[service]\nenabled = no\n", &old, why,
                       sizeof why);
        c = slurp("web.ini.d/50-enable.ini");
        ok(r == 0 && !old && c && strcmp(c, "[service]\nenabled = no\n") == 0,
           "made NAME.ini.d and the file (%d %s)", r, why);
        ok(stat(tpath("web.ini.d/50-enable.ini"), &st) == 0 && (st.st_mode & 07777) == 0644 &&
                   stat(tpath("web.ini.d"), &st) == 0 && S_ISDIR(st.st_mode),
           "the file is 0644 in a directory");

        r = dropin_set(tmp, "web", DROPIN_ENABLE_FILE, "[service]\nenabled = yes\n", &old, why,
                       sizeof why);
        c = slurp("web.ini.d/50-enable.ini");
        ok(r == 0 && old && strcmp(old, "[service]\nenabled = no\n") == 0 && c &&
                   strcmp(c, "[service]\nenabled = yes\n") == 0,
           "replaced; the old content returned");
        ok(count_entries("web.ini.d") == 1, "no temporary file left behind");
        free(old);
        old = NULL;

        r = dropin_set(tmp, "web", DROPIN_ENABLE_FILE, NULL, &old, why, sizeof why);
        ok(r == 0 && old && !slurp("web.ini.d/50-enable.ini"), "removed");
        free(old);
        old = NULL;
        r = dropin_set(tmp, "web", DROPIN_ENABLE_FILE, NULL, &old, why, sizeof why);
        ok(r == 0 && !old, "removing what is not there is no error");
        r = dropin_set(tmp, "never", DROPIN_ENABLE_FILE, NULL, &old, why, sizeof why);
        ok(r == 0 && !old && access(tpath("never.ini.d"), F_OK) < 0, "removing makes no directory");

        const char *bad[] = { "../etc", "a/b", "..", ".hidden", "", "x y" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                r = dropin_set(tmp, bad[i], DROPIN_ENABLE_FILE, "x", NULL, why, sizeof why);
                ok(r == -EINVAL && strstr(why, "invalid name"), "name '%s' refused", bad[i]);
        }
        ok(count_entries("") == 1, "nothing made for bad names (only web.ini.d is there)");

        /* A link in place of NAME.ini.d is never followed. */
        if (mkdir(tpath("elsewhere"), 0755) < 0 || symlink("elsewhere", tpath("lnk.ini.d")) < 0)
                return 99;
        r = dropin_set(tmp, "lnk", DROPIN_ENABLE_FILE, "x", NULL, why, sizeof why);
        ok(r == -ELOOP && strstr(why, "symbolic link") && count_entries("elsewhere") == 0,
           "a linked NAME.ini.d is refused, nothing written through it (%d: %s)", r, why);
        if (symlink("/nonexistent", tpath("dangling.ini.d")) < 0)
                return 99;
        r = dropin_set(tmp, "dangling", DROPIN_ENABLE_FILE, "x", NULL, why, sizeof why);
        ok(r == -ELOOP, "a dangling link too (%d: %s)", r, why);
        if (close(open(tpath("file.ini.d"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) < 0)
                return 99;
        r = dropin_set(tmp, "file", DROPIN_ENABLE_FILE, "x", NULL, why, sizeof why);
        ok(r == -ENOTDIR && strstr(why, "not a directory"), "a file as NAME.ini.d (%s)", why);

        /* A link or a FIFO in place of the file is not replaced. */
        if (mkdir(tpath("l.ini.d"), 0755) < 0 ||
            symlink("/etc/passwd", tpath("l.ini.d/50-enable.ini")) < 0 ||
            mkdir(tpath("f.ini.d"), 0755) < 0 || mkfifo(tpath("f.ini.d/50-enable.ini"), 0644) < 0)
                return 99;
        r = dropin_set(tmp, "l", DROPIN_ENABLE_FILE, "x", NULL, why, sizeof why);
        ok(r == -EBADFD || r == -ELOOP, "a link as the file is refused (%d: %s)", r, why);
        ok(lstat(tpath("l.ini.d/50-enable.ini"), &st) == 0 && S_ISLNK(st.st_mode),
           "and left as it was");
        r = dropin_set(tmp, "f", DROPIN_ENABLE_FILE, "x", NULL, why, sizeof why);
        ok(r == -EBADFD && strstr(why, "not a regular file"),
           "a FIFO as the file is refused, "
           "without blocking (%s)",
           why);

        r = dropin_set("/nonexistent-dir", "web", DROPIN_ENABLE_FILE, "x", NULL, why, sizeof why);
        ok(r == -ENOENT && strstr(why, "/nonexistent-dir"), "a missing directory (%s)", why);

        (void)nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        return tap_done();
}
