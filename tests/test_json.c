/* test_json - the strict JSON pull parser (formats/json.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlor_json.h"
#include "testutil.h"

/* Renders a token stream as text: { } [ ] K(key) S(str) U(123) X(-1.5) T F Z.
 * Bytes outside printable ASCII in strings appear as \xNN. */
static dlor_status render(const char *text, size_t len, char *out, size_t cap, dlor_error *err)
{
    dlor_json p;
    dlor_json_tok t;
    dlor_status s;
    size_t o = 0;
    out[0] = 0;
    dlor_json_init(&p, (const unsigned char *)text, len);
    while ((s = dlor_json_next(&p, &t, err)) == DLOR_OK && t != DLOR_JSON_END) {
        char tmp[512];
        size_t k = 0;
        switch (t) {
        case DLOR_JSON_OBJ_BEGIN: k = (size_t)snprintf(tmp, sizeof tmp, "{"); break;
        case DLOR_JSON_OBJ_END: k = (size_t)snprintf(tmp, sizeof tmp, "}"); break;
        case DLOR_JSON_ARR_BEGIN: k = (size_t)snprintf(tmp, sizeof tmp, "["); break;
        case DLOR_JSON_ARR_END: k = (size_t)snprintf(tmp, sizeof tmp, "]"); break;
        case DLOR_JSON_TRUE: k = (size_t)snprintf(tmp, sizeof tmp, "T"); break;
        case DLOR_JSON_FALSE: k = (size_t)snprintf(tmp, sizeof tmp, "F"); break;
        case DLOR_JSON_NULL: k = (size_t)snprintf(tmp, sizeof tmp, "Z"); break;
        case DLOR_JSON_NUMBER:
            if (p.num_is_uint)
                k = (size_t)snprintf(tmp, sizeof tmp, "U(%llu)", (unsigned long long)p.num_u);
            else
                k = (size_t)snprintf(tmp, sizeof tmp, "X(%.*s)", (int)p.num_len,
                                     text + p.tok_pos);
            break;
        case DLOR_JSON_KEY: case DLOR_JSON_STRING: {
            k = (size_t)snprintf(tmp, sizeof tmp, "%c(", t == DLOR_JSON_KEY ? 'K' : 'S');
            for (size_t i = 0; i < p.str_len && k + 8 < sizeof tmp; i++) {
                unsigned char c = (unsigned char)p.str[i];
                if (c >= 0x20 && c < 0x7f) tmp[k++] = (char)c;
                else k += (size_t)snprintf(tmp + k, sizeof tmp - k, "\\x%02x", c);
            }
            tmp[k++] = ')';
            tmp[k] = 0;
            CHECK(p.str[p.str_len] == 0, "string not NUL-terminated");
            break;
        }
        case DLOR_JSON_END: break;
        }
        if (o + k + 2 < cap) {
            if (o) out[o++] = ' ';
            memcpy(out + o, tmp, k + 1);
            o += k;
        }
    }
    dlor_json_free(&p);
    return s;
}

static void ok(const char *text, const char *want)
{
    char got[4096];
    dlor_error err = {0};
    dlor_status s = render(text, strlen(text), got, sizeof got, &err);
    CHECK(s == DLOR_OK, "%s: status %d (%s)", text, s, err.msg);
    if (s == DLOR_OK) CHECK(strcmp(got, want) == 0, "%s: got '%s', want '%s'", text, got, want);
}

static void bad_n(const char *text, size_t len, dlor_status code, const char *needle)
{
    char got[4096];
    dlor_error err = {0};
    dlor_status s = render(text, len, got, sizeof got, &err);
    CHECK(s == code, "'%.*s': status %d, want %d (msg '%s', tokens '%s')", (int)len, text, s, code,
          err.msg, got);
    CHECK(err.code == s, "err.code %d != status %d", err.code, s);
    CHECK(strstr(err.msg, needle) != NULL, "'%.*s': message '%s' lacks '%s'", (int)len, text,
          err.msg, needle);
    CHECK(strchr(err.msg, '\n') == NULL, "message has a newline: '%s'", err.msg);
    CHECK(dlor_json_validate((const unsigned char *)text, len, NULL) == code,
          "validate disagrees on '%.*s'", (int)len, text);
}

