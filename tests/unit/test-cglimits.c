/* test-cglimits.c: cglimits against a fake cgroup (a temporary directory of
 * plain files: the tree root with cgroup.controllers and
 * cgroup.subtree_control, the service's cgroup "svc" below it): exactly
 * what each key and value writes, the defaults written back on reload, the
 * reasons when a controller file is missing, the usage readers on canned
 * files. Then, where the kernel allows, the same on a directory of our own
 * under the real cgroup2 mount. Every directory created is removed. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cglimits.h"
#include "tap.h"

static char tmp[64];
static int tree_dfd = -1, unit_dfd = -1;
static char real_tree[600], real_unit[640];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)remove(p);
        return 0;
}

static void cleanup(void)
{
        tree_dfd = safe_close(tree_dfd);
        unit_dfd = safe_close(unit_dfd);
        if (tmp[0])
                (void)nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        tmp[0] = 0;
        /* Real cgroups: rmdir only (their files cannot be removed). */
        if (real_unit[0])
                (void)rmdir(real_unit);
        if (real_tree[0])
                (void)rmdir(real_tree);
        real_unit[0] = real_tree[0] = 0;
}

static void die(const char *what)
{
        perror(what);
        cleanup();
        exit(EXIT_FAILURE);
}

/* Write rel (under tmp) with content, replacing what it held. */
static void put(const char *rel, const char *content)
{
        char p[256];
        FILE *f;

        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        f = fopen(p, "we");
        if (!f || fputs(content, f) < 0 || fclose(f) != 0)
                die(p);
}

/* What rel holds ("(missing)" if absent); empties it for the next check. */
static const char *take(const char *rel)
{
        static char buf[256];
        char p[256];
        ssize_t n;
        int fd;

        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        fd = open(p, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return "(missing)";
        n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        if (ftruncate(fd, 0) < 0)
                die("ftruncate");
        close(fd);
        return buf;
}

static void rm(const char *rel)
{
        char p[256];

        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        if (unlink(p) < 0)
                die(p);
}

static const char *const limit_files[] = { "memory.max", "memory.high", "pids.max",
                                           "cpu.weight", "cpu.max",     "io.weight" };

/* A fresh fake tree: every limit file present and empty, every controller
 * available and enabled. */
static void fresh(void)
{
        char p[128];

        cleanup();
        strcpy(tmp, "/tmp/test-cglimits-XXXXXX");
        if (!mkdtemp(tmp))
                die("mkdtemp");
        snprintf(p, sizeof p, "%s/svc", tmp);
        if (mkdir(p, 0755) < 0)
                die(p);
        put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
        put("cgroup.subtree_control", "cpu io memory pids\n");
        for (size_t i = 0; i < ELEMENTSOF(limit_files); i++) {
                snprintf(p, sizeof p, "svc/%s", limit_files[i]);
                put(p, "");
        }
        tree_dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        snprintf(p, sizeof p, "%s/svc", tmp);
        unit_dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tree_dfd < 0 || unit_dfd < 0)
                die("open");
}

static struct service_config all_set(void)
{
        return (struct service_config){ .cgroup = {
                                                .memory_max = 1ULL << 30,
                                                .memory_high = 512ULL << 20,
                                                .tasks_max = 100,
                                                .cpu_weight = 200,
                                                .cpu_max = 50000,
                                                .io_weight = 300,
                                        } };
}

/* Each of limit_files must hold want[i] (and is emptied). */
static void expect_files(const char *what, const char *const want[static 6])
{
        char p[64];

        for (size_t i = 0; i < ELEMENTSOF(limit_files); i++) {
                const char *got;

                snprintf(p, sizeof p, "svc/%s", limit_files[i]);
                got = take(p);
                ok(strcmp(got, want[i]) == 0, "%s: %s holds '%s' (got '%s')", what, limit_files[i],
                   want[i], got);
        }
}

