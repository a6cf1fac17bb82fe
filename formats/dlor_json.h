/* dlor_json.h - a strict RFC 8259 JSON pull parser (internal).
 *
 * The parser hands out one token at a time and builds no tree, so memory
 * stays proportional to the longest string and the nesting depth, however
 * many values a hostile document holds; callers stop at the first value they
 * dislike. It checks the full grammar: strings must be valid UTF-8 with no
 * raw control characters, escapes (including \uXXXX surrogate pairs) are
 * decoded, numbers follow the JSON syntax exactly, nesting is capped at
 * DLOR_JSON_MAX_DEPTH, and only JSON whitespace may surround the top value.
 *
 * Usage:
 *     dlor_json p;
 *     dlor_json_init(&p, text, len);
 *     while ((s = dlor_json_next(&p, &tok, err)) == DLOR_OK && tok != DLOR_JSON_END) ...
 *     dlor_json_free(&p);
 * After an error every later call repeats it; dlor_json_free is always
 * needed (also after an error). Error messages are one line,
 * "invalid JSON at byte N: ...", with N counted from the start of text.
 */
#ifndef DLOR_JSON_H
#define DLOR_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"

#define DLOR_JSON_MAX_DEPTH 64

typedef enum dlor_json_tok {
    DLOR_JSON_END = 0,      /* the top-level value is complete and only whitespace follows */
    DLOR_JSON_OBJ_BEGIN,
    DLOR_JSON_OBJ_END,
    DLOR_JSON_ARR_BEGIN,
    DLOR_JSON_ARR_END,
    DLOR_JSON_KEY,          /* an object member name: str/str_len */
    DLOR_JSON_STRING,       /* str/str_len */
    DLOR_JSON_NUMBER,       /* num_is_uint/num_u, text at tok_pos, num_len bytes */
    DLOR_JSON_TRUE,
    DLOR_JSON_FALSE,
    DLOR_JSON_NULL
} dlor_json_tok;

typedef struct dlor_json {
    const unsigned char *src;
    size_t len, pos;
    size_t tok_pos;          /* byte offset where the last token starts */
    /* last KEY or STRING, decoded UTF-8, NUL-terminated; may contain NUL
     * bytes (from \u0000), so use str_len */
    char *str;
    size_t str_len, str_cap;
    /* last NUMBER: num_is_uint is 1 when it has no sign, fraction or
     * exponent and fits in uint64 (value in num_u); 0 otherwise */
    int num_is_uint;
    uint64_t num_u;
    size_t num_len;
    int depth;
    unsigned char stack[DLOR_JSON_MAX_DEPTH]; /* open containers, innermost last */
    int state;
    dlor_error saved;        /* the sticky error, once one happened */
} dlor_json;

void dlor_json_init(dlor_json *p, const unsigned char *text, size_t len);
void dlor_json_free(dlor_json *p);

/* Reads the next token. Returns DLOR_E_FORMAT for malformed JSON,
 * DLOR_E_LIMIT for nesting deeper than DLOR_JSON_MAX_DEPTH, DLOR_E_NOMEM. */
dlor_status dlor_json_next(dlor_json *p, dlor_json_tok *tok, dlor_error *err);

/* Consumes the rest of the value whose first token was 'first' (a no-op for
 * scalars; for OBJ_BEGIN/ARR_BEGIN it reads through the matching end). */
dlor_status dlor_json_skip(dlor_json *p, dlor_json_tok first, dlor_error *err);

/* Parses a whole document, discarding the tokens: a syntax check. */
dlor_status dlor_json_validate(const unsigned char *text, size_t len, dlor_error *err);

/* Returns 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF); otherwise 0 and *bad (if non-NULL) is the offset of the
 * first byte of the first invalid sequence. */
int dlor_json_utf8_valid(const unsigned char *s, size_t n, size_t *bad);

/* "object", "array", "string", "number", "boolean", "null" for the token
 * that starts a value; used in "expected X, got Y" messages. */
const char *dlor_json_tok_kind(dlor_json_tok tok);

#endif
