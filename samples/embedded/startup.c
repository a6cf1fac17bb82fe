/* startup.c - the reset path of a bare-metal Cortex-M3/M4 program (mps2.ld gives
 * the symbols): the vector table, then a reset handler that turns the FPU on
 * (Cortex-M4F builds with a hardware float ABI), copies .data from flash,
 * zeroes .bss, calls main and exits through semihosting with its status. A
 * fault prints one line and exits with status 3, so a crash on the board ends
 * the run instead of hanging it. No C library is used before main. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "semihost.h"

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[], __stack_top[];
int main(void);
void mcu_reset(void);

static void mcu_fault(void)
{
    semihost_write("fault: the program stopped on a processor exception\n");
    semihost_exit(3);
}

/* The first 16 words the core reads: the initial stack pointer, then the
 * handlers of reset, NMI, HardFault, MemManage, BusFault, UsageFault, four
 * reserved words, SVCall, DebugMonitor, reserved, PendSV and SysTick. */
__attribute__((section(".vectors"), used)) static const uintptr_t mcu_vectors[16] = {
    (uintptr_t)__stack_top, (uintptr_t)mcu_reset, (uintptr_t)mcu_fault, (uintptr_t)mcu_fault,
    (uintptr_t)mcu_fault,   (uintptr_t)mcu_fault, (uintptr_t)mcu_fault, 0,
    0,                      0,                    0,                    (uintptr_t)mcu_fault,
    (uintptr_t)mcu_fault,   0,                    (uintptr_t)mcu_fault, (uintptr_t)mcu_fault};

/* newlib's printf family refers to malloc (which only asprintf calls), and
 * malloc to _sbrk for memory: there is no heap here, so every request fails. */
void *_sbrk(ptrdiff_t increment);
void *_sbrk(ptrdiff_t increment)
{
    (void)increment;
    errno = ENOMEM;
    return (void *)-1;
}

void mcu_reset(void)
{
#if defined(__ARM_FP)
    /* CPACR (0xE000ED88): full access to coprocessors 10 and 11, the FPU, before
     * the first float instruction; a barrier so that the next ones see it */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) *d++ = *s++;
    for (uint32_t *d = __bss_start; d < __bss_end;) *d++ = 0;
    semihost_exit(main());
}
