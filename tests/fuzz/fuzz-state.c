/* fuzz-state: any bytes as a state (state.h), as a new image after a
 * re-execution would read them: as records of every type at any depth, as
 * a whole memfd (header checks), and as the value of a config record and
 * of a service record (config-state.h). Reading must never crash, leak or
 * read past the end; what config_state_get() accepts must write and read
 * back equal, and write the same bytes again. state_get_fd() is left out:
 * it would claim whatever fds the fuzzer has open. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config-state.h"
#include "fuzz.h"
#include "state.h"
#include "util.h"

/* Every record, each value read as every type and as a list. */
static void walk(struct state_reader r, unsigned depth)
{
        struct state_reader v;
        uint16_t tag;
        int k;

        while ((k = state_next(&r, &tag, &v)) > 0) {
                char *s = NULL, **l = NULL;
                uint64_t u;
                int64_t i;
                bool b;

                fuzz_check(v.p + v.len == r.p);
                fuzz_check((state_get_u64(&v, &u) == 0) == (v.len == 8));
                fuzz_check((state_get_i64(&v, &i) == 0) == (v.len == 8));
                if (state_get_bool(&v, &b) == 0)
                        fuzz_check(v.len == 8 && u <= 1 && b == (u == 1));
                if (state_get_str(&v, &s) == 0)
                        fuzz_check(strlen(s) == v.len);
                free(s);
                if (state_get_strv(&v, &l) == 0)
                        fuzz_check(l != NULL);
                strv_free(l);
                if (depth < 8)
                        walk(v, depth + 1);
        }
        fuzz_check(k == 0 || k == -EBADMSG);
}

static void check_same_service(const struct service_config *a, const struct service_config *b)
{
        fuzz_check(service_config_equal(a, b));
        fuzz_check(a->after_line == b->after_line && a->requires_line == b->requires_line);
        fuzz_check(!a->after == !b->after && !a->requires == !b->requires);
        fuzz_check(b->environment && b->argv && b->argv[0] && b->name && b->file && b->exec);
}

/* Written and read again: equal; written again: the same bytes. */
static void config_again(const struct config *c)
{
        _cleanup_(config_freep) struct config *d = NULL;
        struct state_writer w1, w2;
        struct state_reader r, v;
        uint16_t tag;

        for (size_t i = 1; i < c->n_services; i++)
                fuzz_check(strcmp(c->services[i - 1]->name, c->services[i]->name) < 0);
        state_writer_init(&w1);
        state_writer_init(&w2);
        fuzz_check(config_state_put(&w1, 1, c) == 0);
        r = (struct state_reader){ w1.buf, w1.len };
        fuzz_check(state_next(&r, &tag, &v) == 1 && r.len == 0);
        fuzz_check(config_state_get(&v, &d) == 0);
        fuzz_check(streq_ptr(c->path, d->path) && streq_ptr(c->services_dir, d->services_dir) &&
                   streq_ptr(c->socket_path, d->socket_path) && c->socket_mode == d->socket_mode &&
                   streq_ptr(c->socket_group, d->socket_group) &&
                   streq_ptr(c->log_dir, d->log_dir) && streq_ptr(c->cgroup_path, d->cgroup_path) &&
                   streq_ptr(c->exit_with, d->exit_with) &&
                   c->exit_with_line == d->exit_with_line && c->n_services == d->n_services);
        for (size_t i = 0; i < c->n_services; i++) {
                check_same_service(c->services[i], d->services[i]);
                fuzz_check(config_find(d, c->services[i]->name) == d->services[i]);
        }
        fuzz_check(config_state_put(&w2, 1, d) == 0);
        fuzz_check(w1.len == w2.len && memcmp(w1.buf, w2.buf, w1.len) == 0);
        state_writer_free(&w1);
        state_writer_free(&w2);
}

static void service_again(const struct service_config *sc)
{
        _cleanup_(service_config_freep) struct service_config *d = NULL;
        struct state_writer w;
        struct state_reader r, v;
        uint16_t tag;

        state_writer_init(&w);
        fuzz_check(config_state_put_service(&w, 1, sc) == 0);
        r = (struct state_reader){ w.buf, w.len };
        fuzz_check(state_next(&r, &tag, &v) == 1);
        fuzz_check(config_state_get_service(&v, &d) == 0);
        check_same_service(sc, d);
        state_writer_free(&w);
}

/* The bytes as a whole state in a sealed memfd. */
static void open_memfd(const uint8_t *data, size_t size)
{
        struct state_reader body;
        void *map;
        size_t map_len;
        int fd = memfd_create("fuzz-state", MFD_CLOEXEC | MFD_ALLOW_SEALING), r;

        fuzz_check(fd >= 0);
        fuzz_check(loop_write(fd, data, size) == 0);
        fuzz_check(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
        r = state_open(fd, &body, &map, &map_len);
        fuzz_check(r == 0 || r == -EBADMSG || r == -EPROTO);
        if (r == 0) {
                fuzz_check(map_len == size && body.len == size - 15);
                walk(body, 0);
        } else
                fuzz_check(!map && map_len == 0);
        state_unmap(map, map_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A copy of exactly size bytes: ASan sees any read past the end. */
        char *buf = malloc(size ? size : 1);
        struct state_reader r = { buf, size };
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_(service_config_freep) struct service_config *sc = NULL;
        int k;

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        walk(r, 0);
        k = config_state_get(&r, &c);
        fuzz_check(k == 0 || k == -EBADMSG);
        if (k == 0)
                config_again(c);
        k = config_state_get_service(&r, &sc);
        fuzz_check(k == 0 || k == -EBADMSG);
        if (k == 0)
                service_again(sc);
        open_memfd(data, size);
        free(buf);
        return 0;
}