static void bad(const char *text, dlor_status code, const char *needle)
{
    bad_n(text, strlen(text), code, needle);
}

static void test_structure(void)
{
    ok("{}", "{ }");
    ok("[]", "[ ]");
    ok("{\"a\": [1, true, false, null, \"x\"], \"b\": {}}",
       "{ K(a) [ U(1) T F Z S(x) ] K(b) { } }");
    ok(" \t\r\n{ \"a\" : [ 1 , 2 ] } \n\t ", "{ K(a) [ U(1) U(2) ] }");
    ok("[[],[[]],{}]", "[ [ ] [ [ ] ] { } ]");
    ok("\"top\"", "S(top)");
    ok("7", "U(7)");
    ok("null", "Z");
    ok("{\"a\":1,\"a\":2}", "{ K(a) U(1) K(a) U(2) }"); /* duplicates are the caller's call */

    bad("", DLOR_E_FORMAT, "unexpected end of input");
    bad("   ", DLOR_E_FORMAT, "byte 3: unexpected end of input");
    bad("[1,]", DLOR_E_FORMAT, "byte 3: expected a value");
    bad("[,1]", DLOR_E_FORMAT, "byte 1: expected a value");
    bad("{\"a\":1,}", DLOR_E_FORMAT, "byte 7: expected a string key");
    bad("{\"a\" 1}", DLOR_E_FORMAT, "expected ':'");
    bad("{\"a\":}", DLOR_E_FORMAT, "expected a value, got '}'");
    bad("{\"a\"}", DLOR_E_FORMAT, "expected ':'");
    bad("[1 2]", DLOR_E_FORMAT, "expected ',' or ']'");
    bad("{\"a\":1 \"b\":2}", DLOR_E_FORMAT, "expected ',' or '}'");
    bad("{} {}", DLOR_E_FORMAT, "byte 3: unexpected '{' after the top-level value");
    bad("1 2", DLOR_E_FORMAT, "after the top-level value");
    bad("{1:2}", DLOR_E_FORMAT, "expected a string key");
    bad("{'a':1}", DLOR_E_FORMAT, "expected a string key, got '''");
    bad("[1]]", DLOR_E_FORMAT, "after the top-level value");
    bad("]", DLOR_E_FORMAT, "expected a value");
    bad("}", DLOR_E_FORMAT, "expected a value");
    bad("{\"a\":1]", DLOR_E_FORMAT, "expected ',' or '}'");
    bad("[1}", DLOR_E_FORMAT, "expected ',' or ']'");
    bad("[1", DLOR_E_FORMAT, "unexpected end of input");
    bad("{\"a\":[1,{", DLOR_E_FORMAT, "unexpected end of input");
    bad("/*c*/{}", DLOR_E_FORMAT, "expected a value");
    bad("{}//", DLOR_E_FORMAT, "after the top-level value");
    bad("\xef\xbb\xbf{}", DLOR_E_FORMAT, "byte 0xef");     /* a BOM is not whitespace */
    bad("\v{}", DLOR_E_FORMAT, "byte 0x0b");
    bad("{}\f", DLOR_E_FORMAT, "byte 0x0c");
    bad("\xc2\xa0{}", DLOR_E_FORMAT, "byte 0xc2");         /* nor is NBSP */
    bad_n("[1\0]", 4, DLOR_E_FORMAT, "byte 0x00");
    bad_n("{}\0", 3, DLOR_E_FORMAT, "byte 2");
}

