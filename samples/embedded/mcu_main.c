/* mcu_main - runs a model compiled into a bare-metal Cortex-M program (model.h,
 * from 'dlor export-c') on the inputs compiled in beside it (inputs.h, from
 * inputs_h.py), and prints over semihosting, one line per input:
 *
 *     y I HEX HEX ...    the outputs' float32 bits (exact, so a host can compare bits)
 *     ticks I N          timer ticks the inference took (see below)
 *     stack N            bytes of stack used so far, opening and inferences included
 *                        (the lowest word below the initial stack pointer that a
 *                        pattern painted at start no longer holds; 64 KB painted,
 *                        or down to the end of .bss)
 *
 * then checks on the device that the runtime refuses what it must:
 *
 *     check crc: ...     a copy of the image in RAM with one byte of a tensor
 *                        flipped opens without checksums and is refused with them
 *     check scratch: ... a scratch buffer one byte short is refused
 *
 * and ends with 'ok' (exit status 0) or a line saying what failed (status 1):
 * 'open: refused (code C): MESSAGE' when the runtime does not open the model
 * (a runtime built without a part the model needs refuses it with code 3).
 *
 * Work per inference: QEMU's mps2 boards have a CMSDK timer at 0x40000000
 * counting down at 25 MHz of virtual time. Under 'qemu-system-arm -icount
 * shift=S' virtual time advances 2^S ns per instruction, so ticks are
 * proportional to instructions; 'cal' lines time a loop of a known instruction
 * count to fix the ratio (bench/mcu_icount.py). Without -icount the ticks follow
 * the host's clock and mean little. */
#include <stdint.h>
#include <string.h>

#include "dlor_runtime.h"
#include "inputs.h"
#include "model.h"
#include "semihost.h"

extern uint32_t __stack_top[], __bss_end[]; /* mps2.ld */

static unsigned char scratch[DLOR_MODEL_SCRATCH_BYTES] DLOR_MODEL_ALIGN;
static unsigned char image_copy[DLOR_MODEL_SIZE] DLOR_MODEL_ALIGN;

#define TIMER_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER_RELOAD (*(volatile uint32_t *)0x40000008u)

static void timer_start(void)
{
    TIMER_RELOAD = 0xffffffffu;
    TIMER_VALUE = 0xffffffffu;
    TIMER_CTRL = 1u; /* enabled, no interrupt */
}

#define STACK_PAINT (64u * 1024u)
#define PAINT 0x5eadfa11u

/* The lowest word painted: 64 KB below the top, or the end of .bss (addresses
 * as integers: the linker's symbols are not arrays to index) */
static uint32_t *paint_floor(void)
{
    uintptr_t low = (uintptr_t)__stack_top - STACK_PAINT, end = (uintptr_t)__bss_end;
    return (uint32_t *)(low > end ? low : end);
}

/* Paints the stack below this function's frame (what main will use next). */
static void stack_paint(void)
{
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = paint_floor(); p < sp - 16; p++) *p = PAINT;
}

static uint32_t stack_used(void)
{
    uint32_t *p = paint_floor();
    while ((uintptr_t)p < (uintptr_t)__stack_top && *p == PAINT) p++;
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

/* 2 n instructions (n >= 1): a subtract and a taken branch per turn */
static void spin(uint32_t n) { __asm volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n)::"cc"); }

/* ---- output without a C library's printf ---------------------------------- */

static char line[1024];
static size_t len;

static void put(const char *s)
{
    while (*s && len + 1 < sizeof line) line[len++] = *s++;
}

static void put_u32(uint32_t v, int hex)
{
    char d[12];
    int n = 0;
    do {
        d[n++] = "0123456789abcdef"[hex ? v % 16 : v % 10];
        v = hex ? v / 16 : v / 10;
    } while (v || (hex && n < 8));
    while (n && len + 1 < sizeof line) line[len++] = d[--n];
}

static void flush(void)
{
    line[len++] = '\n';
    line[len] = 0;
    semihost_write(line);
    len = 0;
}

static uint32_t bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* 'check NAME: refused (code C): MESSAGE', and whether the code was the one wanted */
static int refused(const char *name, int rc, const dlor_image_error *e, int want)
{
    put("check ");
    put(name);
    put(": ");
    if (rc == 0) {
        put("FAILED: accepted");
        flush();
        return 0;
    }
    put(rc == want ? "refused (code " : "FAILED: refused with an unexpected code (");
    put_u32((uint32_t)rc, 0);
    put("): ");
    put(e->msg);
    flush();
    return rc == want;
}

int main(void)
{
    dlor_model m;
    dlor_image_error err;
    float y[DLOR_MODEL_OUTPUT_DIM];
    int ok = 1;
    stack_paint();
    timer_start();
    int orc = dlor_model_open(&m, dlor_model_image, DLOR_MODEL_SIZE, DLOR_IMAGE_CHECK_CRC, &err);
    if (orc != 0) {
        put("open: refused (code ");
        put_u32((uint32_t)orc, 0);
        put("): ");
        put(err.msg);
        flush();
        return 1;
    }
    /* the cost of reading the timer, then 2000 and 22000 instructions */
    static const uint32_t turns[3] = {0, 1000, 11000};
    for (int k = 0; k < 3; k++) {
        uint32_t t0 = TIMER_VALUE;
        if (turns[k]) spin(turns[k]);
        uint32_t t1 = TIMER_VALUE;
        put("cal ");
        put_u32(2 * turns[k], 0);
        put(" ");
        put_u32(t0 - t1, 0);
        flush();
    }
    for (unsigned i = 0; i < DLOR_INPUTS_COUNT; i++) {
        uint32_t t0 = TIMER_VALUE;
        int rc = dlor_model_forward(&m, dlor_inputs[i], 1, y, scratch, sizeof scratch, &err);
        uint32_t t1 = TIMER_VALUE;
        if (rc != 0) {
            put("forward: ");
            put(err.msg);
            flush();
            return 1;
        }
        put("y ");
        put_u32(i, 0);
        for (unsigned j = 0; j < DLOR_MODEL_OUTPUT_DIM; j++) {
            put(" ");
            put_u32(bits(y[j]), 1);
        }
        flush();
        put("ticks ");
        put_u32(i, 0);
        put(" ");
        put_u32(t0 - t1, 0);
        flush();
    }

    put("stack ");
    put_u32(stack_used(), 0);
    flush();

    /* one byte in the middle of the first tensor's data flipped: every structural
     * check still passes, only its CRC-32 tells */
    dlor_image_tensor t;
    dlor_image_tensor_at(&m.img, 0, &t);
    memcpy(image_copy, dlor_model_image, DLOR_MODEL_SIZE);
    image_copy[t.offset + t.nbytes / 2] ^= 0x10u;
    dlor_model bad;
    int rc = dlor_model_open(&bad, image_copy, DLOR_MODEL_SIZE, 0, &err);
    put("check crc-off: ");
    put(rc == 0 ? "opened" : "FAILED: refused without checksums: ");
    if (rc != 0) put(err.msg);
    flush();
    ok &= rc == 0;
    ok &= refused("crc", dlor_model_open(&bad, image_copy, DLOR_MODEL_SIZE, DLOR_IMAGE_CHECK_CRC, &err), &err,
                  DLOR_IMAGE_E_FORMAT);
    ok &= refused("scratch", dlor_model_forward(&m, dlor_inputs[0], 1, y, scratch, sizeof scratch - 1, &err), &err,
                  DLOR_RT_E_SCRATCH);
    put(ok ? "ok" : "FAILED");
    flush();
    return ok ? 0 : 1;
}
