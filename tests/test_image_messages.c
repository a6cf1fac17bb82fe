/* test_image_messages - the runtime formats its messages itself (no printf
 * family on a microcontroller; formats/dlor_image.c): every conversion the
 * messages use gives the C library's text, %g included (exactly for the curated
 * values, and within one unit of the sixth digit for random doubles), and a
 * long message is cut at the buffer's end. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_image_internal.h"
#include "testutil.h"

#define SAME(fmt, ...)                                                                           \
    do {                                                                                         \
        char want[256];                                                                          \
        dlor_image_error e;                                                                      \
        snprintf(want, sizeof want, fmt, __VA_ARGS__);                                           \
        int rc = dlor__image_fail(&e, 7, fmt, __VA_ARGS__);                                      \
        CHECK(rc == 7 && e.code == 7 && strcmp(e.msg, want) == 0, "'%s': got '%s', libc '%s'", fmt, \
              e.msg, want);                                                                      \
    } while (0)

int main(void)
{
    SAME("plain text, 100%% sure%s", "");
    SAME("tensor '%s': data at offset %llu, expected %llu", "fc1.weight", 18446744073709551615ull, 0ull);
    SAME("layer '%.*s' and '%.*s' and '%.3s'", 4, "abcdefgh", 0, "xyz", "uvwxyz");
    SAME("%d %d %d %ld %lld", 0, -1, 2147483647, -2147483647L - 1, -9223372036854775807LL - 1);
    SAME("%u %u %lu %zu %llu", 0u, 4294967295u, 123456789UL, (size_t)65536, 12345678901234ull);
    SAME("bad endianness tag 0x%08x, %x, %8u|%08u|%3d|%04d", 0x1020304u, 0xdeadbeefu, 42u, 7u, -5, -42);
    SAME("char %c, then %s", 'Q', "end");
    static const double g[] = {0.0,      -0.0,    1.0,      -2.5,      0.01,   0.5,    1e-4,     1e-5,
                               123456.0, 999999.0, 999999.5, 1234567.0, 1e300,  -1e-300, 5e-324,  DBL_MAX,
                               0.1,      1.0 / 3, 2.0 / 3,  100.0,     1e6,    9.9999949e5, 0.0001234567,
                               3.14159265358979, 65504.0, 1e-310,  INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) SAME("alpha %g.", g[i]);
    /* random doubles: the same text, or one unit apart in the sixth digit (the
     * scaling truncates about 1e-16 of the value, so only near-ties differ) */
    dlt_rng rng = {2};
    int differ = 0, far = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t s = dlt_u64(&rng);
        uint64_t b = (s & 0x800fffffffffffffull) | ((uint64_t)((s >> 52) % 0x7ff) << 52);
        double v;
        memcpy(&v, &b, 8);
        char want[64];
        dlor_image_error e;
        snprintf(want, sizeof want, "%g", v);
        dlor__image_fail(&e, 1, "%g", v);
        if (strcmp(e.msg, want) != 0) {
            differ++;
            double a = strtod(e.msg, NULL), c = strtod(want, NULL);
            if (!(fabs(a - c) <= 1.01e-5 * fabs(c))) far++;
        }
    }
    printf("%%g of 200000 random doubles: %d differ from the C library's, %d by more than the sixth digit\n", differ,
           far);
    CHECK(far == 0 && differ <= 20, "%%g: %d differ, %d by more than one unit in the sixth digit", differ, far);
    /* cut at the end of the buffer, NUL-terminated; control bytes become '?' */
    char longs[400];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    dlor_image_error e;
    dlor__image_fail(&e, 2, "name '%s' is long", longs);
    CHECK(strlen(e.msg) == sizeof e.msg - 1 && strncmp(e.msg, "name 'xxx", 9) == 0, "long message cut: %zu",
          strlen(e.msg));
    dlor__image_fail(&e, 2, "a\nb%s", "\tc");
    CHECK(strcmp(e.msg, "a?b?c") == 0, "one line: '%s'", e.msg);
    CHECK(dlor__image_fail(NULL, 5, "%s", "no error struct") == 5, "a NULL err still returns the code");
    return dlt_finish();
}