static void test_literals(void)
{
    ok("[true,false,null]", "[ T F Z ]");
    bad("tru", DLOR_E_FORMAT, "expected 'true'");
    bad("nul", DLOR_E_FORMAT, "expected 'null'");
    bad("fals", DLOR_E_FORMAT, "expected 'false'");
    bad("truex", DLOR_E_FORMAT, "unexpected 'x'");
    bad("True", DLOR_E_FORMAT, "expected a value");
    bad("[nulL]", DLOR_E_FORMAT, "expected 'null'");
    bad("NaN", DLOR_E_FORMAT, "expected a value");
    bad("Infinity", DLOR_E_FORMAT, "expected a value");
    bad("undefined", DLOR_E_FORMAT, "expected a value");
}

static void test_numbers(void)
{
    ok("[0, 7, 100, 9007199254740993]", "[ U(0) U(7) U(100) U(9007199254740993) ]");
    ok("18446744073709551615", "U(18446744073709551615)");
    /* one past uint64: still a valid number, just not a uint */
    ok("18446744073709551616", "X(18446744073709551616)");
    ok("[99999999999999999999999, -0, -1, 1.5, 1e3, 1E-3, 2e+10, -12.5e-7, 0.0]",
       "[ X(99999999999999999999999) X(-0) X(-1) X(1.5) X(1e3) X(1E-3) X(2e+10) X(-12.5e-7) "
       "X(0.0) ]");
    bad("01", DLOR_E_FORMAT, "leading zero");
    bad("[-01]", DLOR_E_FORMAT, "leading zero");
    bad("1.", DLOR_E_FORMAT, "no digit after '.'");
    bad("1.e3", DLOR_E_FORMAT, "no digit after '.'");
    bad(".5", DLOR_E_FORMAT, "expected a value");
    bad("-", DLOR_E_FORMAT, "no digit after '-'");
    bad("- 1", DLOR_E_FORMAT, "no digit after '-'");
    bad("+1", DLOR_E_FORMAT, "expected a value");
    bad("1e", DLOR_E_FORMAT, "no digit in exponent");
    bad("1e+", DLOR_E_FORMAT, "no digit in exponent");
    bad("0x10", DLOR_E_FORMAT, "unexpected 'x'");
    bad("-Infinity", DLOR_E_FORMAT, "no digit after '-'");
    bad("[1,2,3a]", DLOR_E_FORMAT, "byte 6");
}