static void test_needed(void)
{
        struct service_config sc = { 0 };

        ok(cglimits_needed(&sc) == 0, "nothing set: no controller needed");
        sc = all_set();
        ok(cglimits_needed(&sc) == CGLIMITS_ALL, "every key: all four controllers");
        sc = (struct service_config){ .cgroup.memory_high = CONFIG_CGROUP_MAX };
        ok(cglimits_needed(&sc) == CGLIMITS_MEMORY, "memory_high=max needs memory");
        sc = (struct service_config){ .cgroup = { .tasks_max = 1, .cpu_max = 1000 } };
        ok(cglimits_needed(&sc) == (CGLIMITS_PIDS | CGLIMITS_CPU), "tasks_max, cpu_max: pids, cpu");
        sc = (struct service_config){ .cgroup.io_weight = 1 };
        ok(cglimits_needed(&sc) == CGLIMITS_IO, "io_weight: io");
        ok(strcmp(cglimits_controller_to_string(CGLIMITS_PIDS), "pids") == 0 &&
                   strcmp(cglimits_controller_to_string(CGLIMITS_IO), "io") == 0 &&
                   cglimits_controller_to_string(CGLIMITS_MEMORY | CGLIMITS_CPU) == NULL &&
                   cglimits_controller_to_string(0) == NULL,
           "controller names");
}

static void test_apply_values(void)
{
        struct service_config sc = all_set(), none = { 0 };
        char why[CGLIMITS_WHY_MAX] = "stale";

        fresh();
        ok(cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why) == 0 && why[0] == 0,
           "every key applied");
        expect_files("values", (const char *const[]){ "1073741824", "536870912", "100", "200",
                                                      "50000 100000", "default 300" });

        sc.cgroup = (struct config_cgroup){ CONFIG_CGROUP_MAX, CONFIG_CGROUP_MAX,
                                            CONFIG_CGROUP_MAX, 10000,
                                            CONFIG_CGROUP_MAX, 1 };
        ok(cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why) == 0, "max values applied");
        expect_files("max", (const char *const[]){ "max", "max", "max", "10000", "max 100000",
                                                   "default 1" });

        sc.cgroup = (struct config_cgroup){ .cpu_max = 200000 };
        ok(cglimits_apply(unit_dfd, NULL, &sc, NULL, 0) == 0, "one key applied");
        expect_files("only cpu_max", (const char *const[]){ "", "", "", "", "200000 100000", "" });

        ok(cglimits_apply(unit_dfd, NULL, &none, why, sizeof why) == 0,
           "nothing set, no old config");
        expect_files("nothing", (const char *const[]){ "", "", "", "", "", "" });
}

static void test_apply_reset(void)
{
        struct service_config old = all_set(), sc = { 0 };
        char why[CGLIMITS_WHY_MAX];

        fresh();
        ok(cglimits_apply(unit_dfd, &old, &sc, why, sizeof why) == 0, "every key unset on reload");
        expect_files("defaults", (const char *const[]){ "max", "max", "max", "100", "max 100000",
                                                        "default 100" });

        old = (struct service_config){ .cgroup = { .memory_max = 4096, .io_weight = 5 } };
        sc = (struct service_config){ .cgroup = { .memory_max = 8192, .cpu_weight = 7 } };
        ok(cglimits_apply(unit_dfd, &old, &sc, why, sizeof why) == 0, "changed, unset, new");
        expect_files("mixed reload",
                     (const char *const[]){ "8192", "", "", "7", "", "default 100" });

        ok(cglimits_apply(unit_dfd, &sc, &sc, why, sizeof why) == 0, "unchanged reload");
        expect_files("unchanged reload", (const char *const[]){ "8192", "", "", "7", "", "" });
}

