/* Reading JSON Lines event records as circulith.services.event_import reads them, where that is certain.
 *
 * The reference is the Python reader: circulith.io.records.iter_records (json.loads per line, strict),
 * then circulith.services.event_import.parse_event and circulith.ledger.payload_checks, then the payload's
 * canonical JSON (circulith.ledger.hashing.canonical_json). This code takes the records those accept
 * without a word and produces the same fields and the same payload text. Whatever it is not certain of
 * (a record any of them might refuse or read another way: a NUL, a lone surrogate, a string where a
 * number was expected, a timestamp in one of ISO 8601's rarer spellings, duplicate keys, deep nesting)
 * makes the whole import "not certain", and the caller runs the Python path, which names the row, field
 * and reason. Refusing more than the reference does is safe; accepting something it refuses is a bug.
 *
 * Part of circulith.store._ledger_native (included by _ledger_native.c, one translation unit). Holds the
 * GIL: floats are read and written by Python's own PyOS_string_to_double and repr (PyOS_double_to_string).
 */
#ifndef CIRCULITH_NATIVE_IMPORT_PARSE_H
#define CIRCULITH_NATIVE_IMPORT_PARSE_H

#define IMPORT_MAX_DEPTH 12 /* deeper payloads are left to the Python path (its limit: 16) */
#define MAX_SAFE_INT 9007199254740991LL

/* Valid UTF-8 as Python's strict decoder reads it (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && s[i + 1] < 0xA0) return 0; /* overlong */
            if (c == 0xED && s[i + 1] > 0x9F) return 0; /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && s[i + 1] < 0x90) return 0;
            if (c == 0xF4 && s[i + 1] > 0x8F) return 0;
            i += 4;
        } else return 0;
    }
    return 1;
}

/* Characters (code points) of valid UTF-8 text. */
static size_t utf8_chars(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* ------------------------------------------------------------------ canonical JSON of a value */

typedef struct {
    span key; /* the key's text (unescaped) */
    span value;
    char *owned; /* the unescaped key when it had escapes */
} member;

static int member_cmp(const void *a, const void *b) {
    const member *x = a, *y = b;
    size_t n = x->key.n < y->key.n ? x->key.n : y->key.n;
    int c = memcmp(x->key.p, y->key.p, n); /* UTF-8 byte order is code point order: Python's sort of str */
    if (c) return c;
    return x->key.n < y->key.n ? -1 : x->key.n > y->key.n;
}

/* A JSON string literal (with its quotes) as canonical_json writes the str json.loads reads from it.
 * 1 when not certain (a NUL, a lone surrogate). */
static int canon_string(span s, sbuf *out, sbuf *tmp) {
    if (!memchr(s.p, '\\', s.n)) return sb_add(out, s.p, s.n) ? -1 : 0; /* no escapes, no control characters */
    if (unescape(s, tmp)) return 1;
    if (memchr(tmp->p, 0, tmp->n)) return 1;
    return sb_add_json_string(out, tmp->p, tmp->n) ? -1 : 0;
}

/* Whether repr(float(token)) is the token itself, without computing it: a plain decimal `-?I.F` (no exponent)
 * of at most 15 significant digits (DBL_DIG: such a decimal is the shortest that reads back as its double, since
 * any two of them reading back alike would print alike with 15 digits), no trailing zero in F unless F is "0"
 * (repr writes 95.0, not 95.00), and at least 1e-4 or zero (below, repr switches to an exponent; at 16 integer
 * digits and beyond the digit count rules it out already). */
static int repr_as_written(span v) {
    const char *p = v.p, *end = v.p + v.n;
    if (p < end && *p == '-') p++;
    const char *dot = memchr(p, '.', (size_t)(end - p));
    if (!dot || memchr(p, 'e', (size_t)(end - p)) || memchr(p, 'E', (size_t)(end - p))) return 0;
    const char *f = dot + 1;
    size_t fn = (size_t)(end - f);
    if (fn == 0 || (fn > 1 && end[-1] == '0')) return 0;
    int sig = 0, leading = 1;
    for (const char *q = p; q < end; q++) {
        if (q == dot) continue;
        if (leading && *q == '0') continue;
        leading = 0;
        sig++;
    }
    if (sig > 15) return 0;
    if (dot - p == 1 && *p == '0' && sig > 0) { /* 0.F: below 1e-4 when F starts with four zeros */
        size_t z = 0;
        while (z < fn && f[z] == '0') z++;
        if (z >= 4) return 0;
    }
    return 1;
}

/* A JSON number token as canonical_json writes what json.loads reads from it (int: str(); float: repr()).
 * 1 when not certain: an integer beyond 2**53 - 1 (refused by the payload checks), a float that overflows. */
static int canon_number(span v, sbuf *out) {
    char buf[400];
    int is_float = memchr(v.p, '.', v.n) || memchr(v.p, 'e', v.n) || memchr(v.p, 'E', v.n);
    if (!is_float) {
        const char *p = v.p;
        size_t n = v.n;
        int neg = *p == '-';
        if (neg) { p++; n--; }
        if (n > 16) return 1;
        int64_t x = 0;
        for (size_t i = 0; i < n; i++) x = x * 10 + (p[i] - '0');
        if (x > MAX_SAFE_INT) return 1;
        size_t m = format_int(buf, neg ? -x : x);
        return sb_add(out, buf, m) ? -1 : 0;
    }
    if (repr_as_written(v)) return sb_add(out, v.p, v.n) ? -1 : 0;
    if (v.n >= sizeof buf) return 1;
    memcpy(buf, v.p, v.n);
    buf[v.n] = 0;
    double d = PyOS_string_to_double(buf, NULL, NULL);
    if (d == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 1; }
    if (!isfinite(d)) return 1;
    char *r = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!r) { PyErr_Clear(); return -1; }
    int rc = sb_add(out, r, strlen(r)) ? -1 : 0;
    PyMem_Free(r);
    return rc;
}

