/* Buffers, SHA-256, decimal and JSON text: what the verifier reads and writes as Python does.
 * Part of circulith.store._ledger_native (included by _ledger_native.c, one translation unit). */
#ifndef CIRCULITH_NATIVE_TEXT_H
#define CIRCULITH_NATIVE_TEXT_H

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------ buffers */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_reserve(sbuf *b, size_t cap) {
    if (cap <= b->cap) return 0;
    size_t c = b->cap ? b->cap : 32;
    while (c < cap) c *= 2;
    char *q = realloc(b->p, c);
    if (!q) return -1;
    b->p = q;
    b->cap = c;
    return 0;
}

static int sb_set(sbuf *b, const char *p, size_t n) {
    if (sb_reserve(b, n + 1)) return -1;
    memcpy(b->p, p, n);
    b->p[n] = 0;
    b->n = n;
    return 0;
}

static int sb_add(sbuf *b, const char *p, size_t n) {
    if (sb_reserve(b, b->n + n + 1)) return -1;
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static void sb_free(sbuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static const char *string_stop(const char *p, const char *end);

/* JSON string literal of UTF-8 text as Python's json.encoder.c_encode_basestring writes it (UTF-8 kept). */
static int sb_add_json_string(sbuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (sb_reserve(b, b->n + 6 * n + 3)) return -1;
    char *o = b->p + b->n;
    const char *p = s, *end = s + n;
    *o++ = '"';
    while (p < end) {
        const char *q = string_stop(p, end); /* a run of bytes written as they are */
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        if (q >= end) break;
        unsigned char c = (unsigned char)*q;
        p = q + 1;
        if (c == '"') { *o++ = '\\'; *o++ = '"'; }
        else if (c == '\\') { *o++ = '\\'; *o++ = '\\'; }
        else if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else if (c == '\r') { *o++ = '\\'; *o++ = 'r'; }
        else if (c == '\t') { *o++ = '\\'; *o++ = 't'; }
        else if (c == '\b') { *o++ = '\\'; *o++ = 'b'; }
        else if (c == '\f') { *o++ = '\\'; *o++ = 'f'; }
        else { *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = hex[c >> 4]; *o++ = hex[c & 15]; }
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
    b->p[b->n] = 0;
    return 0;
}

/* ------------------------------------------------------------------ SHA-256 */

/* The one-shot SHA256_* functions: the same assembly as the EVP interface, without its per-call provider
 * dispatch (which costs more than hashing a 128-byte chain link). Deprecated by OpenSSL 3.0, still built. */
static int sha256(const void *data, size_t n, unsigned char out[32]) {
    SHA256_CTX c;
    return SHA256_Init(&c) && SHA256_Update(&c, data, n) && SHA256_Final(out, &c) ? 0 : -1;
}

/* Lower-case hex, two characters a byte from one table. */
static const char HEX_PAIRS[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
    "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f"
    "909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

static void to_hex(const unsigned char raw[32], char out[64]) {
    for (int i = 0; i < 32; i++) memcpy(out + 2 * i, HEX_PAIRS + 2 * raw[i], 2);
}

/* ------------------------------------------------------------------ JSON (what json.loads accepts) */

#define MAX_DEPTH 200 /* deeper payloads are left to the Python path */

typedef struct {
    const char *p;
    size_t n;
} span;

static void skip_ws(const char **p, const char *end) {
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')) (*p)++;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The first byte of [p, end) that ends a run of plain string bytes: '"', '\\' or a control character. */
static const char *string_stop(const char *p, const char *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                   _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl)); /* x <= 0x1f, unsigned */
        int m = _mm_movemask_epi8(hit);
        if (m) return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20) return p;
        p++;
    }
    return end;
}

/* Skip a string starting at '"'; 0, -1 when it is not one json.loads takes. */
static int skip_string(const char **pp, const char *end) {
    const char *p = *pp + 1;
    for (;;) {
        p = string_stop(p, end);
        if (p >= end) return -1;
        unsigned char c = (unsigned char)*p;
        if (c == '"') { *pp = p + 1; return 0; }
        if (c < 0x20) return -1;
        /* a backslash */
        if (++p >= end) return -1;
        switch (*p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': p++; break;
            case 'u':
                if (end - p < 5) return -1;
                for (int i = 1; i <= 4; i++) if (hexval(p[i]) < 0) return -1;
                p += 5;
                break;
            default: return -1;
        }
    }
}

/* 0 ok, -1 not JSON, -2 too deep */
static int skip_value(const char **pp, const char *end, int depth) {
    const char *p = *pp;
    if (p >= end) return -1;
    char c = *p;
    if (c == '"') { int r = skip_string(&p, end); *pp = p; return r; }
    if (c == '{' || c == '[') {
        if (depth >= MAX_DEPTH) return -2;
        char close = c == '{' ? '}' : ']';
        p++;
        skip_ws(&p, end);
        if (p < end && *p == close) { *pp = p + 1; return 0; }
        for (;;) {
            if (c == '{') {
                if (p >= end || *p != '"' || skip_string(&p, end)) return -1;
                skip_ws(&p, end);
                if (p >= end || *p != ':') return -1;
                p++;
                skip_ws(&p, end);
            }
            int r = skip_value(&p, end, depth + 1);
            if (r) return r;
            skip_ws(&p, end);
            if (p < end && *p == ',') { p++; skip_ws(&p, end); continue; }
            if (p < end && *p == close) { *pp = p + 1; return 0; }
            return -1;
        }
    }
#define LIT(s) (end - p >= (ptrdiff_t)(sizeof(s) - 1) && memcmp(p, s, sizeof(s) - 1) == 0 ? (*pp = p + sizeof(s) - 1, 1) : 0)
    switch (c) { /* the literals json.loads takes, by their first byte */
        case 't': return LIT("true") ? 0 : -1;
        case 'f': return LIT("false") ? 0 : -1;
        case 'n': return LIT("null") ? 0 : -1;
        case 'N': return LIT("NaN") ? 0 : -1;
        case 'I': return LIT("Infinity") ? 0 : -1;
        case '-': if (LIT("-Infinity")) return 0; break;
        default: break;
    }
#undef LIT
    /* number: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)? */
    if (*p == '-') p++;
    if (p >= end) return -1;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') { while (p < end && *p >= '0' && *p <= '9') p++; }
    else return -1;
    if (p < end && *p == '.') {
        const char *q = ++p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == q) return -1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const char *q = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == q) return -1;
    }
    *pp = p;
    return 0;
}