static void test_apply_missing(void)
{
        struct service_config sc = all_set();
        char why[CGLIMITS_WHY_MAX];
        int r;

        fresh();
        rm("svc/memory.max");
        rm("svc/memory.high");
        put("cgroup.controllers", "cpu io pids hugetlb\n");
        r = cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why);
        ok(r == -ENOENT, "missing memory.max: -ENOENT (%d)", r);
        ok(strcmp(why, "memory_max: the memory controller is not available in tend's cgroup "
                       "(cgroup.controllers: cpu io pids hugetlb)") == 0,
           "the first missing key is named with its controller: %s", why);
        expect_files("the other keys still written",
                     (const char *const[]){ "(missing)", "(missing)", "100", "200", "50000 100000",
                                            "default 300" });

        put("cgroup.controllers", "");
        sc = (struct service_config){ .cgroup.memory_high = 1 << 20 };
        r = cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why);
        ok(r == -ENOENT && strcmp(why, "memory_high: the memory controller is not available in "
                                       "tend's cgroup (cgroup.controllers is empty)") == 0,
           "empty cgroup.controllers: %s", why);

        put("cgroup.controllers", "memory cpu\n");
        put("cgroup.subtree_control", "cpu\n");
        r = cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why);
        ok(r == -ENOENT && strcmp(why, "memory_high: the memory controller is not enabled for "
                                       "tend's services (cgroup.subtree_control: cpu)") == 0,
           "available but not enabled: %s", why);

        sc = (struct service_config){ .cgroup.io_weight = 50 };
        put("cgroup.controllers", "io\n");
        put("cgroup.subtree_control", "io\n");
        rm("svc/io.weight");
        r = cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why);
        ok(r == -ENOENT && strcmp(why, "io_weight: the io controller is enabled but this kernel "
                                       "has no io.weight") == 0,
           "enabled, file missing: %s", why);

        sc = (struct service_config){ .cgroup.memory_high = 1 << 20 };
        rm("cgroup.controllers");
        r = cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why);
        ok(r == -ENOENT && strcmp(why, "memory_high: the memory controller is not available in "
                                       "tend's cgroup") == 0,
           "parent unreadable: %s", why);
        ok(cglimits_apply(unit_dfd, NULL, &sc, NULL, 0) == -ENOENT, "why may be NULL");
}

static void test_apply_refused(void)
{
        struct service_config sc = { .cgroup.cpu_weight = 5 };
        char why[CGLIMITS_WHY_MAX], p[256], target[256];
        int r;

        fresh();
        rm("svc/cpu.weight");
        snprintf(target, sizeof target, "%s/elsewhere", tmp);
        snprintf(p, sizeof p, "%s/svc/cpu.weight", tmp);
        put("elsewhere", "");
        if (symlink(target, p) < 0)
                die("symlink");
        r = cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why);
        ok(r == -ELOOP && strcmp(why, "cpu_weight: cannot open cpu.weight: Too many levels of "
                                      "symbolic links") == 0,
           "a symlink is not followed: %s", why);
        ok(strcmp(take("elsewhere"), "") == 0, "nothing written through the symlink");

        rm("svc/cpu.weight");
        snprintf(p, sizeof p, "%s/svc/cpu.weight", tmp);
        if (mkdir(p, 0755) < 0)
                die(p);
        r = cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why);
        ok(r == -EISDIR && strcmp(why, "cpu_weight: cannot open cpu.weight: Is a directory") == 0,
           "an unopenable file: %s", why);
}

static void test_check(void)
{
        struct service_config sc = {
                .cgroup = { .memory_max = 1 << 20, .tasks_max = 5, .cpu_weight = 50 }
        };
        char why[CGLIMITS_WHY_MAX];

        ok(cglimits_check(&sc, CGLIMITS_CPU, why, sizeof why) == -EOPNOTSUPP &&
                   strcmp(why, "memory_max: the memory controller is not available in tend's "
                               "cgroup; tasks_max: the pids controller is not available in "
                               "tend's cgroup") == 0,
           "check names every key without its controller: %s", why);
        ok(cglimits_check(&sc, CGLIMITS_ALL, why, sizeof why) == 0 && why[0] == 0,
           "check with every controller");
        ok(cglimits_check(&sc, 0, NULL, 0) == -EOPNOTSUPP, "check: why may be NULL");
        ok(cglimits_check(&sc, CGLIMITS_CPU, why, 20) == -EOPNOTSUPP && strlen(why) == 19,
           "check: the reason is cut to the buffer");
}

