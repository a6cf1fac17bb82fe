/* semihost.h - the few Arm semihosting calls a bare-metal program needs to talk
 * to its debugger or emulator (QEMU: -semihosting-config enable=on,target=native):
 * write text to its console and exit with a status. No C library needed. */
#ifndef MCU_SEMIHOST_H
#define MCU_SEMIHOST_H

/* Writes a NUL-terminated string to the host's console (SYS_WRITE0). */
void semihost_write(const char *s);

/* Ends the program with this exit status (SYS_EXIT_EXTENDED); never returns. */
void semihost_exit(int status) __attribute__((noreturn));

#endif