/* Decode a JSON string literal (span includes the quotes) into UTF-8; -1 for a lone surrogate. */
static int unescape(span s, sbuf *out) {
    out->n = 0;
    if (sb_reserve(out, s.n + 1)) return -1;
    const char *p = s.p + 1, *end = s.p + s.n - 1;
    char *o = out->p;
    while (p < end) {
        if (*p != '\\') { *o++ = *p++; continue; }
        p++;
        char e = *p++;
        switch (e) {
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp = 0;
                for (int i = 0; i < 4; i++) cp = cp * 16 + (unsigned)hexval(p[i]);
                p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo = 0;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
                    for (int i = 2; i < 6; i++) {
                        int h = hexval(p[i]);
                        if (h < 0) return -1;
                        lo = lo * 16 + (unsigned)h;
                    }
                    if (lo < 0xDC00 || lo > 0xDFFF) return -1;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;
                if (cp < 0x80) *o++ = (char)cp;
                else if (cp < 0x800) { *o++ = (char)(0xC0 | cp >> 6); *o++ = (char)(0x80 | (cp & 63)); }
                else if (cp < 0x10000) {
                    *o++ = (char)(0xE0 | cp >> 12); *o++ = (char)(0x80 | ((cp >> 6) & 63)); *o++ = (char)(0x80 | (cp & 63));
                } else {
                    *o++ = (char)(0xF0 | cp >> 18); *o++ = (char)(0x80 | ((cp >> 12) & 63));
                    *o++ = (char)(0x80 | ((cp >> 6) & 63)); *o++ = (char)(0x80 | (cp & 63));
                }
                break;
            }
            default: *o++ = e; /* " \ / */
        }
    }
    out->n = (size_t)(o - out->p);
    out->p[out->n] = 0;
    return 0;
}

/* The text of a key (span with quotes): its bytes, unescaped only when it has escapes. -1 for a lone
 * surrogate (such a key equals none of the names looked for). */
static int key_text(span k, sbuf *tmp, const char **p, size_t *n) {
    if (!memchr(k.p, '\\', k.n)) { *p = k.p + 1; *n = k.n - 2; return 0; }
    if (unescape(k, tmp)) return -1;
    *p = tmp->p;
    *n = tmp->n;
    return 0;
}

#define NAME_IS(p, n, lit) ((n) == sizeof(lit) - 1 && memcmp((p), (lit), sizeof(lit) - 1) == 0)

