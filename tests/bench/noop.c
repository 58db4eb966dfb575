/* noop: nothing, in a dynamically linked program of libc alone: the floor
 * under every glibc program's start (the dynamic loader, libc's set-up, its
 * CPU feature probing), which the client step (bench.py) puts between the
 * static probe's exec and that of a program linked with libsystemd. */
int main(void)
{
        return 0;
}
