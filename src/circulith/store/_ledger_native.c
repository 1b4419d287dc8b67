/* Compiled verification of the ledger: the per-event steps of `ledger verify` in C.
 *
 * Reads one consistent snapshot of the registry through the database's own C client (SQLite or libpq,
 * on a connection of its own, read only), and for every event, in global order:
 *
 *   - rebuilds its canonical content text and SHA-256 (circulith.ledger.hashing.content_text and
 *     content_sha256), and its RFC 9162 leaf hash when asked;
 *   - checks both hash chains exactly as circulith.ledger.verify.verify_chains does, with the same
 *     findings in the same order and words;
 *   - replays the battery's state exactly as circulith.ledger.replay.StateReplay.feed does, with the
 *     state machine given as a table computed from circulith.ledger.state_machine.
 *
 * It also reads every stored battery (chain tip, state columns, SHA-256 of the passport document).
 * What it returns is compared with the stored state by the same Python code as the pure-Python path
 * (circulith.store.native_verify), which remains the reference: tests run both on the same ledgers,
 * intact and tampered, and require the same report. Anything this code is not certain to read as the
 * Python path does (a column of an unexpected type, a digest that is not 64 characters, a NULL where
 * the schema has none, a payload nested deeper than it follows) makes it return a reason instead, and
 * the caller verifies in Python.
 *
 * SHA-256 is OpenSSL's (the library Python's hashlib uses). The events pass runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <libpq-fe.h>
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* JSON string literal of UTF-8 text as Python's json.encoder.c_encode_basestring writes it (UTF-8 kept). */
static int sb_add_json_string(sbuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (sb_reserve(b, b->n + 6 * n + 3)) return -1;
    char *o = b->p + b->n;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') { *o++ = '\\'; *o++ = '"'; }
        else if (c == '\\') { *o++ = '\\'; *o++ = '\\'; }
        else if (c >= 0x20) *o++ = (char)c;
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
static int sha256(void *unused, const void *data, size_t n, unsigned char out[32]) {
    (void)unused;
    SHA256_CTX c;
    return SHA256_Init(&c) && SHA256_Update(&c, data, n) && SHA256_Final(out, &c) ? 0 : -1;
}

static void to_hex(const unsigned char raw[32], char out[64]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
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

/* Skip a string starting at '"'; 0, -1 when it is not one json.loads takes. */
static int skip_string(const char **pp, const char *end) {
    const char *p = *pp + 1;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') { *pp = p + 1; return 0; }
        if (c < 0x20) return -1;
        if (c == '\\') {
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
        } else p++;
    }
    return -1;
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
    if (LIT("true") || LIT("false") || LIT("null") || LIT("NaN") || LIT("Infinity") || LIT("-Infinity")) return 0;
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
    char buf[64];
    if (v.n >= sizeof buf) return 1; /* a long number literal: non-zero unless all zeros */
    memcpy(buf, v.p, v.n);
    buf[v.n] = 0;
    return strtod(buf, NULL) != 0.0;
}

/* Members of an object: callback per (key, value), in order. 0 ok, -1 not an object / not JSON, -2 too deep. */
typedef int (*member_fn)(void *ctx, span key, span value);

static int each_member(span obj, member_fn fn, void *ctx) {
    const char *p = obj.p, *end = obj.p + obj.n;
    skip_ws(&p, end);
    if (p >= end || *p != '{') return -1;
    p++;
    skip_ws(&p, end);
    if (p < end && *p == '}') { p++; skip_ws(&p, end); return p == end ? 0 : -1; }
    for (;;) {
        const char *k0 = p;
        if (p >= end || *p != '"' || skip_string(&p, end)) return -1;
        span k = {k0, (size_t)(p - k0)};
        skip_ws(&p, end);
        if (p >= end || *p != ':') return -1;
        p++;
        skip_ws(&p, end);
        const char *v0 = p;
        int r = skip_value(&p, end, 1);
        if (r) return r;
        span v = {v0, (size_t)(p - v0)};
        if (fn && fn(ctx, k, v)) return -3;
        skip_ws(&p, end);
        if (p < end && *p == ',') { p++; skip_ws(&p, end); continue; }
        if (p < end && *p == '}') { p++; skip_ws(&p, end); return p == end ? 0 : -1; }
        return -1;
    }
}

/* ------------------------------------------------------------------ replay tables (from Python) */

enum { F_CUSTODY = 1, F_PAYLOAD = 2, F_REGISTERED = 4, F_SHIPPED = 8, F_INSTALLED = 16, F_DYNAMIC = 32 };

typedef struct {
    int n_kinds, n_states;
    char **kinds;
    size_t *kind_len;
    unsigned char *transitions; /* [(n_states + 1) * n_kinds]: row 0 = no state yet; 255 refused */
    unsigned char *flags;
    char **status_after; /* JSON literal of the status an event sets, or NULL */
    int n_dyn;
    char **dyn_keys;
    size_t *dyn_len;
} tables;

/* ------------------------------------------------------------------ batteries */

typedef struct {
    sbuf id;
    int64_t seq;
    char chain[64];
    int state; /* -1: none yet */
    sbuf status; int has_status;       /* raw JSON */
    sbuf custodian; int has_custodian;
    sbuf site; int has_site;           /* has_site 0: None */
    sbuf region; int has_region;       /* raw JSON string */
    sbuf doc; int has_doc;             /* raw JSON */
    int broken;                        /* 0, 1 unknown kind, 2 refused transition, 3 payload not an object */
    sbuf broken_kind, broken_at; int broken_state;
    sbuf *dyn_at, *dyn_val; char *dyn_set;
} battery;

typedef struct {
    battery **slots;
    size_t cap, n;
    battery **order; /* in first-seen order */
    size_t order_cap;
} bat_table;

static uint64_t fnv(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= 1099511628211ULL; }
    return h;
}

static battery *bat_get(bat_table *t, const char *id, size_t n, int n_dyn) {
    if (t->n * 10 >= t->cap * 7) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        battery **slots = calloc(cap, sizeof *slots);
        if (!slots) return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            battery *b = t->slots[i];
            if (!b) continue;
            size_t j = fnv(b->id.p, b->id.n) & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = b;
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t j = fnv(id, n) & (t->cap - 1);
    while (t->slots[j]) {
        battery *b = t->slots[j];
        if (b->id.n == n && memcmp(b->id.p, id, n) == 0) return b;
        j = (j + 1) & (t->cap - 1);
    }
    battery *b = calloc(1, sizeof *b);
    if (!b || sb_set(&b->id, id, n)) { free(b); return NULL; }
    memset(b->chain, '0', 64);
    b->state = -1;
    b->dyn_at = calloc((size_t)n_dyn + 1, sizeof(sbuf));
    b->dyn_val = calloc((size_t)n_dyn + 1, sizeof(sbuf));
    b->dyn_set = calloc((size_t)n_dyn + 1, 1);
    if (!b->dyn_at || !b->dyn_val || !b->dyn_set) return NULL;
    if (t->n >= t->order_cap) {
        size_t c = t->order_cap ? t->order_cap * 2 : 1024;
        battery **o = realloc(t->order, c * sizeof *o);
        if (!o) return NULL;
        t->order = o;
        t->order_cap = c;
    }
    t->slots[j] = b;
    t->order[t->n++] = b;
    return b;
}

