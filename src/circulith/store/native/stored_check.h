/* Which stored batteries certainly agree with their events, so that only the others go to Python.
 * Part of circulith.store._ledger_native (included by _ledger_native.c, one translation unit).
 *
 * circulith.ledger.replay.StateReplay.compare is the one comparison of stored state with replayed state
 * and the only place findings about it are worded. This file only decides, conservatively, that compare
 * would certainly report nothing for a battery: every value equal byte for byte in a form whose
 * Python reading cannot differ (plain strings, identical JSON texts without NaN, numbers parsed to the
 * same double). Anything else -- an escape, a type, a NaN, a missing entry, a broken history -- leaves
 * the battery to compare, with its stored row and its replayed state as Python objects.
 */
#ifndef CIRCULITH_NATIVE_STORED_CHECK_H
#define CIRCULITH_NATIVE_STORED_CHECK_H

enum { B_ID, B_LAST_SEQ, B_LAST_CHAIN, B_STATE, B_STATUS, B_CUSTODIAN, B_SITE, B_REGION, B_SOH, B_DOC_SHA, B_DOC, B_DYN,
       N_BCOLS };

/* A stored battery row: each cell's bytes and kind ('n' NULL, 't' text, 'i' integer, 'r' real, 'o' other). */
typedef struct {
    col c[N_BCOLS];
    char ty[N_BCOLS];
    int64_t last_seq;
    double soh;
    char digest[64]; /* SHA-256 of the document text, hex */
} brow;

static int opt_text_eq(const brow *r, int i, int has, const char *p, size_t n) {
    if (!has) return r->ty[i] == 'n';
    return r->ty[i] == 't' && r->c[i].n == n && memcmp(r->c[i].p, p, n) == 0;
}

/* The inner bytes of a JSON string literal without escapes. */
static int plain_string(const char *p, size_t n, const char **q, size_t *m) {
    if (n < 2 || p[0] != '"' || memchr(p, '\\', n)) return 0;
    *q = p + 1;
    *m = n - 2;
    return 1;
}

static int is_null_text(const char *p, size_t n) { return n == 4 && memcmp(p, "null", 4) == 0; }

/* A JSON number literal without NaN/Infinity, as the double float() gives. */
static int plain_number(span v, double *out) {
    if (!v.n || !(v.p[0] == '-' || (v.p[0] >= '0' && v.p[0] <= '9')) || memchr(v.p, 'I', v.n) || v.n >= 64) return 0;
    char buf[64];
    memcpy(buf, v.p, v.n);
    buf[v.n] = 0;
    char *end;
    *out = strtod(buf, &end);
    return *end == 0;
}

/* 1 when StateReplay.compare would certainly find nothing to report for battery `b` stored as `r`. Reads
 * only (`tmp` is the caller's), so that two threads can judge different batteries. */
static int certainly_consistent(const vstate *V, const battery *b, const brow *r, sbuf *tmp) {
    const tables *T = V->T;
    const char *p;
    size_t n;
    if (!b || b->broken) return 0;
    if (b->state >= 0 && !opt_text_eq(r, B_STATE, 1, T->state_names[b->state], T->state_len[b->state])) return 0;
    if (b->has_status && !is_null_text(b->status.p, b->status.n)) {
        if (!plain_string(b->status.p, b->status.n, &p, &n) || !opt_text_eq(r, B_STATUS, 1, p, n)) return 0;
    }
    if (!opt_text_eq(r, B_CUSTODIAN, b->has_custodian, b->custodian.p, b->custodian.n)) return 0;
    if (!opt_text_eq(r, B_SITE, b->has_site, b->site.p, b->site.n)) return 0;
    if (b->has_region) {
        if (!plain_string(b->region.p, b->region.n, &p, &n) || !opt_text_eq(r, B_REGION, 1, p, n)) return 0;
    } else if (r->ty[B_REGION] != 'n') return 0;
    if (!opt_text_eq(r, B_DOC_SHA, 1, r->digest, 64)) return 0;
    if (b->has_doc && !is_null_text(b->doc.p, b->doc.n)) {
        if (!plain_string(b->doc.p, b->doc.n, &p, &n) || n != 64 || memcmp(p, r->digest, 64) != 0) return 0;
    }
    if (r->ty[B_DYN] != 't') return 0;
    init_entry entries[64];
    const char *dp = r->c[B_DYN].p, *dend = dp + r->c[B_DYN].n;
    skip_ws(&dp, dend);
    if (dp >= dend || *dp != '{' || read_dyn_block(T, tmp, &dp, dend, 0, entries, NULL, NULL)) return 0;
    skip_ws(&dp, dend);
    if (dp != dend) return 0;
    for (int i = 0; i < T->n_dyn; i++) {
        if (!b->dyn_set[i]) continue;
        const init_entry *es = &entries[i];
        if (!es->entry.p || es->entry.p[0] != '{' || !es->has_updated_at) return 0;
        if (!plain_string(es->updated_at.p, es->updated_at.n, &p, &n)) return 0;
        const sbuf *at = &b->dyn_at[i];
        size_t m = n < at->n ? n : at->n;
        int cmp = memcmp(p, at->p, m);
        if (cmp == 0) cmp = n < at->n ? -1 : n > at->n ? 1 : 0;
        if (cmp < 0) return 0; /* the stored value is older than the events' */
        if (cmp == 0) {
            span v = es->has_value ? es->value : (span){"null", 4};
            const sbuf *e = &b->dyn_val[i];
            if (v.n != e->n || memcmp(v.p, e->p, v.n) != 0 || memchr(v.p, 'N', v.n)) return 0;
        }
    }
    /* the SOH column against the dynamic soh_pct value */
    int si = T->soh_index;
    if (si < 0) return 0;
    int soh_none = 1;
    double soh = 0;
    if (entries[si].entry.p && entries[si].entry.p[0] == '{') {
        const init_entry *es = &entries[si];
        if (es->has_value && !is_null_text(es->value.p, es->value.n)) {
            if (!plain_number(es->value, &soh)) return 0;
            soh_none = 0;
        }
    }
    if (r->ty[B_SOH] == 'n') return soh_none;
    return r->ty[B_SOH] == 'r' && !soh_none && soh == r->soh;
}

/* Is the stored chain tip certainly the one the events end at? */
static int tip_certain(const battery *b, const brow *r) {
    static const char GENESIS[64] = "0000000000000000000000000000000000000000000000000000000000000000";
    int64_t seq = b ? b->seq : 0;
    const char *chain = b ? b->chain : GENESIS;
    return r->ty[B_LAST_SEQ] == 'i' && r->last_seq == seq && r->ty[B_LAST_CHAIN] == 't' && r->c[B_LAST_CHAIN].n == 64 &&
           memcmp(r->c[B_LAST_CHAIN].p, chain, 64) == 0;
}

/* Look up the battery of a stored row without adding one. */
static battery *bat_find(bat_table *t, const char *id, size_t n) {
    if (!t->cap) return NULL;
    size_t j = fnv(id, n) & (t->cap - 1);
    while (t->slots[j]) {
        battery *b = t->slots[j];
        if (b->id.n == n && memcmp(b->id.p, id, n) == 0) return b;
        j = (j + 1) & (t->cap - 1);
    }
    return NULL;
}

#endif
