/* json.c - strict RFC 8259 pull parser (see dlor_json.h). */
#include "dlor_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_VALUE,         /* a value must come next */
    ST_VALUE_OR_END,  /* just after '[' */
    ST_KEY_OR_END,    /* just after '{' */
    ST_KEY,           /* after ',' inside an object */
    ST_COMMA_OR_END,  /* after a value inside a container */
    ST_DONE,          /* top-level value complete */
    ST_ERROR
};

void dlor_json_init(dlor_json *p, const unsigned char *text, size_t len)
{
    memset(p, 0, sizeof *p);
    p->src = text;
    p->len = len;
    p->state = ST_VALUE;
}

void dlor_json_free(dlor_json *p)
{
    free(p->str);
    p->str = NULL;
    p->str_len = p->str_cap = 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static dlor_status fail(dlor_json *p, dlor_error *err, dlor_status code, size_t at,
                        const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    dlor_fail(&p->saved, code, "invalid JSON at byte %zu: %s", at, what);
    p->state = ST_ERROR;
    if (err) *err = p->saved;
    return code;
}

/* Describes the byte at pos for messages: 'x', byte 0xNN or end of input. */
static const char *describe(const dlor_json *p, size_t pos, char buf[24])
{
    if (pos >= p->len) return "end of input";
    unsigned char c = p->src[pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 24, "'%c'", c);
    else snprintf(buf, 24, "byte 0x%02x", c);
    return buf;
}

/* Length of the valid UTF-8 sequence starting at s (avail bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c == 0xe0) { n = 3; lo = 0xa0; }        /* no overlongs */
    else if (c >= 0xe1 && c <= 0xec) n = 3;
    else if (c == 0xed) { n = 3; hi = 0x9f; }        /* no UTF-16 surrogates */
    else if (c >= 0xee && c <= 0xef) n = 3;
    else if (c == 0xf0) { n = 4; lo = 0x90; }        /* no overlongs */
    else if (c >= 0xf1 && c <= 0xf3) n = 4;
    else if (c == 0xf4) { n = 4; hi = 0x8f; }        /* nothing above U+10FFFF */
    else return 0;
    if (avail < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return n;
}

int dlor_json_utf8_valid(const unsigned char *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(s + i, n - i);
        if (!k) {
            if (bad) *bad = i;
            return 0;
        }
        i += k;
    }
    return 1;
}

const char *dlor_json_tok_kind(dlor_json_tok tok)
{
    switch (tok) {
    case DLOR_JSON_OBJ_BEGIN: return "object";
    case DLOR_JSON_ARR_BEGIN: return "array";
    case DLOR_JSON_KEY: case DLOR_JSON_STRING: return "string";
    case DLOR_JSON_NUMBER: return "number";
    case DLOR_JSON_TRUE: case DLOR_JSON_FALSE: return "boolean";
    case DLOR_JSON_NULL: return "null";
    case DLOR_JSON_OBJ_END: return "end of object";
    case DLOR_JSON_ARR_END: return "end of array";
    case DLOR_JSON_END: break;
    }
    return "end of input";
}

