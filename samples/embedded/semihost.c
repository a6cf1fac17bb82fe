/* semihost.c - Arm semihosting on M-profile cores: the operation number in r0,
 * a pointer to its parameters in r1, then BKPT 0xAB, which the debugger or
 * emulator traps; the result comes back in r0. */
#include "semihost.h"

#include <stdint.h>

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static uint32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_write(const char *s) { (void)semihost_call(SYS_WRITE0, s); }

void semihost_exit(int status)
{
    /* SYS_EXIT's 32-bit form takes only a reason; the extended call also
     * carries the status (QEMU makes it its own exit status) */
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) (void)semihost_call(SYS_EXIT_EXTENDED, block);
}