typedef int (*top_member_fn)(void *ctx, span key, span value, size_t canon_off, size_t canon_n);

static int canon_value(span v, int depth, sbuf *out, sbuf *tmp, top_member_fn fn, void *ctx);

/* An object's members sorted by key, each written canonically; `fn` sees each top-level member with the
 * offset of its canonical value in `out`. 1 when not certain (duplicate keys among them). */
static int canon_object(span v, int depth, sbuf *out, sbuf *tmp, top_member_fn fn, void *ctx) {
    member stack[16], *m = stack;
    size_t n = 0, cap = 16;
    int rc = 0;
    const char *p = v.p + 1, *end = v.p + v.n - 1;
    skip_ws(&p, end);
    while (p < end) {
        const char *k0 = p;
        skip_string(&p, end); /* the line was parsed whole before: well formed */
        span key = {k0, (size_t)(p - k0)};
        skip_ws(&p, end);
        p++; /* ':' */
        skip_ws(&p, end);
        const char *v0 = p;
        skip_value(&p, end, 0);
        if (n == cap) {
            member *q = malloc(2 * cap * sizeof *q);
            if (!q) { rc = -1; goto out; }
            memcpy(q, m, n * sizeof *q);
            if (m != stack) free(m);
            m = q;
            cap *= 2;
        }
        member *e = &m[n++];
        e->owned = NULL;
        e->value = (span){v0, (size_t)(p - v0)};
        if (memchr(key.p, '\\', key.n)) {
            if (unescape(key, tmp) || memchr(tmp->p, 0, tmp->n)) { rc = 1; goto out; }
            e->owned = malloc(tmp->n + 1);
            if (!e->owned) { rc = -1; goto out; }
            memcpy(e->owned, tmp->p, tmp->n);
            e->key = (span){e->owned, tmp->n};
        } else e->key = (span){key.p + 1, key.n - 2};
        skip_ws(&p, end);
        if (p < end && *p == ',') { p++; skip_ws(&p, end); }
    }
    qsort(m, n, sizeof *m, member_cmp);
    if (sb_add(out, "{", 1)) { rc = -1; goto out; }
    for (size_t i = 0; i < n; i++) {
        if (i && member_cmp(&m[i - 1], &m[i]) == 0) { rc = 1; goto out; } /* json.loads keeps the last: leave it */
        if ((i && sb_add(out, ",", 1)) || sb_add_json_string(out, m[i].key.p, m[i].key.n) || sb_add(out, ":", 1)) {
            rc = -1;
            goto out;
        }
        size_t at = out->n;
        rc = canon_value(m[i].value, depth + 1, out, tmp, NULL, NULL);
        if (rc) goto out;
        if (fn && fn(ctx, m[i].key, m[i].value, at, out->n - at)) { rc = 1; goto out; }
    }
    if (sb_add(out, "}", 1)) rc = -1;
out:
    for (size_t i = 0; i < n; i++) free(m[i].owned);
    if (m != stack) free(m);
    return rc;
}