static void skip_ws(dlor_json *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->src[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Makes room for n more bytes plus a terminating NUL in p->str. */
static int str_reserve(dlor_json *p, size_t n)
{
    if (n > SIZE_MAX - 1 - p->str_len) return -1;
    size_t need = p->str_len + n + 1;
    if (need <= p->str_cap) return 0;
    size_t cap = p->str_cap ? p->str_cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *s = realloc(p->str, cap);
    if (!s) return -1;
    p->str = s;
    p->str_cap = cap;
    return 0;
}

static int str_append(dlor_json *p, const void *bytes, size_t n)
{
    if (str_reserve(p, n)) return -1;
    memcpy(p->str + p->str_len, bytes, n);
    p->str_len += n;
    return 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The four hex digits at pos as a code unit, or -1. */
static long hex4(const dlor_json *p, size_t pos)
{
    long v = 0;
    if (pos > p->len || p->len - pos < 4) return -1;
    for (size_t i = 0; i < 4; i++) {
        int h = hexval(p->src[pos + i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t utf8_encode(unsigned long cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the escape at p->pos (the backslash) into p->str. */
static dlor_status parse_escape(dlor_json *p, dlor_error *err)
{
    size_t at = p->pos;
    char d[24];
    if (p->len - at < 2) return fail(p, err, DLOR_E_FORMAT, p->tok_pos, "unterminated string");
    unsigned char e = p->src[at + 1], one;
    switch (e) {
    case '"': case '\\': case '/': one = e; break;
    case 'b': one = '\b'; break;
    case 'f': one = '\f'; break;
    case 'n': one = '\n'; break;
    case 'r': one = '\r'; break;
    case 't': one = '\t'; break;
    case 'u': {
        long cp = hex4(p, at + 2);
        if (cp < 0) return fail(p, err, DLOR_E_FORMAT, at, "\\u must be followed by 4 hex digits");
        p->pos = at + 6;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return fail(p, err, DLOR_E_FORMAT, at, "unpaired low surrogate \\u%04lx", cp);
        if (cp >= 0xd800 && cp <= 0xdbff) {
            long lo = -1;
            if (p->len - p->pos >= 2 && p->src[p->pos] == '\\' && p->src[p->pos + 1] == 'u')
                lo = hex4(p, p->pos + 2);
            if (lo < 0xdc00 || lo > 0xdfff)
                return fail(p, err, DLOR_E_FORMAT, at,
                            "high surrogate \\u%04lx not followed by a low surrogate", cp);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p->pos += 6;
        }
        unsigned char u[4];
        if (str_append(p, u, utf8_encode((unsigned long)cp, u)))
            return fail(p, err, DLOR_E_NOMEM, at, "out of memory");
        return DLOR_OK;
    }
    default:
        return fail(p, err, DLOR_E_FORMAT, at, "invalid escape '\\' followed by %s",
                    describe(p, at + 1, d));
    }
    p->pos = at + 2;
    if (str_append(p, &one, 1)) return fail(p, err, DLOR_E_NOMEM, at, "out of memory");
    return DLOR_OK;
}

/* Parses the string starting at p->pos (the quote) into p->str. */
static dlor_status parse_string(dlor_json *p, dlor_error *err)
{
    p->pos++;
    p->str_len = 0;
    for (;;) {
        size_t run = p->pos;
        /* copy plain ASCII in one go; stop at anything needing a closer look */
        while (run < p->len) {
            unsigned char c = p->src[run];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
            run++;
        }
        if (run > p->pos && str_append(p, p->src + p->pos, run - p->pos))
            return fail(p, err, DLOR_E_NOMEM, p->pos, "out of memory");
        p->pos = run;
        if (p->pos >= p->len) return fail(p, err, DLOR_E_FORMAT, p->tok_pos, "unterminated string");
        unsigned char c = p->src[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c == '\\') {
            dlor_status s = parse_escape(p, err);
            if (s) return s;
        } else if (c < 0x20) {
            return fail(p, err, DLOR_E_FORMAT, p->pos,
                        "unescaped control character 0x%02x in string", c);
        } else {
            size_t n = utf8_seq(p->src + p->pos, p->len - p->pos);
            if (!n) return fail(p, err, DLOR_E_FORMAT, p->pos, "invalid UTF-8 in string");
            if (str_append(p, p->src + p->pos, n))
                return fail(p, err, DLOR_E_NOMEM, p->pos, "out of memory");
            p->pos += n;
        }
    }
    if (str_reserve(p, 0)) return fail(p, err, DLOR_E_NOMEM, p->pos, "out of memory");
    p->str[p->str_len] = 0;
    return DLOR_OK;
}

static int is_digit(const dlor_json *p, size_t pos)
{
    return pos < p->len && p->src[pos] >= '0' && p->src[pos] <= '9';
}

static dlor_status parse_number(dlor_json *p, dlor_error *err)
{
    size_t start = p->pos, pos = p->pos;
    int neg = 0, integral = 1, overflow = 0;
    uint64_t u = 0;
    if (p->src[pos] == '-') {
        neg = 1;
        pos++;
    }
    if (!is_digit(p, pos))
        return fail(p, err, DLOR_E_FORMAT, start, "invalid number: no digit after '-'");
    if (p->src[pos] == '0') {
        pos++;
        if (is_digit(p, pos))
            return fail(p, err, DLOR_E_FORMAT, start, "invalid number: leading zero");
    } else {
        while (is_digit(p, pos)) {
            unsigned d = (unsigned)(p->src[pos++] - '0');
            if (u > (UINT64_MAX - d) / 10) overflow = 1;
            else u = u * 10 + d;
        }
    }
    if (pos < p->len && p->src[pos] == '.') {
        integral = 0;
        pos++;
        if (!is_digit(p, pos))
            return fail(p, err, DLOR_E_FORMAT, start, "invalid number: no digit after '.'");
        while (is_digit(p, pos)) pos++;
    }
    if (pos < p->len && (p->src[pos] == 'e' || p->src[pos] == 'E')) {
        integral = 0;
        pos++;
        if (pos < p->len && (p->src[pos] == '+' || p->src[pos] == '-')) pos++;
        if (!is_digit(p, pos))
            return fail(p, err, DLOR_E_FORMAT, start, "invalid number: no digit in exponent");
        while (is_digit(p, pos)) pos++;
    }
    p->pos = pos;
    p->num_len = pos - start;
    p->num_is_uint = !neg && integral && !overflow;
    p->num_u = p->num_is_uint ? u : 0;
    return DLOR_OK;
}

static void after_value(dlor_json *p)
{
    p->state = p->depth ? ST_COMMA_OR_END : ST_DONE;
}

static void pop(dlor_json *p)
{
    p->depth--;
    after_value(p);
}

static dlor_status push(dlor_json *p, unsigned char kind, dlor_error *err)
{
    if (p->depth >= DLOR_JSON_MAX_DEPTH)
        return fail(p, err, DLOR_E_LIMIT, p->pos, "nesting deeper than %d levels",
                    DLOR_JSON_MAX_DEPTH);
    p->stack[p->depth++] = kind;
    p->pos++;
    return DLOR_OK;
}

static dlor_status parse_value(dlor_json *p, dlor_json_tok *tok, dlor_error *err)
{
    static const struct { const char *word; dlor_json_tok tok; } lits[] = {
        {"true", DLOR_JSON_TRUE}, {"false", DLOR_JSON_FALSE}, {"null", DLOR_JSON_NULL}};
    unsigned char c = p->src[p->pos];
    dlor_status s;
    char d[24];
    switch (c) {
    case '{':
        if ((s = push(p, 'o', err))) return s;
        p->state = ST_KEY_OR_END;
        *tok = DLOR_JSON_OBJ_BEGIN;
        return DLOR_OK;
    case '[':
        if ((s = push(p, 'a', err))) return s;
        p->state = ST_VALUE_OR_END;
        *tok = DLOR_JSON_ARR_BEGIN;
        return DLOR_OK;
    case '"':
        if ((s = parse_string(p, err))) return s;
        after_value(p);
        *tok = DLOR_JSON_STRING;
        return DLOR_OK;
    default:
        break;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        if ((s = parse_number(p, err))) return s;
        after_value(p);
        *tok = DLOR_JSON_NUMBER;
        return DLOR_OK;
    }
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        size_t n = strlen(lits[i].word);
        if (c == (unsigned char)lits[i].word[0]) {
            if (p->len - p->pos < n || memcmp(p->src + p->pos, lits[i].word, n) != 0)
                return fail(p, err, DLOR_E_FORMAT, p->pos, "invalid literal (expected '%s')",
                            lits[i].word);
            p->pos += n;
            after_value(p);
            *tok = lits[i].tok;
            return DLOR_OK;
        }
    }
    return fail(p, err, DLOR_E_FORMAT, p->pos, "expected a value, got %s", describe(p, p->pos, d));
}

dlor_status dlor_json_next(dlor_json *p, dlor_json_tok *tok, dlor_error *err)
{
    char d[24];
    if (p->state == ST_ERROR) {
        if (err) *err = p->saved;
        return p->saved.code;
    }
    for (;;) {
        skip_ws(p);
        p->tok_pos = p->pos;
        if (p->state == ST_DONE) {
            if (p->pos < p->len)
                return fail(p, err, DLOR_E_FORMAT, p->pos, "unexpected %s after the top-level value",
                            describe(p, p->pos, d));
            *tok = DLOR_JSON_END;
            return DLOR_OK;
        }
        if (p->pos >= p->len) return fail(p, err, DLOR_E_FORMAT, p->pos, "unexpected end of input");
        unsigned char c = p->src[p->pos];
        switch (p->state) {
        case ST_COMMA_OR_END: {
            int in_obj = p->stack[p->depth - 1] == 'o';
            unsigned char close = in_obj ? '}' : ']';
            if (c == ',') {
                p->pos++;
                p->state = in_obj ? ST_KEY : ST_VALUE;
                continue;
            }
            if (c != close)
                return fail(p, err, DLOR_E_FORMAT, p->pos, "expected ',' or '%c', got %s", close,
                            describe(p, p->pos, d));
            p->pos++;
            pop(p);
            *tok = in_obj ? DLOR_JSON_OBJ_END : DLOR_JSON_ARR_END;
            return DLOR_OK;
        }
        case ST_KEY_OR_END:
            if (c == '}') {
                p->pos++;
                pop(p);
                *tok = DLOR_JSON_OBJ_END;
                return DLOR_OK;
            }
            /* fall through */
        case ST_KEY: {
            dlor_status s;
            if (c != '"')
                return fail(p, err, DLOR_E_FORMAT, p->pos, "expected a string key, got %s",
                            describe(p, p->pos, d));
            if ((s = parse_string(p, err))) return s;
            skip_ws(p);
            if (p->pos >= p->len || p->src[p->pos] != ':')
                return fail(p, err, DLOR_E_FORMAT, p->pos, "expected ':' after key, got %s",
                            describe(p, p->pos, d));
            p->pos++;
            p->state = ST_VALUE;
            *tok = DLOR_JSON_KEY;
            return DLOR_OK;
        }
        case ST_VALUE_OR_END:
            if (c == ']') {
                p->pos++;
                pop(p);
                *tok = DLOR_JSON_ARR_END;
                return DLOR_OK;
            }
            /* fall through */
        default:
            return parse_value(p, tok, err);
        }
    }
}

dlor_status dlor_json_skip(dlor_json *p, dlor_json_tok first, dlor_error *err)
{
    if (first != DLOR_JSON_OBJ_BEGIN && first != DLOR_JSON_ARR_BEGIN) return DLOR_OK;
    int inside = p->depth;
    while (p->depth >= inside) {
        dlor_json_tok t;
        dlor_status s = dlor_json_next(p, &t, err);
        if (s) return s;
    }
    return DLOR_OK;
}

dlor_status dlor_json_validate(const unsigned char *text, size_t len, dlor_error *err)
{
    dlor_json p;
    dlor_json_tok t = DLOR_JSON_NULL;
    dlor_status s = DLOR_OK;
    dlor_json_init(&p, text, len);
    while (s == DLOR_OK && t != DLOR_JSON_END) s = dlor_json_next(&p, &t, err);
    dlor_json_free(&p);
    return s;
}