static void test_strings(void)
{
    ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "S(\"\\/\\x08\\x0c\\x0a\\x0d\\x09)");
    ok("\"\\u0041\\u00e9\\u20AC\"", "S(A\\xc3\\xa9\\xe2\\x82\\xac)");
    ok("\"\\ud83d\\ude00\\uD83D\\uDE00\"", "S(\\xf0\\x9f\\x98\\x80\\xf0\\x9f\\x98\\x80)");
    ok("\"\\udbff\\udfff\"", "S(\\xf4\\x8f\\xbf\\xbf)");          /* U+10FFFF */
    ok("\"\\u07ff\\u0800\\uffff\"", "S(\\xdf\\xbf\\xe0\\xa0\\x80\\xef\\xbf\\xbf)");
    ok("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "S(\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80)");
    ok("\"\x7f\"", "S(\\x7f)");                                   /* DEL is not a control char */
    ok("{\"\":\"\"}", "{ K() S() }");
    ok("{\"k\\n\":\"v\"}", "{ K(k\\x0a) S(v) }");

    /* \u0000 decodes to a NUL byte inside the string */
    {
        dlor_json p;
        dlor_json_tok t;
        dlor_error err;
        const char *txt = "\"a\\u0000b\"";
        dlor_json_init(&p, (const unsigned char *)txt, strlen(txt));
        CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_STRING, "\\u0000");
        CHECK(p.str_len == 3 && memcmp(p.str, "a\0b", 4) == 0, "\\u0000 decoded len %zu",
              p.str_len);
        dlor_json_free(&p);
    }

    bad("\"\\ud83d\"", DLOR_E_FORMAT, "high surrogate \\ud83d not followed by a low surrogate");
    bad("\"\\ud83dx\"", DLOR_E_FORMAT, "not followed by a low surrogate");
    bad("\"\\ud83d\\u0041\"", DLOR_E_FORMAT, "not followed by a low surrogate");
    bad("\"\\ud83d\\ud83d\"", DLOR_E_FORMAT, "not followed by a low surrogate");
    bad("\"\\ud83d\\", DLOR_E_FORMAT, "not followed by a low surrogate");
    bad("\"\\ude00\"", DLOR_E_FORMAT, "byte 1: unpaired low surrogate \\ude00");
    bad("\"\\u12\"", DLOR_E_FORMAT, "4 hex digits");
    bad("\"\\u12G4\"", DLOR_E_FORMAT, "4 hex digits");
    bad("\"\\u", DLOR_E_FORMAT, "4 hex digits");
    bad("\"\\x41\"", DLOR_E_FORMAT, "invalid escape '\\' followed by 'x'");
    bad("\"\\'\"", DLOR_E_FORMAT, "invalid escape");
    bad("\"\\U0041\"", DLOR_E_FORMAT, "invalid escape");
    bad("\"a\x01\"", DLOR_E_FORMAT, "byte 2: unescaped control character 0x01");
    bad("\"a\tb\"", DLOR_E_FORMAT, "unescaped control character 0x09");
    bad("\"a\nb\"", DLOR_E_FORMAT, "unescaped control character 0x0a");
    bad_n("\"a\0b\"", 5, DLOR_E_FORMAT, "unescaped control character 0x00");
    bad("\"abc", DLOR_E_FORMAT, "byte 0: unterminated string");
    bad("\"abc\\", DLOR_E_FORMAT, "unterminated string");
    bad("{\"abc", DLOR_E_FORMAT, "byte 1: unterminated string");
    bad("\"\xff\"", DLOR_E_FORMAT, "byte 1: invalid UTF-8 in string");
    bad("\"\xc0\x80\"", DLOR_E_FORMAT, "invalid UTF-8");          /* overlong NUL */
    bad("\"\xe0\x9f\xbf\"", DLOR_E_FORMAT, "invalid UTF-8");      /* overlong */
    bad("\"\xed\xa0\x80\"", DLOR_E_FORMAT, "invalid UTF-8");      /* encoded surrogate */
    bad("\"\xf4\x90\x80\x80\"", DLOR_E_FORMAT, "invalid UTF-8");  /* above U+10FFFF */
    bad("\"\x80\"", DLOR_E_FORMAT, "invalid UTF-8");              /* lone continuation */
    bad("\"\xe2\x82\"", DLOR_E_FORMAT, "invalid UTF-8");          /* truncated sequence */
    bad("\"\xe2\x82", DLOR_E_FORMAT, "invalid UTF-8");            /* truncated at the end */
}

