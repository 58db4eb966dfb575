/* state-find.h: for the unit tests of the modules' state records. */
#pragma once

#include <errno.h>

#include "state.h"

/* The value of the record tag in what w holds (records only, no header). */
static inline int state_find(const struct state_writer *w, uint16_t tag,
                             struct state_reader *ret)
{
        struct state_reader r = { .p = w->buf, .len = w->len };
        uint16_t t;

        while (state_next(&r, &t, ret) > 0)
                if (t == tag)
                        return 0;
        return -ENOENT;
}
