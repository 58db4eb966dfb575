/* wire.c: the service record's table as data, and the generic code that
 * puts a record on the wire and reads it back (tendd appends, tendctl
 * reads). Each field is appended and read by its D-Bus type from its offset
 * in struct wire_service, so nothing here names a field. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "wire.h"

#define WIRE_TYPE_STR 's'
#define WIRE_TYPE_U32 'u'
#define WIRE_TYPE_U64 't'
#define WIRE_TYPE_BOOL 'b'
#define WIRE_TYPE_I32 'i'

const struct wire_field wire_service_fields[] = {
#define WIRE_FIELD(member, bus, kind, json, form, ...)                                             \
        { bus, WIRE_TYPE_##kind, offsetof(struct wire_service, member), json, WIRE_JSON_##form },
        WIRE_SERVICE_FIELDS(WIRE_FIELD)
#undef WIRE_FIELD
};
const size_t wire_service_n_fields = ELEMENTSOF(wire_service_fields);

/* The string field f of w, a pointer into w. */
static const char **wire_string(struct wire_service *w, const struct wire_field *f)
{
        return (const char **)(void *)((char *)w + f->offset);
}

/* Free the strings a reader copied; see wire.h. */
void wire_service_done(struct wire_service *w)
{
        if (!w)
                return;
        for (size_t i = 0; i < wire_service_n_fields; i++)
                if (wire_service_fields[i].type == 's')
                        free((char *)*wire_string(w, &wire_service_fields[i]));
        memset(w, 0, sizeof *w);
}

/* One UTF-8 sequence at p; see wire.h. */
size_t wire_utf8_decode(const unsigned char *p, uint32_t *ret)
{
        size_t n;
        uint32_t cp;

        if (*p < 0x80) {
                *ret = *p;
                return 1;
        }
        if ((*p & 0xe0) == 0xc0) {
                n = 2;
                cp = *p & 0x1f;
        } else if ((*p & 0xf0) == 0xe0) {
                n = 3;
                cp = *p & 0x0f;
        } else if ((*p & 0xf8) == 0xf0) {
                n = 4;
                cp = *p & 0x07;
        } else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        /* Overlong, beyond Unicode, surrogates, and the noncharacters
         * (U+FDD0..U+FDEF, U+xFFFE/U+xFFFF) that sd-bus refuses in a string:
         * one would make the whole message unsendable. */
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0xfdd0 && cp <= 0xfdef) ||
            (cp & 0xfffe) == 0xfffe)
                return 0;
        *ret = cp;
        return n;
}

/* s as valid UTF-8 in buf; see wire.h. */
const char *wire_utf8(const char *s, char *buf, size_t size)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t o = 0;

        while (*p && o + 5 < size) {
                uint32_t cp;
                size_t n = wire_utf8_decode(p, &cp);

                if (n == 0) {
                        buf[o++] = '?';
                        p++;
                        continue;
                }
                memcpy(buf + o, p, n);
                o += n;
                p += n;
        }
        buf[o] = '\0';
        return buf;
}

/* Append field f of w, its value alone (no dict entry or variant). */
static int wire_append_value(sd_bus_message *m, const struct wire_service *w,
                             const struct wire_field *f, char *scratch)
{
        const void *p = wire_field_ptr(w, f);

        if (f->type == 's') {
                const char *s = *(const char *const *)p;
                p = wire_utf8(s ? s : "", scratch, WIRE_STRING_MAX);
        }
        return sd_bus_message_append_basic(m, f->type, p);
}

/* Append w as an a{sv} dict; see wire.h. */
int wire_service_append(sd_bus_message *m, const struct wire_service *w, char *scratch)
{
        int r = sd_bus_message_open_container(m, 'a', "{sv}");

        for (size_t i = 0; r >= 0 && i < wire_service_n_fields; i++) {
                const struct wire_field *f = &wire_service_fields[i];
                const char sig[2] = { f->type, '\0' };

                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, 's', f->bus);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', sig);
                if (r >= 0)
                        r = wire_append_value(m, w, f, scratch);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        return r < 0 ? r : sd_bus_message_close_container(m);
}