static void test_utf8(void)
{
    static const struct { const char *s; size_t n; int valid; size_t bad; } cases[] = {
        {"", 0, 1, 0},
        {"plain ascii", 11, 1, 0},
        {"\xc2\x80\xdf\xbf", 4, 1, 0},
        {"\xe0\xa0\x80\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80", 12, 1, 0},
        {"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8, 1, 0},
        {"ab\xc0\x80", 4, 0, 2},
        {"\xc1\xbf", 2, 0, 0},
        {"x\xe0\x9f\xbf", 4, 0, 1},
        {"\xed\xa0\x80", 3, 0, 0},
        {"\xed\xbf\xbf", 3, 0, 0},
        {"\xf0\x8f\xbf\xbf", 4, 0, 0},
        {"\xf4\x90\x80\x80", 4, 0, 0},
        {"\xf5\x80\x80\x80", 4, 0, 0},
        {"abc\xff", 4, 0, 3},
        {"\x80", 1, 0, 0},
        {"ok\xe2\x82", 4, 0, 2},
        {"\xe2\x28\xa1", 3, 0, 0},
        {"\xf0\x9f\x98", 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t at = 999;
        int v = dlor_json_utf8_valid((const unsigned char *)cases[i].s, cases[i].n, &at);
        CHECK(v == cases[i].valid, "utf8 case %zu: valid=%d", i, v);
        if (!cases[i].valid) CHECK(at == cases[i].bad, "utf8 case %zu: bad at %zu", i, at);
    }
    CHECK(dlor_json_utf8_valid((const unsigned char *)"\xff", 1, NULL) == 0, "NULL bad pointer");
}

static void test_depth(void)
{
    size_t n = 100000;
    char *s = malloc(2 * n + 1);
    /* exactly DLOR_JSON_MAX_DEPTH levels parse */
    memset(s, '[', DLOR_JSON_MAX_DEPTH);
    memset(s + DLOR_JSON_MAX_DEPTH, ']', DLOR_JSON_MAX_DEPTH);
    s[2 * DLOR_JSON_MAX_DEPTH] = 0;
    CHECK(dlor_json_validate((unsigned char *)s, strlen(s), NULL) == DLOR_OK, "depth 64");
    /* one more level is refused */
    memset(s, '[', DLOR_JSON_MAX_DEPTH + 1);
    memset(s + DLOR_JSON_MAX_DEPTH + 1, ']', DLOR_JSON_MAX_DEPTH + 1);
    s[2 * DLOR_JSON_MAX_DEPTH + 2] = 0;
    bad(s, DLOR_E_LIMIT, "byte 64: nesting deeper than 64 levels");
    memset(s, '[', n);
    s[n] = 0;
    bad(s, DLOR_E_LIMIT, "nesting deeper than 64 levels");
    memset(s + n, ']', n);
    s[2 * n] = 0;
    bad(s, DLOR_E_LIMIT, "nesting deeper than 64 levels");
    for (size_t i = 0; i < n; i++) {
        s[5 * i] = '{', s[5 * i + 1] = '"', s[5 * i + 2] = 'a', s[5 * i + 3] = '"';
        s[5 * i + 4] = ':';
        if (5 * i + 10 > 2 * n) {
            s[5 * i + 5] = 0;
            break;
        }
    }
    bad(s, DLOR_E_LIMIT, "nesting deeper than 64 levels");
    free(s);
}

/* Large inputs must parse in linear time; a quadratic parser would take
 * minutes on these. */
static void test_large(void)
{
    size_t n = 1000000, k = 0;
    char *s = malloc(16 * n + 16);
    clock_t t0 = clock();
    s[k++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) s[k++] = ',';
        s[k++] = '0';
    }
    s[k++] = ']';
    {
        dlor_json p;
        dlor_json_tok t;
        size_t items = 0;
        dlor_json_init(&p, (unsigned char *)s, k);
        while (dlor_json_next(&p, &t, NULL) == DLOR_OK && t != DLOR_JSON_END)
            items += t == DLOR_JSON_NUMBER;
        CHECK(items == n, "1M-item array: %zu numbers", items);
        dlor_json_free(&p);
    }
    /* 100k-member object */
    k = 0;
    s[k++] = '{';
    for (size_t i = 0; i < 100000; i++)
        k += (size_t)sprintf(s + k, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    s[k++] = '}';
    {
        dlor_json p;
        dlor_json_tok t;
        size_t keys = 0, last = 0;
        dlor_json_init(&p, (unsigned char *)s, k);
        while (dlor_json_next(&p, &t, NULL) == DLOR_OK && t != DLOR_JSON_END) {
            keys += t == DLOR_JSON_KEY;
            if (t == DLOR_JSON_NUMBER) last = (size_t)p.num_u;
        }
        CHECK(keys == 100000 && last == 99999, "100k-key object: %zu keys, last %zu", keys, last);
        dlor_json_free(&p);
    }
    /* a 12 MB string made of escapes decodes to 2 bytes per escape */
    k = 0;
    s[k++] = '"';
    for (size_t i = 0; i < 2 * n; i++) {
        memcpy(s + k, "\\u00e9", 6);
        k += 6;
    }
    s[k++] = '"';
    {
        dlor_json p;
        dlor_json_tok t;
        dlor_json_init(&p, (unsigned char *)s, k);
        CHECK(dlor_json_next(&p, &t, NULL) == DLOR_OK && t == DLOR_JSON_STRING, "big string");
        CHECK(p.str_len == 4 * n && (unsigned char)p.str[4 * n - 1] == 0xa9,
              "big string decoded to %zu bytes", p.str_len);
        dlor_json_free(&p);
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 20.0, "large inputs took %.1f s", secs);
    free(s);
}

static void test_skip_and_sticky(void)
{
    const char *txt = "{\"a\":[1,[2,{\"b\":3}]],\"c\":{\"d\":[]},\"e\":4}";
    dlor_json p;
    dlor_json_tok t;
    dlor_error err;
    dlor_json_init(&p, (const unsigned char *)txt, strlen(txt));
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_OBJ_BEGIN, "skip: {");
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_KEY, "skip: key a");
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_ARR_BEGIN, "skip: [");
    CHECK(dlor_json_skip(&p, t, &err) == DLOR_OK, "skip array");
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_KEY && strcmp(p.str, "c") == 0,
          "after skip: key '%s'", p.str);
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_OBJ_BEGIN, "skip: {");
    CHECK(dlor_json_skip(&p, t, &err) == DLOR_OK, "skip object");
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_KEY && strcmp(p.str, "e") == 0,
          "after skip: key '%s'", p.str);
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_NUMBER, "skip: 4");
    CHECK(dlor_json_skip(&p, t, &err) == DLOR_OK, "skip scalar is a no-op");
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_OBJ_END, "skip: }");
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_END, "skip: end");
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_END, "end repeats");
    dlor_json_free(&p);

    /* skip stops at a syntax error inside the skipped value */
    txt = "[[1,2,]]";
    dlor_json_init(&p, (const unsigned char *)txt, strlen(txt));
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK, "[");
    CHECK(dlor_json_next(&p, &t, &err) == DLOR_OK && t == DLOR_JSON_ARR_BEGIN, "[[");
    CHECK(dlor_json_skip(&p, t, &err) == DLOR_E_FORMAT, "skip reports the error");
    /* errors are sticky */
    dlor_error err2 = {0};
    CHECK(dlor_json_next(&p, &t, &err2) == DLOR_E_FORMAT && strcmp(err2.msg, err.msg) == 0,
          "sticky error: '%s' vs '%s'", err2.msg, err.msg);
    dlor_json_free(&p);
}

static void test_kinds(void)
{
    CHECK(strcmp(dlor_json_tok_kind(DLOR_JSON_OBJ_BEGIN), "object") == 0, "object");
    CHECK(strcmp(dlor_json_tok_kind(DLOR_JSON_ARR_BEGIN), "array") == 0, "array");
    CHECK(strcmp(dlor_json_tok_kind(DLOR_JSON_STRING), "string") == 0, "string");
    CHECK(strcmp(dlor_json_tok_kind(DLOR_JSON_NUMBER), "number") == 0, "number");
    CHECK(strcmp(dlor_json_tok_kind(DLOR_JSON_TRUE), "boolean") == 0, "true");
    CHECK(strcmp(dlor_json_tok_kind(DLOR_JSON_FALSE), "boolean") == 0, "false");
    CHECK(strcmp(dlor_json_tok_kind(DLOR_JSON_NULL), "null") == 0, "null");
}

int main(void)
{
    test_structure();
    test_literals();
    test_numbers();
    test_strings();
    test_utf8();
    test_depth();
    test_large();
    test_skip_and_sticky();
    test_kinds();
    return dlt_finish();
}