static void test_available_enable(void)
{
        unsigned bits = 99;
        int r;

        fresh();
        ok(cglimits_available(tree_dfd, &bits) == 0 && bits == CGLIMITS_ALL,
           "every controller available");
        put("cgroup.controllers", "hugetlb\n");
        ok(cglimits_available(tree_dfd, &bits) == 0 && bits == 0, "only hugetlb: none of ours");
        put("cgroup.controllers", "  io\tpids  memoryx\n");
        ok(cglimits_available(tree_dfd, &bits) == 0 && bits == (CGLIMITS_IO | CGLIMITS_PIDS),
           "names split on blanks, whole names only");

        put("cgroup.controllers", "cpu memory hugetlb\n");
        put("cgroup.subtree_control", "");
        r = cglimits_enable(tree_dfd, CGLIMITS_ALL, &bits);
        ok(r == 0 && strcmp(take("cgroup.subtree_control"), "+memory+cpu") == 0,
           "enable writes each wanted and available controller once, by itself (r=%d)", r);

        put("cgroup.subtree_control", "memory\n");
        r = cglimits_enable(tree_dfd, CGLIMITS_MEMORY, &bits);
        ok(r == 0 && bits == CGLIMITS_MEMORY &&
                   strcmp(take("cgroup.subtree_control"), "memory\n") == 0,
           "enabled already: nothing written, reported enabled");

        put("cgroup.subtree_control", "cpu memory\n");
        r = cglimits_enable(tree_dfd, 0, &bits);
        ok(r == 0 && bits == (CGLIMITS_CPU | CGLIMITS_MEMORY), "nothing wanted: what is enabled");

        rm("cgroup.subtree_control");
        ok(cglimits_enable(tree_dfd, CGLIMITS_CPU, &bits) == -ENOENT && bits == 0,
           "no cgroup.subtree_control: -ENOENT");
        rm("cgroup.controllers");
        ok(cglimits_available(tree_dfd, &bits) == -ENOENT, "no cgroup.controllers: -ENOENT");
}

static void test_usage(void)
{
        struct cglimits_usage u;
        uint64_t counter = 0;

        fresh();
        put("svc/cpu.stat", "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n"
                            "nr_periods 0\n");
        put("svc/memory.current", "4096\n");
        put("svc/memory.events", "low 0\nhigh 2\nmax 5\noom 1\noom_kill 3\noom_group_kill 0\n");
        ok(cglimits_usage(unit_dfd, &u) == 0 && u.cpu_usec == 123456 && u.memory_bytes == 4096 &&
                   u.oom_kills == 3,
           "usage: cpu, memory, oom kills");

        put("svc/memory.events", "oom 7\noom_group_kill 1\n");
        put("svc/cpu.stat", "user_usec 1\nusage_usec x\n");
        ok(cglimits_usage(unit_dfd, &u) == 0 && u.cpu_usec == CGLIMITS_UNKNOWN &&
                   u.oom_kills == CGLIMITS_UNKNOWN,
           "a malformed or absent field is unknown (oom is not oom_kill)");

        rm("svc/memory.current");
        rm("svc/memory.events");
        put("svc/cpu.stat", "usage_usec 18446744073709551614\n");
        ok(cglimits_usage(unit_dfd, &u) == 0 && u.cpu_usec == UINT64_MAX - 1 &&
                   u.memory_bytes == CGLIMITS_UNKNOWN && u.oom_kills == CGLIMITS_UNKNOWN,
           "no memory controller: memory unknown");
        ok(cglimits_usage(-1, &u) == -EBADF, "bad fd: -EBADF");

        ok(!cglimits_oom_killed(unit_dfd, &counter) && counter == CGLIMITS_UNKNOWN,
           "oom: unknown is no kill, and says so in the counter");
        counter = 0; /* the controller came (a reload): counting starts again */
        put("svc/memory.events", "oom_kill 3\n");
        ok(cglimits_oom_killed(unit_dfd, &counter) && counter == 3, "oom: 0 -> 3 is a kill");
        ok(!cglimits_oom_killed(unit_dfd, &counter) && counter == 3, "oom: 3 -> 3 is none");
        put("svc/memory.events", "oom_kill 4\n");
        ok(cglimits_oom_killed(unit_dfd, &counter) && counter == 4, "oom: 3 -> 4 is a kill");
}

