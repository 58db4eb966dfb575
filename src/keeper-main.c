/* tend-keeper: the keeper (keeper.h) as a program of its own, which tendd
 * starts: nothing but the keeper's loop and the C library, so that holding a
 * standalone tendd's fds across its crash costs a few hundred KiB and not a
 * second copy of tendd's libraries. */
#include <stdio.h>
#include <string.h>

#include "keeper.h"

int main(int argc, char **argv)
{
        if (argc == 2 && strcmp(argv[1], KEEPER_OPTION) == 0)
                return keeper_main(3, 4);
        fprintf(stderr, "tend-keeper: started by tendd only (%s, with its sockets as fds 3 and 4)\n",
                KEEPER_OPTION);
        return 2;
}