/* The signature of the compact struct's contents, without the parentheses:
 * one character per field, so field i is character i. */
#define WIRE_SERVICE_CONTENTS WIRE_SERVICE_FIELDS(WIRE_SIG_FIELD)
_Static_assert(sizeof(WIRE_SERVICE_CONTENTS) - 1 == ELEMENTSOF(wire_service_fields),
               "one signature character per field");

/* Append w as one compact struct; see wire.h. */
int wire_service_append_compact(sd_bus_message *m, const struct wire_service *w, char *scratch)
{
        int r = sd_bus_message_open_container(m, 'r', WIRE_SERVICE_CONTENTS);

        for (size_t i = 0; r >= 0 && i < wire_service_n_fields; i++)
                r = wire_append_value(m, w, &wire_service_fields[i], scratch);
        return r < 0 ? r : sd_bus_message_close_container(m);
}

/* Read field f's value into w, a copy for a string. */
static int wire_read_value(sd_bus_message *m, struct wire_service *w, const struct wire_field *f)
{
        const char **field, *s;
        char *copy;
        int r;

        if (f->type != 's')
                return sd_bus_message_read_basic(m, f->type, (char *)w + f->offset);
        r = sd_bus_message_read_basic(m, 's', &s);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        field = wire_string(w, f);
        free((char *)*field);
        *field = copy;
        return 1;
}

static const struct wire_field *wire_field_by_bus(const char *bus)
{
        for (size_t i = 0; i < wire_service_n_fields; i++)
                if (strcmp(wire_service_fields[i].bus, bus) == 0)
                        return &wire_service_fields[i];
        return NULL;
}

/* Before a reader: the fields a record may lack (from an older tendd) read as
 * not known, UINT64_MAX where a value says so, NULL or 0 otherwise. */
static void wire_service_unknown(struct wire_service *w)
{
        for (size_t i = 0; i < wire_service_n_fields; i++)
                if (wire_service_fields[i].json_form == WIRE_JSON_KNOWN)
                        *(uint64_t *)(void *)((char *)w + wire_service_fields[i].offset) =
                                UINT64_MAX;
}

/* One {sv} entry: a field of the table, or skipped. */
static int wire_read_entry(sd_bus_message *m, struct wire_service *w)
{
        const struct wire_field *f;
        const char *key;
        int r;

        r = sd_bus_message_read_basic(m, 's', &key);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        f = wire_field_by_bus(key);
        if (!f)
                return sd_bus_message_skip(m, "v");
        r = sd_bus_message_enter_container(m, 'v', (const char[]){ f->type, '\0' });
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        r = wire_read_value(m, w, f);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        return sd_bus_message_exit_container(m);
}

/* Read one a{sv} dict; see wire.h. */
int wire_service_read(sd_bus_message *m, struct wire_service *w)
{
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        wire_service_unknown(w);
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = wire_read_entry(m, w);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!w->name)
                return -EBADMSG;
        return sd_bus_message_exit_container(m);
}

/* Read one compact struct; see wire.h. */
int wire_service_read_compact(sd_bus_message *m, struct wire_service *w)
{
        const char *contents;
        size_t n, common;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        if (type != 'r')
                return -EBADMSG;
        /* Fields are only ever added at the end: an older tendd's record is
         * the start of ours, a newer one's starts with ours. */
        n = strlen(contents);
        common = n < wire_service_n_fields ? n : wire_service_n_fields;
        if (common == 0 || strncmp(contents, WIRE_SERVICE_CONTENTS, common) != 0)
                return -EBADMSG;
        r = sd_bus_message_enter_container(m, 'r', contents);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        wire_service_unknown(w);
        for (size_t i = 0; i < common; i++) {
                r = wire_read_value(m, w, &wire_service_fields[i]);
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;
        }
        if (n > common) {
                r = sd_bus_message_skip(m, contents + common);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}