/* The cgroup2 mount at /sys/fs/cgroup/unified or /sys/fs/cgroup, per
 * mountinfo; false if there is none. */
static bool find_cgroup2(char *ret, size_t len)
{
        char line[1024], mnt[512], fstype[64];
        bool found = false;
        FILE *f = fopen("/proc/self/mountinfo", "re");

        while (f && !found && fgets(line, sizeof line, f)) {
                const char *sep = strstr(line, " - ");

                if (!sep || sscanf(sep, " - %63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0 ||
                    sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1)
                        continue;
                found = strcmp(mnt, "/sys/fs/cgroup/unified") == 0 ||
                        strcmp(mnt, "/sys/fs/cgroup") == 0;
        }
        if (f)
                fclose(f);
        if (found)
                (void)snprintf(ret, len, "%s", mnt);
        return found;
}

/* Our own tree and service cgroup under the real mount; false: skip. */
static bool real_setup(void)
{
        char mnt[512];

        cleanup();
        if (!find_cgroup2(mnt, sizeof mnt))
                return false;
        (void)snprintf(real_tree, sizeof real_tree, "%s/tend-test-cglimits-%d", mnt, (int)getpid());
        if (mkdir(real_tree, 0755) < 0) {
                real_tree[0] = 0;
                return false;
        }
        tree_dfd = open(real_tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return tree_dfd >= 0;
}

static void test_real(void)
{
        struct service_config sc = { .cgroup.memory_max = 1ULL << 30 };
        char why[CGLIMITS_WHY_MAX];
        unsigned available, enabled;
        struct cglimits_usage u;
        int r;

        if (!real_setup()) {
                ok(1, "# SKIP no writable cgroup2 mount at /sys/fs/cgroup{,/unified}");
                return;
        }
        r = cglimits_available(tree_dfd, &available);
        ok(r == 0, "real: cgroup.controllers read (r=%d, %#x)", r, r == 0 ? available : 0);
        r = cglimits_enable(tree_dfd, CGLIMITS_MEMORY | CGLIMITS_CPU, &enabled);
        ok(r == 0 && enabled == (available & (CGLIMITS_MEMORY | CGLIMITS_CPU)),
           "real: enable gives what is available (r=%d, %#x)", r, enabled);
        (void)snprintf(real_unit, sizeof real_unit, "%s/svc", real_tree);
        if (!ok(mkdir(real_unit, 0755) == 0, "real: service cgroup created"))
                return;
        unit_dfd = open(real_unit, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ok(cglimits_usage(unit_dfd, &u) == 0 && u.cpu_usec == 0,
           "real: cpu.stat usage_usec read without the cpu controller (0 for an empty cgroup)");
        ok(!(enabled & CGLIMITS_MEMORY) == (u.memory_bytes == CGLIMITS_UNKNOWN),
           "real: memory.current known exactly when memory is enabled");
        r = cglimits_apply(unit_dfd, NULL, &sc, why, sizeof why);
        if (enabled & CGLIMITS_MEMORY)
                ok(r == 0, "real: memory_max applied (memory controller enabled)");
        else if (available & CGLIMITS_MEMORY)
                ok(r == -ENOENT && strstr(why, "is not enabled for tend's services"),
                   "real: memory_max refused: %s", why);
        else
                ok(r == -ENOENT && strncmp(why,
                                           "memory_max: the memory controller is not "
                                           "available in tend's cgroup (cgroup.controllers",
                                           87) == 0,
                   "real: memory_max refused: %s", why);
        unit_dfd = safe_close(unit_dfd);
        ok(rmdir(real_unit) == 0, "real: service cgroup removed");
        real_unit[0] = 0;
        tree_dfd = safe_close(tree_dfd);
        ok(rmdir(real_tree) == 0, "real: tree removed");
        real_tree[0] = 0;
}

int main(void)
{
        test_needed();
        test_apply_values();
        test_apply_reset();
        test_apply_missing();
        test_apply_refused();
        test_check();
        test_available_enable();
        test_usage();
        test_real();
        cleanup();
        return tap_done();
}
