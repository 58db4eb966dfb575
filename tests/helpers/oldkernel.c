/* oldkernel: run a command as on a kernel before 6.15, where a pidfd does
 * not tell the exit status of a process someone else reaped: ioctl
 * PIDFD_GET_INFO (type 0xFF, nr 11) fails with ENOTTY. "oldkernel CMD ARGS..."
 * installs the seccomp filter (kept across every execve) and execs CMD. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
                BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xffff),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xff0b, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOTTY),
        };
        struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };

        if (argc < 2) {
                fprintf(stderr, "usage: oldkernel CMD ARGS...\n");
                return 2;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
                perror("oldkernel: seccomp");
                return 111;
        }
        execvp(argv[1], argv + 1);
        perror("oldkernel: exec");
        return 127;
}