static void bat_free(bat_table *t, int n_dyn) {
    for (size_t i = 0; i < t->n; i++) {
        battery *b = t->order[i];
        sb_free(&b->id); sb_free(&b->status); sb_free(&b->custodian); sb_free(&b->site); sb_free(&b->region);
        sb_free(&b->doc); sb_free(&b->broken_kind); sb_free(&b->broken_at);
        for (int k = 0; k < n_dyn; k++) { sb_free(&b->dyn_at[k]); sb_free(&b->dyn_val[k]); }
        free(b->dyn_at); free(b->dyn_val); free(b->dyn_set);
        free(b);
    }
    free(t->slots); free(t->order);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ the verification state */

typedef struct {
    const char *problem;
    int64_t gseq; int has_gseq;
    sbuf ev, bat, detail;
} finding;

typedef struct {
    const tables *T;
    int64_t max_findings;
    finding *findings; int64_t n_findings; int truncated;
    int64_t events;
    int64_t prev_gseq; char prev_global[64];
    bat_table bats;
    sbuf content, tmp, tmp2;
    void *md;
    int want_leaves; sbuf leaves;
    int replay;
    const char *fallback; /* a reason to verify in Python instead */
    int oom;
} vstate;

typedef struct {
    const char *p;
    size_t n;
    int null;
} col;

enum { C_GSEQ, C_BAT, C_BSEQ, C_EV, C_KIND, C_AT, C_ACTOR, C_SITE, C_PAYLOAD, C_CSHA, C_BPREV, C_BCHAIN, C_GPREV,
       C_GCHAIN, N_COLS };

static void add_finding(vstate *V, const char *problem, int64_t gseq, const col *c, const char *fmt, int64_t a,
                        int64_t b) {
    if (V->n_findings >= V->max_findings) { V->truncated = 1; return; }
    finding *f = &V->findings[V->n_findings++];
    memset(f, 0, sizeof *f);
    f->problem = problem;
    f->gseq = gseq;
    f->has_gseq = 1;
    char detail[256];
    snprintf(detail, sizeof detail, fmt, (long long)a, (long long)b);
    if (sb_set(&f->ev, c[C_EV].p, c[C_EV].n) || sb_set(&f->bat, c[C_BAT].p, c[C_BAT].n) ||
        sb_set(&f->detail, detail, strlen(detail)))
        V->oom = 1;
}

/* --- replay of one event (circulith.ledger.replay.StateReplay.feed) --- */

typedef struct {
    vstate *V;
    int n_dyn;
    span *last; /* last value of each dynamic key */
    span doc, status, dynamic, to_org, region;
    int has_doc, has_status, has_dynamic, has_to_org, has_region;
    int registered;
} payload_scan;

/* Index of a dynamic key, or -1. */
static int dyn_index(const tables *T, const char *p, size_t n) {
    for (int i = 0; i < T->n_dyn; i++)
        if (T->dyn_len[i] == n && memcmp(T->dyn_keys[i], p, n) == 0) return i;
    return -1;
}

static int scan_member(void *ctx, span k, span v) {
    payload_scan *s = ctx;
    const char *p;
    size_t n;
    if (key_text(k, &s->V->tmp, &p, &n)) return 0;
    if (s->registered) {
        if (NAME_IS(p, n, "document_sha256")) { s->doc = v; s->has_doc = 1; return 0; }
        if (NAME_IS(p, n, "status")) { s->status = v; s->has_status = 1; return 0; }
        if (NAME_IS(p, n, "dynamic")) { s->dynamic = v; s->has_dynamic = 1; return 0; }
    }
    if (NAME_IS(p, n, "to_org_id")) { s->to_org = v; s->has_to_org = 1; }
    if (NAME_IS(p, n, "region")) { s->region = v; s->has_region = 1; }
    int i = dyn_index(s->V->T, p, n);
    if (i >= 0) s->last[i] = v;
    return 0;
}

typedef struct {
    vstate *V;
    span *entries; /* last entry of each dynamic key */
} initial_scan;

static int scan_initial(void *ctx, span k, span v) {
    initial_scan *s = ctx;
    const char *p;
    size_t n;
    if (key_text(k, &s->V->tmp, &p, &n)) return 0;
    int i = dyn_index(s->V->T, p, n);
    if (i >= 0) s->entries[i] = v;
    return 0;
}

typedef struct {
    vstate *V;
    span updated_at, value;
    int has_updated_at, has_value;
} entry_scan;

static int scan_entry(void *ctx, span k, span v) {
    entry_scan *s = ctx;
    const char *p;
    size_t n;
    if (key_text(k, &s->V->tmp, &p, &n)) return 0;
    if (NAME_IS(p, n, "updated_at")) { s->updated_at = v; s->has_updated_at = 1; }
    else if (NAME_IS(p, n, "value")) { s->value = v; s->has_value = 1; }
    return 0;
}

static int set_dyn(vstate *V, battery *b, int i, const char *at, size_t at_n, span value) {
    b->dyn_set[i] = 1;
    if (sb_set(&b->dyn_at[i], at, at_n) || sb_set(&b->dyn_val[i], value.p, value.n)) { V->oom = 1; return -1; }
    return 0;
}

static void mark_broken(vstate *V, battery *b, int code, const col *c, int prev_state) {
    if (b->broken) return;
    b->broken = code;
    b->broken_state = prev_state;
    if (sb_set(&b->broken_kind, c[C_KIND].p, c[C_KIND].n) || sb_set(&b->broken_at, c[C_AT].p, c[C_AT].n)) V->oom = 1;
}

static void replay_event(vstate *V, battery *b, const col *c) {
    const tables *T = V->T;
    int k = -1;
    for (int i = 0; i < T->n_kinds; i++)
        if (T->kind_len[i] == c[C_KIND].n && memcmp(T->kinds[i], c[C_KIND].p, c[C_KIND].n) == 0) { k = i; break; }
    if (k < 0) { mark_broken(V, b, 1, c, b->state); return; }
    if (!b->broken) {
        unsigned char after = T->transitions[(size_t)(b->state + 1) * (size_t)T->n_kinds + (size_t)k];
        if (after == 255) { mark_broken(V, b, 2, c, b->state); return; }
        b->state = after;
    }
    unsigned char f = T->flags[k];
    if (!(f & F_PAYLOAD)) {
        if (f & F_CUSTODY) {
            b->has_custodian = 1;
            if (sb_set(&b->custodian, c[C_ACTOR].p, c[C_ACTOR].n)) V->oom = 1;
            b->has_site = !c[C_SITE].null;
            if (b->has_site && sb_set(&b->site, c[C_SITE].p, c[C_SITE].n)) V->oom = 1;
        }
        if (T->status_after[k]) {
            b->has_status = 1;
            if (sb_set(&b->status, T->status_after[k], strlen(T->status_after[k]))) V->oom = 1;
        }
        return;
    }
    span last[64];
    payload_scan s;
    memset(&s, 0, sizeof s);
    memset(last, 0, sizeof last);
    s.V = V;
    s.n_dyn = T->n_dyn;
    s.last = last;
    s.registered = (f & F_REGISTERED) != 0;
    span payload = {c[C_PAYLOAD].p, c[C_PAYLOAD].n};
    int r = each_member(payload, scan_member, &s);
    if (r == -2) { V->fallback = "a payload nested deeper than the compiled verifier follows"; return; }
    if (r) { mark_broken(V, b, 3, c, b->state); return; }
    if (f & F_REGISTERED) {
        b->has_doc = 1;
        if (s.has_doc ? sb_set(&b->doc, s.doc.p, s.doc.n) : sb_set(&b->doc, "null", 4)) V->oom = 1;
        b->has_status = 1;
        if (s.has_status ? sb_set(&b->status, s.status.p, s.status.n) : sb_set(&b->status, "null", 4)) V->oom = 1;
        if (s.has_dynamic && s.dynamic.p[0] == '{') {
            span entries[64];
            memset(entries, 0, sizeof entries);
            initial_scan is = {V, entries};
            if (each_member(s.dynamic, scan_initial, &is)) { V->fallback = "an initial dynamic block it cannot read"; return; }
            for (int i = 0; i < T->n_dyn; i++) {
                if (!entries[i].p || entries[i].p[0] != '{') continue;
                entry_scan es;
                memset(&es, 0, sizeof es);
                es.V = V;
                if (each_member(entries[i], scan_entry, &es)) { V->fallback = "a dynamic entry it cannot read"; return; }
                if (!es.has_updated_at || es.updated_at.p[0] != '"') continue;
                if (unescape(es.updated_at, &V->tmp2)) { V->fallback = "a lone surrogate in an update time"; return; }
                span value = es.has_value ? es.value : (span){"null", 4};
                set_dyn(V, b, i, V->tmp2.p, V->tmp2.n, value);
            }
        }
    }
    if (T->status_after[k]) {
        b->has_status = 1;
        if (sb_set(&b->status, T->status_after[k], strlen(T->status_after[k]))) V->oom = 1;
    }
    if (f & F_CUSTODY) {
        b->has_custodian = 1;
        if (sb_set(&b->custodian, c[C_ACTOR].p, c[C_ACTOR].n)) V->oom = 1;
        b->has_site = !c[C_SITE].null;
        if (b->has_site && sb_set(&b->site, c[C_SITE].p, c[C_SITE].n)) V->oom = 1;
    }
    if ((f & F_SHIPPED) && s.has_to_org && truthy(s.to_org)) b->has_site = 0;
    if ((f & F_INSTALLED) && s.has_region && s.region.p[0] == '"') {
        b->has_region = 1;
        if (sb_set(&b->region, s.region.p, s.region.n)) V->oom = 1;
    }
    if (f & F_DYNAMIC) {
        for (int i = 0; i < T->n_dyn; i++) {
            span v = last[i];
            if (!v.p || (v.n == 4 && memcmp(v.p, "null", 4) == 0)) continue;
            if (b->dyn_set[i]) { /* current[0] <= at, as Python compares str: code points, i.e. UTF-8 bytes */
                sbuf *cur = &b->dyn_at[i];
                size_t m = cur->n < c[C_AT].n ? cur->n : c[C_AT].n;
                int cmp = memcmp(cur->p, c[C_AT].p, m);
                if (cmp > 0 || (cmp == 0 && cur->n > c[C_AT].n)) continue;
            }
            set_dyn(V, b, i, c[C_AT].p, c[C_AT].n, v);
        }
    }
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

/* --- chains of one event (circulith.ledger.verify.verify_chains) --- */

/* Columns an event must have as the Python verifier reads them; else a reason to leave it to Python. */
static const char *row_problem(const col *c) {
    for (int i = C_CSHA; i <= C_GCHAIN; i++)
        if (c[i].null || c[i].n != 64) return "a stored digest that is not 64 characters";
    for (int i = 0; i < N_COLS; i++)
        if (c[i].null && i != C_GSEQ && i != C_BSEQ && i != C_SITE) return "a NULL in an event column that has none";
    return NULL;
}

enum { OK_CONTENT = 1, OK_GLOBAL = 2, OK_BATTERY = 4 };

/* The digests of one event (no shared state: runs on the hashing thread). Sets `ok` bits and the leaf. */
static int hash_row(sbuf *t, const col *c, int64_t gseq, int64_t bseq, unsigned char *ok, unsigned char leaf[32],
                    int want_leaf) {
    char num[48];
    size_t m = format_int(num, bseq);
    num[m++] = '|';
    m += format_int(num + m, gseq);
    num[m++] = '|';
    t->n = 0;
    if (sb_add(t, num, m) || sb_add(t, "{\"actor_org_id\":", 16) || sb_add_json_string(t, c[C_ACTOR].p, c[C_ACTOR].n) ||
        sb_add(t, ",\"battery_id\":", 14) || sb_add_json_string(t, c[C_BAT].p, c[C_BAT].n) ||
        sb_add(t, ",\"event_id\":", 12) || sb_add_json_string(t, c[C_EV].p, c[C_EV].n) ||
        sb_add(t, ",\"kind\":", 8) || sb_add_json_string(t, c[C_KIND].p, c[C_KIND].n) ||
        sb_add(t, ",\"occurred_at\":", 15) || sb_add_json_string(t, c[C_AT].p, c[C_AT].n) ||
        sb_add(t, ",\"payload\":", 11) || sb_add(t, c[C_PAYLOAD].p, c[C_PAYLOAD].n) || sb_add(t, ",\"site_id\":", 11) ||
        (c[C_SITE].null ? sb_add(t, "null", 4) : sb_add_json_string(t, c[C_SITE].p, c[C_SITE].n)) || sb_add(t, "}", 1))
        return -1;
    unsigned char raw[33];
    char hex[64];
    if (sha256(NULL, t->p, t->n, raw + 1)) return -1;
    to_hex(raw + 1, hex);
    *ok = memcmp(hex, c[C_CSHA].p, 64) == 0 ? OK_CONTENT : 0;
    if (want_leaf) {
        raw[0] = 0;
        if (sha256(NULL, raw, 33, leaf)) return -1;
    }
    char pair[128];
    memcpy(pair, c[C_GPREV].p, 64);
    memcpy(pair + 64, c[C_CSHA].p, 64);
    if (sha256(NULL, pair, 128, raw)) return -1;
    to_hex(raw, hex);
    if (memcmp(hex, c[C_GCHAIN].p, 64) == 0) *ok |= OK_GLOBAL;
    memcpy(pair, c[C_BPREV].p, 64);
    if (sha256(NULL, pair, 128, raw)) return -1;
    to_hex(raw, hex);
    if (memcmp(hex, c[C_BCHAIN].p, 64) == 0) *ok |= OK_BATTERY;
    return 0;
}

/* The order-dependent checks of one event, with its digests already compared (`ok`), then its replay:
 * the findings of circulith.ledger.verify.verify_chains, in its order and words. */
static int seq_row(vstate *V, const col *c, int64_t gseq, int64_t bseq, unsigned char ok, const unsigned char *leaf) {
    static const char *MISSING_G = "global events #%lld..#%lld are missing before this one";
    static const char *BACK_G = "global sequence goes back from #%lld";
    static const char *MISSING_B = "battery events #%lld..#%lld are missing before this one";
    static const char *BACK_B = "battery sequence #%lld does not follow #%lld";
    if (V->want_leaves && sb_add(&V->leaves, (const char *)leaf, 32)) { V->oom = 1; return -1; }
    V->events++;
    if (!(ok & OK_CONTENT)) add_finding(V, "altered", gseq, c, "stored content does not match its SHA-256 digest", 0, 0);
    if (gseq != V->prev_gseq + 1) {
        if (gseq > V->prev_gseq + 1) add_finding(V, "deleted", gseq, c, MISSING_G, V->prev_gseq + 1, gseq - 1);
        else add_finding(V, "inserted_or_reordered", gseq, c, BACK_G, V->prev_gseq, 0);
    } else if (memcmp(c[C_GPREV].p, V->prev_global, 64) != 0)
        add_finding(V, "inserted_or_reordered", gseq, c,
                    "predecessor link does not match the previous event in the global chain", 0, 0);
    if (!(ok & OK_GLOBAL))
        add_finding(V, "altered", gseq, c, "global chain digest does not match predecessor and content", 0, 0);
    V->prev_gseq = gseq;
    memcpy(V->prev_global, c[C_GCHAIN].p, 64);
    battery *b = bat_get(&V->bats, c[C_BAT].p, c[C_BAT].n, V->T->n_dyn);
    if (!b) { V->oom = 1; return -1; }
    if (bseq != b->seq + 1) {
        if (bseq > b->seq + 1) add_finding(V, "deleted", gseq, c, MISSING_B, b->seq + 1, bseq - 1);
        else add_finding(V, "inserted_or_reordered", gseq, c, BACK_B, bseq, b->seq);
    } else if (memcmp(c[C_BPREV].p, b->chain, 64) != 0)
        add_finding(V, "inserted_or_reordered", gseq, c,
                    "predecessor link does not match the previous event of this battery", 0, 0);
    if (!(ok & OK_BATTERY))
        add_finding(V, "altered", gseq, c, "battery chain digest does not match predecessor and content", 0, 0);
    b->seq = bseq;
    memcpy(b->chain, c[C_BCHAIN].p, 64);
    if (V->replay) replay_event(V, b, c);
    return V->oom || V->fallback ? -1 : 0;
}

/* ------------------------------------------------------------------ the pipeline
 *
 * Two batches of rows alternate between the reading thread (which fills one from the database and runs
 * the order-dependent checks and the replay of the other) and a hashing thread (content texts and the
 * three digests of each row). The digests of a row depend on that row alone, so hashing them apart
 * changes nothing in what is found or in which order.
 */

#define BATCH_ROWS 4096

enum { B_FREE, B_FILLED, B_HASHED, B_STOP };

typedef struct {
    int state, n, failed;
    col (*cols)[N_COLS];
    int64_t *gseq, *bseq;
    unsigned char *ok;
    unsigned char (*leaf)[32];
    sbuf arena;           /* SQLite: the rows' bytes (column pointers are valid only until the next step) */
    size_t (*offs)[N_COLS];
    PGresult *res;        /* PostgreSQL: the rows stay in their result until checked */
} batch;

typedef struct {
    batch b[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want_leaves;
    pthread_t worker;
    int started;
} pipeline;

static void *hash_worker(void *arg) {
    pipeline *P = arg;
    sbuf t = {0};
    for (int k = 0;; k = 1 - k) {
        batch *b = &P->b[k];
        pthread_mutex_lock(&P->mu);
        while (b->state != B_FILLED && b->state != B_STOP) pthread_cond_wait(&P->cv, &P->mu);
        int stop = b->state == B_STOP;
        pthread_mutex_unlock(&P->mu);
        if (stop) break;
        int failed = 0;
        for (int i = 0; i < b->n && !failed; i++)
            failed = hash_row(&t, b->cols[i], b->gseq[i], b->bseq[i], &b->ok[i], b->leaf[i], P->want_leaves);
        pthread_mutex_lock(&P->mu);
        b->failed = failed;
        b->state = B_HASHED;
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
    }
    sb_free(&t);
    return NULL;
}

static int pipeline_start(pipeline *P, int want_leaves) {
    memset(P, 0, sizeof *P);
    P->want_leaves = want_leaves;
    for (int k = 0; k < 2; k++) {
        batch *b = &P->b[k];
        b->cols = malloc(sizeof *b->cols * BATCH_ROWS);
        b->offs = malloc(sizeof *b->offs * BATCH_ROWS);
        b->gseq = malloc(sizeof *b->gseq * BATCH_ROWS);
        b->bseq = malloc(sizeof *b->bseq * BATCH_ROWS);
        b->ok = malloc(BATCH_ROWS);
        b->leaf = malloc(sizeof *b->leaf * BATCH_ROWS);
        if (!b->cols || !b->offs || !b->gseq || !b->bseq || !b->ok || !b->leaf) return -1;
    }
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->cv, NULL);
    if (pthread_create(&P->worker, NULL, hash_worker, P)) return -1;
    P->started = 1;
    return 0;
}

static void batch_set(pipeline *P, batch *b, int state) {
    pthread_mutex_lock(&P->mu);
    b->state = state;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
}

static void batch_wait(pipeline *P, batch *b, int state) {
    pthread_mutex_lock(&P->mu);
    while (b->state != state) pthread_cond_wait(&P->cv, &P->mu);
    pthread_mutex_unlock(&P->mu);
}

static void pipeline_stop(pipeline *P) {
    if (P->started) {
        /* the worker waits on the batch after the last one it hashed: stop both */
        for (int k = 0; k < 2; k++) batch_wait(P, &P->b[k], P->b[k].state == B_FILLED ? B_HASHED : P->b[k].state);
        pthread_mutex_lock(&P->mu);
        P->b[0].state = P->b[1].state = B_STOP;
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
        pthread_join(P->worker, NULL);
        pthread_mutex_destroy(&P->mu);
        pthread_cond_destroy(&P->cv);
    }
    for (int k = 0; k < 2; k++) {
        batch *b = &P->b[k];
        free(b->cols); free(b->offs); free(b->gseq); free(b->bseq); free(b->ok); free(b->leaf);
        sb_free(&b->arena);
        if (b->res) PQclear(b->res);
    }
    memset(P, 0, sizeof *P);
}

/* Fills a batch with up to BATCH_ROWS rows; returns the number, 0 at the end, -1 on failure. */
typedef int (*fill_fn)(void *src, batch *b, vstate *V);

/* Runs the pipeline over a row source. 0 when every row was checked, -1 otherwise (V says why). */
static int run_pipeline(vstate *V, fill_fn fill, void *src) {
    pipeline P;
    if (pipeline_start(&P, V->want_leaves)) { V->oom = 1; pipeline_stop(&P); return -1; }
    int k = 0, rc = 0;
    int n = fill(src, &P.b[0], V);
    if (n > 0) batch_set(&P, &P.b[0], B_FILLED);
    while (n > 0) {
        batch *cur = &P.b[k], *next = &P.b[1 - k];
        int m = fill(src, next, V); /* while the worker hashes `cur` */
        if (m > 0) batch_set(&P, next, B_FILLED);
        batch_wait(&P, cur, B_HASHED);
        if (cur->failed) { V->oom = 1; rc = -1; break; }
        for (int i = 0; i < cur->n; i++)
            if (seq_row(V, cur->cols[i], cur->gseq[i], cur->bseq[i], cur->ok[i], cur->leaf[i])) { rc = -1; break; }
        if (cur->res) { PQclear(cur->res); cur->res = NULL; }
        batch_set(&P, cur, B_FREE);
        if (rc) break;
        n = m;
        k = 1 - k;
    }
    if (n < 0) rc = -1;
    pipeline_stop(&P);
    return rc;
}

/* ------------------------------------------------------------------ results to Python */

static PyObject *str_or_none(const sbuf *b, int has) {
    if (!has) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(b->p ? b->p : "", (Py_ssize_t)b->n, "surrogateescape");
}

static PyObject *results(vstate *V, PyObject *stored, PyObject *stored_head) {
    PyObject *out = PyDict_New(), *findings = PyList_New(0), *bats = PyDict_New();
    if (!out || !findings || !bats) goto fail;
    for (int64_t i = 0; i < V->n_findings; i++) {
        finding *f = &V->findings[i];
        PyObject *t = Py_BuildValue("(sLs#s#s#)", f->problem, (long long)f->gseq, f->ev.p, (Py_ssize_t)f->ev.n, f->bat.p,
                                    (Py_ssize_t)f->bat.n, f->detail.p, (Py_ssize_t)f->detail.n);
        if (!t || PyList_Append(findings, t)) { Py_XDECREF(t); goto fail; }
        Py_DECREF(t);
    }
    const tables *T = V->T;
    for (size_t i = 0; i < V->bats.n; i++) {
        battery *b = V->bats.order[i];
        PyObject *dyn = PyDict_New();
        if (!dyn) goto fail;
        for (int k = 0; k < T->n_dyn; k++) {
            if (!b->dyn_set[k]) continue;
            PyObject *e = Py_BuildValue("(NN)", str_or_none(&b->dyn_at[k], 1), str_or_none(&b->dyn_val[k], 1));
            if (!e || PyDict_SetItemString(dyn, T->dyn_keys[k], e)) { Py_XDECREF(e); Py_DECREF(dyn); goto fail; }
            Py_DECREF(e);
        }
        PyObject *broken;
        if (b->broken)
            broken = Py_BuildValue("(iNNi)", b->broken, str_or_none(&b->broken_kind, 1), str_or_none(&b->broken_at, 1),
                                   b->broken_state);
        else broken = Py_NewRef(Py_None);
        PyObject *v = Py_BuildValue("(Ls#iNNNNNNN)", (long long)b->seq, b->chain, (Py_ssize_t)64, b->state,
                                    str_or_none(&b->status, b->has_status), str_or_none(&b->custodian, b->has_custodian),
                                    str_or_none(&b->site, b->has_site), str_or_none(&b->region, b->has_region),
                                    str_or_none(&b->doc, b->has_doc), broken, dyn);
        PyObject *key = str_or_none(&b->id, 1);
        if (!v || !key || PyDict_SetItem(bats, key, v)) { Py_XDECREF(v); Py_XDECREF(key); goto fail; }
        Py_DECREF(v);
        Py_DECREF(key);
    }
    PyObject *leaves = V->want_leaves ? PyBytes_FromStringAndSize(V->leaves.p ? V->leaves.p : "", (Py_ssize_t)V->leaves.n)
                                      : Py_NewRef(Py_None);
    PyObject *head = Py_BuildValue("(Ls#)", (long long)V->prev_gseq, V->prev_global, (Py_ssize_t)64);
    if (!leaves || !head) { Py_XDECREF(leaves); Py_XDECREF(head); goto fail; }
    PyDict_SetItemString(out, "leaves", leaves);
    PyDict_SetItemString(out, "head", head);
    Py_DECREF(leaves);
    Py_DECREF(head);
    PyObject *n = PyLong_FromLongLong(V->events);
    PyDict_SetItemString(out, "events", n);
    Py_XDECREF(n);
    PyDict_SetItemString(out, "findings", findings);
    PyDict_SetItemString(out, "truncated", V->truncated ? Py_True : Py_False);
    PyDict_SetItemString(out, "batteries", bats);
    PyDict_SetItemString(out, "stored", stored);
    PyDict_SetItemString(out, "stored_head", stored_head);
    Py_DECREF(findings);
    Py_DECREF(bats);
    return out;
fail:
    Py_XDECREF(out); Py_XDECREF(findings); Py_XDECREF(bats);
    return NULL;
}

static PyObject *fallback_result(const char *why) {
    return Py_BuildValue("{s:s}", "fallback", why);
}

/* ------------------------------------------------------------------ tables from Python */

static void free_tables(tables *T) {
    for (int i = 0; i < T->n_kinds; i++) { free(T->kinds ? T->kinds[i] : NULL); free(T->status_after ? T->status_after[i] : NULL); }
    for (int i = 0; i < T->n_dyn; i++) free(T->dyn_keys ? T->dyn_keys[i] : NULL);
    free(T->kinds); free(T->kind_len); free(T->transitions); free(T->flags); free(T->status_after); free(T->dyn_keys);
    free(T->dyn_len);
    memset(T, 0, sizeof *T);
}

static char *dup_utf8(PyObject *s, size_t *len) {
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (!p) return NULL;
    char *q = malloc((size_t)n + 1);
    if (!q) { PyErr_NoMemory(); return NULL; }
    memcpy(q, p, (size_t)n + 1);
    if (len) *len = (size_t)n;
    return q;
}

static int read_tables(PyObject *kinds, PyObject *transitions, PyObject *flags, PyObject *status_after, PyObject *dyn_keys,
                       int n_states, tables *T) {
    memset(T, 0, sizeof *T);
    if (!PyTuple_Check(kinds) || !PyBytes_Check(transitions) || !PyBytes_Check(flags) || !PyTuple_Check(status_after) ||
        !PyTuple_Check(dyn_keys)) {
        PyErr_SetString(PyExc_TypeError, "kinds, status_after and dynamic_keys are tuples; transitions and flags bytes");
        return -1;
    }
    T->n_kinds = (int)PyTuple_GET_SIZE(kinds);
    T->n_states = n_states;
    T->n_dyn = (int)PyTuple_GET_SIZE(dyn_keys);
    if (T->n_dyn > 64 || PyBytes_GET_SIZE(flags) != T->n_kinds || PyTuple_GET_SIZE(status_after) != T->n_kinds ||
        PyBytes_GET_SIZE(transitions) != (Py_ssize_t)(n_states + 1) * T->n_kinds) {
        PyErr_SetString(PyExc_ValueError, "inconsistent replay tables");
        return -1;
    }
    T->kinds = calloc((size_t)T->n_kinds, sizeof(char *));
    T->kind_len = calloc((size_t)T->n_kinds, sizeof(size_t));
    T->status_after = calloc((size_t)T->n_kinds, sizeof(char *));
    T->dyn_keys = calloc((size_t)T->n_dyn + 1, sizeof(char *));
    T->dyn_len = calloc((size_t)T->n_dyn + 1, sizeof(size_t));
    T->transitions = malloc((size_t)PyBytes_GET_SIZE(transitions));
    T->flags = malloc((size_t)T->n_kinds + 1);
    if (!T->kinds || !T->kind_len || !T->status_after || !T->dyn_keys || !T->dyn_len || !T->transitions || !T->flags) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(T->transitions, PyBytes_AS_STRING(transitions), (size_t)PyBytes_GET_SIZE(transitions));
    memcpy(T->flags, PyBytes_AS_STRING(flags), (size_t)T->n_kinds);
    for (int i = 0; i < T->n_kinds; i++) {
        if (!(T->kinds[i] = dup_utf8(PyTuple_GET_ITEM(kinds, i), &T->kind_len[i]))) return -1;
        PyObject *s = PyTuple_GET_ITEM(status_after, i);
        if (s != Py_None && !(T->status_after[i] = dup_utf8(s, NULL))) return -1;
    }
    for (int i = 0; i < T->n_dyn; i++)
        if (!(T->dyn_keys[i] = dup_utf8(PyTuple_GET_ITEM(dyn_keys, i), &T->dyn_len[i]))) return -1;
    return 0;
}

static int init_state(vstate *V, const tables *T, long long max_findings, int want_leaves, int replay) {
    memset(V, 0, sizeof *V);
    V->T = T;
    V->max_findings = max_findings < 0 ? 0 : max_findings;
    V->findings = calloc((size_t)V->max_findings + 1, sizeof(finding));
    V->want_leaves = want_leaves;
    V->replay = replay;
    memset(V->prev_global, '0', 64);
    if (!V->findings) { PyErr_NoMemory(); return -1; }
    return 0;
}

static void free_state(vstate *V) {
    for (int64_t i = 0; i < V->n_findings; i++) {
        sb_free(&V->findings[i].ev); sb_free(&V->findings[i].bat); sb_free(&V->findings[i].detail);
    }
    free(V->findings);
    bat_free(&V->bats, V->T ? V->T->n_dyn : 0);
    sb_free(&V->content); sb_free(&V->tmp); sb_free(&V->tmp2); sb_free(&V->leaves);
}

static const char *EVENTS_SQL =
    "SELECT global_seq, battery_id, battery_seq, event_id, kind, occurred_at, actor_org_id, site_id, payload_json, "
    "content_sha256, battery_prev_sha256, battery_chain_sha256, global_prev_sha256, global_chain_sha256 "
    "FROM events ORDER BY global_seq";
static const char *BATTERIES_SQL =
    "SELECT battery_id, last_seq, last_chain_sha256, lifecycle_state, status, custodian_org_id, custody_site_id, "
    "region, soh_pct, document_sha256, document, dynamic_json FROM batteries";
static const char *HEAD_SQL = "SELECT global_seq, global_chain_sha256 FROM ledger_head";

/* A stored battery as the tuple circulith.store.native_verify expects; the document replaced by its digest. */
static PyObject *stored_tuple(void *md, PyObject *cells[12], const char *doc, size_t doc_n) {
    unsigned char raw[32];
    char hex[64];
    if (sha256(md, doc, doc_n, raw)) return PyErr_NoMemory();
    to_hex(raw, hex);
    PyObject *digest = PyUnicode_FromStringAndSize(hex, 64);
    if (!digest) return NULL;
    Py_SETREF(cells[10], digest);
    PyObject *t = PyTuple_New(12);
    if (!t) return NULL;
    for (int i = 0; i < 12; i++) { PyTuple_SET_ITEM(t, i, cells[i]); cells[i] = NULL; }
    return t;
}

static int parse_int64(const char *p, int64_t *out) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || *end) return -1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------ row sources */

typedef struct {
    sqlite3_stmt *st;
    int done, rc;
} sqlite_src;

static int finish_batch(batch *b, vstate *V) {
    for (int i = 0; i < b->n; i++) {
        const char *why = row_problem(b->cols[i]);
        if (why) { V->fallback = why; return -1; }
    }
    return b->n;
}

static int sqlite_fill(void *source, batch *b, vstate *V) {
    sqlite_src *S = source;
    sqlite3_stmt *st = S->st;
    b->n = 0;
    b->arena.n = 0;
    if (S->done) return 0;
    while (b->n < BATCH_ROWS) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) { S->done = 1; break; }
        if (rc != SQLITE_ROW) { S->rc = rc; return -1; }
        if (sqlite3_column_type(st, C_GSEQ) != SQLITE_INTEGER || sqlite3_column_type(st, C_BSEQ) != SQLITE_INTEGER) {
            V->fallback = "a sequence number that is not an integer";
            return -1;
        }
        col *c = b->cols[b->n];
        for (int i = 0; i < N_COLS; i++) {
            c[i].null = 0;
            c[i].n = 0;
            b->offs[b->n][i] = b->arena.n;
            if (i == C_GSEQ || i == C_BSEQ) continue;
            int ty = sqlite3_column_type(st, i);
            if (ty == SQLITE_NULL) { c[i].null = 1; continue; }
            if (ty != SQLITE_TEXT) { V->fallback = "an event column that is not text"; return -1; }
            const char *text = (const char *)sqlite3_column_text(st, i);
            c[i].n = (size_t)sqlite3_column_bytes(st, i);
            if (sb_add(&b->arena, text ? text : "", c[i].n)) { V->oom = 1; return -1; }
        }
        b->gseq[b->n] = sqlite3_column_int64(st, C_GSEQ);
        b->bseq[b->n] = sqlite3_column_int64(st, C_BSEQ);
        b->n++;
    }
    for (int r = 0; r < b->n; r++) /* the arena has stopped moving: point into it */
        for (int i = 0; i < N_COLS; i++) b->cols[r][i].p = b->arena.p ? b->arena.p + b->offs[r][i] : "";
    return finish_batch(b, V);
}

