/* posix-spawn.h: the C library's <spawn.h> (posix_spawn), which this
 * project's own spawn.h hides: include/ comes first in the search path.
 * #include_next resumes the search after include/. */
#pragma once

#include_next <spawn.h>