/* Python truthiness of a JSON value (its span). */
static int truthy(span v) {
    char c = v.p[0];
    if (c == '"') return v.n > 2;
    if (c == '[' || c == '{') {
        const char *p = v.p + 1, *end = v.p + v.n;
        skip_ws(&p, end);
        return *p != ']' && *p != '}';
    }
    if (c == 't') return 1;
    if (c == 'f' || (c == 'n' && v.n == 4)) return 0; /* false, null */
    if (c == 'N' || c == 'I') return 1;               /* NaN, Infinity */
    if (c == '-' && v.n > 1 && v.p[1] == 'I') return 1;
    int is_float = memchr(v.p, '.', v.n) || memchr(v.p, 'e', v.n) || memchr(v.p, 'E', v.n);
    if (!is_float) { /* an int: non-zero unless every digit is 0 */
        for (size_t i = 0; i < v.n; i++)
            if (v.p[i] >= '1' && v.p[i] <= '9') return 1;
        return 0;
    }
    char *buf = malloc(v.n + 1); /* a float: zero as Python's float() reads it (underflow included) */
    if (!buf) return 1;
    memcpy(buf, v.p, v.n);
    buf[v.n] = 0;
    int nonzero = strtod(buf, NULL) != 0.0;
    free(buf);
    return nonzero;
}

/* Members of an object: callback per (key, value), in order. 0 ok, -1 not an object / not JSON, -2 too deep. */
typedef int (*member_fn)(void *ctx, span key, span value);

/* Reads a member's value at *pp in place, at `depth` as skip_value counts: 1 when it did (*pp past the
 * value), 0 to have it skipped, or skip_value's -1 / -2. */
typedef int (*value_fn)(void *ctx, span key, const char **pp, const char *end, int depth);

/* At an object's member: its key, and *pp moved to its value. 0, or -1 where no member starts. */
static int member_key(const char **pp, const char *end, span *key) {
    const char *p = *pp;
    if (p >= end || *p != '"' || skip_string(&p, end)) return -1;
    *key = (span){*pp, (size_t)(p - *pp)};
    skip_ws(&p, end);
    if (p >= end || *p != ':') return -1;
    p++;
    skip_ws(&p, end);
    *pp = p;
    return 0;
}

/* After a member's value: 1 past a ',' (at the next member), 0 past the closing '}', -1 otherwise. */
static int member_next(const char **pp, const char *end) {
    const char *p = *pp;
    skip_ws(&p, end);
    if (p < end && *p == ',') { p++; skip_ws(&p, end); *pp = p; return 1; }
    if (p < end && *p == '}') { *pp = p + 1; return 0; }
    return -1;
}

/* Takes a member's value at *pp (at `depth`), moving *pp past it: 0, or a non-zero value that stops the walk. */
typedef int (*member_at_fn)(void *ctx, span key, const char **pp, const char *end, int depth);

/* The members of the object whose '{' is at *pp, itself at `depth` as skip_value counts: `fn` takes each
 * value (at depth + 1); *pp then past the closing '}'. 0, -1 not JSON, -2 too deep, or what `fn` returned. */
static int each_member_at(const char **pp, const char *end, int depth, member_at_fn fn, void *ctx) {
    if (depth >= MAX_DEPTH) return -2;
    const char *p = *pp + 1;
    skip_ws(&p, end);
    if (p < end && *p == '}') { *pp = p + 1; return 0; }
    int more = 1;
    while (more > 0) {
        span k;
        if (member_key(&p, end, &k)) return -1;
        int r = fn(ctx, k, &p, end, depth + 1);
        if (r) return r;
        more = member_next(&p, end);
    }
    if (more < 0) return -1;
    *pp = p;
    return 0;
}

typedef struct {
    member_fn fn;
    value_fn read;
    void *ctx;
} member_walk;

static int walk_member(void *ctx, span k, const char **pp, const char *end, int depth) {
    member_walk *w = ctx;
    const char *v0 = *pp;
    int r = w->read ? w->read(w->ctx, k, pp, end, depth) : 0;
    if (r < 0) return r;
    if (!r && (r = skip_value(pp, end, depth))) return r;
    return w->fn && w->fn(w->ctx, k, (span){v0, (size_t)(*pp - v0)}) ? -3 : 0;
}

/* Members of the object `obj` (nothing else in it but white space): `read` (when given) may read a value in
 * place first, then `fn` gets each (key, value). */
static int each_member_read(span obj, member_fn fn, value_fn read, void *ctx) {
    const char *p = obj.p, *end = obj.p + obj.n;
    skip_ws(&p, end);
    if (p >= end || *p != '{') return -1;
    member_walk w = {fn, read, ctx};
    int r = each_member_at(&p, end, 0, walk_member, &w);
    if (r) return r;
    skip_ws(&p, end);
    return p == end ? 0 : -1;
}

static int each_member(span obj, member_fn fn, void *ctx) { return each_member_read(obj, fn, NULL, ctx); }

/* A decimal integer filling the NUL-terminated text. */
static int parse_int64(const char *p, int64_t *out) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || *end) return -1;
    *out = v;
    return 0;
}

/* Decimal text of an integer, as Python's str(int) writes it; returns its length. */
static size_t format_int(char *out, int64_t v) {
    char tmp[24];
    size_t n = 0, k = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    return k;
}

#endif