typedef struct {
    PGconn *conn;
    int done, failed;
} pg_src;

static int pg_fill(void *source, batch *b, vstate *V) {
    pg_src *S = source;
    b->n = 0;
    if (S->done) return 0;
    PGresult *r = PQexec(S->conn, "FETCH 4096 FROM circulith_events"); /* at most BATCH_ROWS */
    if (PQresultStatus(r) != PGRES_TUPLES_OK) { PQclear(r); S->failed = 1; return -1; }
    int rows = PQntuples(r);
    if (!rows) { PQclear(r); S->done = 1; return 0; }
    b->res = r;
    for (int row = 0; row < rows; row++) {
        col *c = b->cols[row];
        for (int i = 0; i < N_COLS; i++) {
            c[i].null = PQgetisnull(r, row, i);
            c[i].p = PQgetvalue(r, row, i);
            c[i].n = (size_t)PQgetlength(r, row, i);
        }
        if (c[C_GSEQ].null || c[C_BSEQ].null || parse_int64(c[C_GSEQ].p, &b->gseq[row]) ||
            parse_int64(c[C_BSEQ].p, &b->bseq[row])) {
            V->fallback = "a sequence number that is not an integer";
            return -1;
        }
        b->n++;
    }
    return finish_batch(b, V);
}