/* Append the canonical JSON of the (well-formed) value `v` to `out`: 0, 1 when not certain, -1 out of memory. */
static int canon_value(span v, int depth, sbuf *out, sbuf *tmp, top_member_fn fn, void *ctx) {
    char c = v.p[0];
    if (depth > IMPORT_MAX_DEPTH) return 1;
    if (c == '"') return canon_string(v, out, tmp);
    if (c == '{') return canon_object(v, depth, out, tmp, fn, ctx);
    if (c == '[') {
        if (sb_add(out, "[", 1)) return -1;
        const char *p = v.p + 1, *end = v.p + v.n - 1;
        skip_ws(&p, end);
        int first = 1;
        while (p < end) {
            const char *v0 = p;
            skip_value(&p, end, 0);
            if (!first && sb_add(out, ",", 1)) return -1;
            first = 0;
            int rc = canon_value((span){v0, (size_t)(p - v0)}, depth + 1, out, tmp, NULL, NULL);
            if (rc) return rc;
            skip_ws(&p, end);
            if (p < end && *p == ',') { p++; skip_ws(&p, end); }
        }
        return sb_add(out, "]", 1) ? -1 : 0;
    }
    if (c == 't' || c == 'f' || (c == 'n' && v.n == 4)) return sb_add(out, v.p, v.n) ? -1 : 0;
    if (c == 'N' || c == 'I' || (c == '-' && v.n > 1 && v.p[1] == 'I')) return 1; /* NaN, Infinity: refused */
    return canon_number(v, out);
}

/* ------------------------------------------------------------------ timestamps */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) { /* H. Hinnant's algorithm */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp + (mp < 10 ? 3 : -9);
    *y = (int)(yy + (*m <= 2));
}

static int digits(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)` (a JSON string literal without escapes) as the 27 characters
 * of circulith.ledger.events.format_timestamp in UTC; -1 for any other spelling (the Python path reads
 * it). */
static int utc_timestamp(span lit, char out[27]) {
    if (lit.n < 2 || lit.p[0] != '"' || memchr(lit.p, '\\', lit.n)) return -1;
    const char *s = lit.p + 1;
    size_t n = lit.n - 2;
    int y, mo, d, h, mi, sec, us = 0, off = 0;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
        return -1;
    size_t i = 19;
    if (s[i] == '.') {
        size_t j = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        size_t k = i - j;
        if (k < 1 || k > 6) return -1;
        int f = 0;
        digits(s + j, (int)k, &f);
        for (size_t z = k; z < 6; z++) f *= 10;
        us = f;
    }
    if (i < n && s[i] == 'Z') i++;
    else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59) return -1;
        off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else return -1;
    if (i != n) return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1900 || y > 9000 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
        mi > 59 || sec > 59)
        return -1;
    int64_t minutes = days_from_civil(y, (unsigned)mo, (unsigned)d) * 1440 + h * 60 + mi - off;
    int64_t day = minutes >= 0 ? minutes / 1440 : (minutes - 1439) / 1440;
    int rem = (int)(minutes - day * 1440);
    int yy;
    unsigned mm, dd;
    civil_from_days(day, &yy, &mm, &dd);
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", yy, mm, dd, rem / 60, rem % 60, sec, us);
    memcpy(out, tmp, 27);
    return 0;
}

#endif