/* ------------------------------------------------------------------ SQLite */

static PyObject *sqlite_cell(sqlite3_stmt *st, int i) {
    switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER: return PyLong_FromLongLong(sqlite3_column_int64(st, i));
        case SQLITE_FLOAT: return PyFloat_FromDouble(sqlite3_column_double(st, i));
        case SQLITE_TEXT:
            return PyUnicode_DecodeUTF8((const char *)sqlite3_column_text(st, i), sqlite3_column_bytes(st, i), NULL);
        case SQLITE_BLOB: return PyBytes_FromStringAndSize(sqlite3_column_blob(st, i), sqlite3_column_bytes(st, i));
        default: Py_RETURN_NONE;
    }
}

static PyObject *verify_sqlite(PyObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"path", "kinds", "transitions", "flags", "status_after", "dynamic_keys", "n_states",
                            "max_findings", "leaves", "replay", "uri", NULL};
    const char *path;
    PyObject *kinds, *transitions, *flags, *status_after, *dyn_keys;
    int n_states, want_leaves = 0, replay = 1, uri = 0;
    long long max_findings = 1000;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sOOOOOi|Lppp", names, &path, &kinds, &transitions, &flags, &status_after,
                                     &dyn_keys, &n_states, &max_findings, &want_leaves, &replay, &uri))
        return NULL;
    tables T;
    vstate V;
    memset(&V, 0, sizeof V);
    PyObject *stored = NULL, *head = NULL, *result = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    const char *failure = NULL;
    if (read_tables(kinds, transitions, flags, status_after, dyn_keys, n_states, &T)) goto done;
    if (init_state(&V, &T, max_findings, want_leaves, replay)) goto done;
    /* One thread uses this connection: no per-call mutex (each sqlite3_column_* call would take it). */
    int flags_open = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (uri ? SQLITE_OPEN_URI : 0);
    if (sqlite3_open_v2(path, &db, flags_open, NULL) != SQLITE_OK) { failure = "cannot open the database"; goto done; }
    sqlite3_busy_timeout(db, 30000);
    /* Pages read through a memory map rather than copied by pread (this connection only reads). */
    sqlite3_exec(db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL);
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) { failure = sqlite3_errmsg(db); goto done; }
    /* The head first: the snapshot starts here and every later read agrees with it. */
    if (sqlite3_prepare_v2(db, HEAD_SQL, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        failure = "no ledger head";
        goto done;
    }
    head = Py_BuildValue("(NN)", sqlite_cell(st, 0), sqlite_cell(st, 1));
    sqlite3_finalize(st);
    st = NULL;
    if (!head || !(stored = PyList_New(0))) goto done;
    if (sqlite3_prepare_v2(db, BATTERIES_SQL, -1, &st, NULL) != SQLITE_OK) { failure = sqlite3_errmsg(db); goto done; }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 10) != SQLITE_TEXT) { V.fallback = "a passport document that is not text"; break; }
        PyObject *cells[12];
        int bad = 0;
        for (int i = 0; i < 12; i++) {
            cells[i] = i == 10 ? Py_NewRef(Py_None) : sqlite_cell(st, i);
            if (!cells[i]) bad = 1;
        }
        PyObject *t = bad ? NULL : stored_tuple(V.md, cells, (const char *)sqlite3_column_text(st, 10),
                                                (size_t)sqlite3_column_bytes(st, 10));
        for (int i = 0; i < 12; i++) Py_XDECREF(cells[i]);
        if (!t) goto done;
        int e = PyList_Append(stored, t);
        Py_DECREF(t);
        if (e) goto done;
    }
    if (V.fallback) goto done;
    if (rc != SQLITE_DONE) { failure = sqlite3_errmsg(db); goto done; }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, EVENTS_SQL, -1, &st, NULL) != SQLITE_OK) { failure = sqlite3_errmsg(db); goto done; }
    sqlite_src src = {st, 0, SQLITE_DONE};
    Py_BEGIN_ALLOW_THREADS
    run_pipeline(&V, sqlite_fill, &src);
    Py_END_ALLOW_THREADS
    rc = src.rc;
    if (V.oom) { PyErr_NoMemory(); goto done; }
    if (V.fallback) goto done;
    if (rc != SQLITE_DONE) { failure = sqlite3_errmsg(db); goto done; }
    result = results(&V, stored, head);
done:
    if (!result && !PyErr_Occurred()) {
        if (V.fallback) result = fallback_result(V.fallback);
        else PyErr_Format(PyExc_RuntimeError, "compiled ledger verification: %s", failure ? failure : "failed");
    }
    Py_XDECREF(head);
    if (st) sqlite3_finalize(st);
    if (db) { sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); sqlite3_close(db); }
    Py_XDECREF(stored);
    free_state(&V);
    free_tables(&T);
    return result;
}

/* ------------------------------------------------------------------ PostgreSQL (libpq) */

static int pg_ok(PGresult *r) {
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}


static PyObject *pg_cell(PGresult *r, int row, int i, char kind) {
    if (PQgetisnull(r, row, i)) Py_RETURN_NONE;
    const char *v = PQgetvalue(r, row, i);
    if (kind == 'i') return PyLong_FromString(v, NULL, 10);
    if (kind == 'f') {
        PyObject *s = PyUnicode_FromString(v);
        if (!s) return NULL;
        PyObject *f = PyFloat_FromString(s);
        Py_DECREF(s);
        return f;
    }
    return PyUnicode_DecodeUTF8(v, PQgetlength(r, row, i), NULL);
}

#define PG_BATCH "20000"

static PyObject *verify_postgres(PyObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"conninfo", "kinds", "transitions", "flags", "status_after", "dynamic_keys", "n_states",
                            "max_findings", "leaves", "replay", NULL};
    const char *conninfo;
    PyObject *kinds, *transitions, *flags, *status_after, *dyn_keys;
    int n_states, want_leaves = 0, replay = 1;
    long long max_findings = 1000;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sOOOOOi|Lpp", names, &conninfo, &kinds, &transitions, &flags,
                                     &status_after, &dyn_keys, &n_states, &max_findings, &want_leaves, &replay))
        return NULL;
    tables T;
    vstate V;
    memset(&V, 0, sizeof V);
    PyObject *stored = NULL, *head = NULL, *result = NULL;
    PGconn *conn = NULL;
    PGresult *r = NULL;
    char failure[512] = "";
    if (read_tables(kinds, transitions, flags, status_after, dyn_keys, n_states, &T)) goto done;
    if (init_state(&V, &T, max_findings, want_leaves, replay)) goto done;
    Py_BEGIN_ALLOW_THREADS
    conn = PQconnectdb(conninfo);
    Py_END_ALLOW_THREADS
    if (PQstatus(conn) != CONNECTION_OK) { snprintf(failure, sizeof failure, "%s", PQerrorMessage(conn)); goto done; }
    PQsetClientEncoding(conn, "UTF8");
    r = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!pg_ok(r)) goto pgfail;
    PQclear(r);
    r = PQexec(conn, HEAD_SQL);
    if (!pg_ok(r) || PQntuples(r) < 1) goto pgfail;
    head = Py_BuildValue("(NN)", pg_cell(r, 0, 0, 'i'), pg_cell(r, 0, 1, 's'));
    if (!head || !(stored = PyList_New(0))) goto done;
    PQclear(r);
    char sql[1024];
    snprintf(sql, sizeof sql, "DECLARE circulith_bats NO SCROLL CURSOR FOR %s", BATTERIES_SQL);
    r = PQexec(conn, sql);
    if (!pg_ok(r)) goto pgfail;
    for (;;) {
        PQclear(r);
        r = PQexec(conn, "FETCH " PG_BATCH " FROM circulith_bats");
        if (!pg_ok(r)) goto pgfail;
        int rows = PQntuples(r);
        if (!rows) break;
        for (int row = 0; row < rows; row++) {
            if (PQgetisnull(r, row, 10)) { V.fallback = "a passport document that is NULL"; goto done; }
            PyObject *cells[12];
            int bad = 0;
            for (int i = 0; i < 12; i++) {
                char k = i == 1 ? 'i' : i == 8 ? 'f' : 's'; /* last_seq integer, soh_pct double precision */
                cells[i] = i == 10 ? Py_NewRef(Py_None) : pg_cell(r, row, i, k);
                if (!cells[i]) bad = 1;
            }
            PyObject *t = bad ? NULL : stored_tuple(V.md, cells, PQgetvalue(r, row, 10), (size_t)PQgetlength(r, row, 10));
            for (int i = 0; i < 12; i++) Py_XDECREF(cells[i]);
            if (!t) goto done;
            int e = PyList_Append(stored, t);
            Py_DECREF(t);
            if (e) goto done;
        }
    }
    PQclear(r);
    snprintf(sql, sizeof sql, "DECLARE circulith_events NO SCROLL CURSOR FOR %s", EVENTS_SQL);
    r = PQexec(conn, sql);
    if (!pg_ok(r)) goto pgfail;
    PQclear(r);
    r = NULL;
    pg_src src = {conn, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    run_pipeline(&V, pg_fill, &src);
    Py_END_ALLOW_THREADS
    int pgfailed = src.failed;
    if (pgfailed) goto pgfail;
    if (V.oom) { PyErr_NoMemory(); goto done; }
    if (V.fallback) goto done;
    result = results(&V, stored, head);
    goto done;
pgfail:
    snprintf(failure, sizeof failure, "%s", conn ? PQerrorMessage(conn) : "no connection");
done:
    if (!result && !PyErr_Occurred()) {
        if (V.fallback) result = fallback_result(V.fallback);
        else PyErr_Format(PyExc_RuntimeError, "compiled ledger verification: %s", failure[0] ? failure : "failed");
    }
    Py_XDECREF(head);
    if (r) PQclear(r);
    if (conn) {
        PGresult *rb = PQexec(conn, "ROLLBACK");
        if (rb) PQclear(rb);
        PQfinish(conn);
    }
    Py_XDECREF(stored);
    free_state(&V);
    free_tables(&T);
    return result;
}

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"verify_sqlite", (PyCFunction)(void (*)(void))verify_sqlite, METH_VARARGS | METH_KEYWORDS,
     "Verify the ledger of the SQLite database at `path` (see circulith.store.native_verify)."},
    {"verify_postgres", (PyCFunction)(void (*)(void))verify_postgres, METH_VARARGS | METH_KEYWORDS,
     "Verify the ledger of the PostgreSQL database at `conninfo` (see circulith.store.native_verify)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ledger_native",
                                    "Compiled ledger verification (see circulith.store.native_verify).", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ledger_native(void) {
    PyObject *m = PyModule_Create(&module);
    if (m) PyModule_AddStringConstant(m, "sqlite_version", sqlite3_libversion());
    return m;
}
