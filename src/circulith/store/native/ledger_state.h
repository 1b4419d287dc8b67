/* The replay tables, the batteries, and the checks of one event (chains and replay).
 * Part of circulith.store._ledger_native (included by _ledger_native.c, one translation unit). */
#ifndef CIRCULITH_NATIVE_LEDGER_STATE_H
#define CIRCULITH_NATIVE_LEDGER_STATE_H

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
    char **state_names; /* LifecycleState values, by code */
    size_t *state_len;
    int soh_index;      /* of soh_pct among the dynamic keys, -1 if absent */
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
    int stored_seen;                   /* its stored record was read */
    int n_ins;                         /* dynamic keys in the order first set (a dict's order) */
    unsigned char dyn_ins[64];
} battery;

/* Memory for the batteries and their texts, handed out from large blocks and freed all at once: a ledger's
 * batteries hold some forty small texts each, which one by one would cost a malloc and a free apiece. */
typedef struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    max_align_t data[];
} pool_block;

typedef struct {
    battery **slots;
    size_t cap, n;
    battery **order; /* in first-seen order */
    size_t order_cap;
    pool_block *pool;
} bat_table;

/* `n` zeroed bytes from the table's pool (NULL when out of memory). */
static void *pool_alloc(bat_table *t, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    pool_block *k = t->pool;
    if (!k || k->cap - k->used < n) {
        size_t cap = n > ((size_t)1 << 20) ? n : (size_t)1 << 20;
        if (!(k = malloc(sizeof *k + cap))) return NULL;
        k->next = t->pool;
        k->used = 0;
        k->cap = cap;
        t->pool = k;
    }
    char *q = (char *)k->data + k->used;
    k->used += n;
    memset(q, 0, n);
    return q;
}

/* A battery's text set to `p` (NUL-terminated), in the pool; a longer text than it held takes new room. */
static int bat_str(bat_table *t, sbuf *b, const char *p, size_t n) {
    if (n + 1 > b->cap) {
        size_t cap = n + 1 > 2 * b->cap ? n + 1 : 2 * b->cap;
        char *q = pool_alloc(t, cap < 16 ? 16 : cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap < 16 ? 16 : cap;
    }
    memcpy(b->p, p, n);
    b->p[n] = 0;
    b->n = n;
    return 0;
}

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
    battery *b = pool_alloc(t, sizeof *b);
    if (!b || bat_str(t, &b->id, id, n)) return NULL;
    memset(b->chain, '0', 64);
    b->state = -1;
    b->dyn_at = pool_alloc(t, ((size_t)n_dyn + 1) * sizeof(sbuf));
    b->dyn_val = pool_alloc(t, ((size_t)n_dyn + 1) * sizeof(sbuf));
    b->dyn_set = pool_alloc(t, (size_t)n_dyn + 1);
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

static void bat_free(bat_table *t) {
    while (t->pool) {
        pool_block *k = t->pool;
        t->pool = k->next;
        free(k);
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
    sbuf tmp; /* unescaped keys, on the reading thread */
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

/* --- replay of one event (circulith.ledger.replay.StateReplay.feed) ---
 *
 * In two halves: prescan_row reads an event's payload (no shared state: it runs on the hashing thread) and
 * apply_event applies what it found to the battery, in global order, on the reading thread. */

/* Index of a dynamic key, or -1. */
static int dyn_index(const tables *T, const char *p, size_t n) {
    for (int i = 0; i < T->n_dyn; i++)
        if (T->dyn_len[i] == n && memcmp(T->dyn_keys[i], p, n) == 0) return i;
    return -1;
}

enum { H_DOC = 1, H_STATUS = 2, H_DYNAMIC = 4, H_TO_ORG = 8, H_REGION = 16 };

/* What an event's payload says, as the replay reads it. `last`, `init_*` are n_dyn long, per row. */
typedef struct {
    int kind;             /* index into the tables' kinds, -1 when unknown */
    int scan;             /* 0 read, -1 not a JSON object, 1 not read (no payload kind) */
    const char *fallback; /* something the Python verifier must read instead */
    int has;
    span doc, status, dynamic, to_org, region;
    int n_order, n_init_order;    /* dynamic keys in the order they first appear (as a dict keeps them) */
    unsigned char order[64], init_order[64];
} prescan;

/* A dynamic key's entry in a dynamic block (a registration's initial values, a stored dynamic_json): the
 * last one, as a dict keeps it, with the update time and value read from it as it was met. */
typedef struct {
    span entry;           /* p NULL: the key does not occur */
    span updated_at, value;
    int has_updated_at, has_value;
} init_entry;

typedef struct {
    const tables *T;
    sbuf *tmp;
    prescan *ps;
    span *last;
    init_entry *init;     /* n_dyn long: a registration's initial block, read during the payload's one pass */
    unsigned char *order;
    int *n_order;
    int registered;
} scan_ctx;

/* A dynamic key's value (the last one wins, as in a dict); its first appearance kept in `order`. */
static void note_dynamic(scan_ctx *s, span *values, const char *p, size_t n, span v) {
    int i = dyn_index(s->T, p, n);
    if (i < 0) return;
    if (s->order && !values[i].p) s->order[(*s->n_order)++] = (unsigned char)i;
    values[i] = v;
}

static int scan_member(void *ctx, span k, span v) {
    scan_ctx *s = ctx;
    const char *p;
    size_t n;
    if (key_text(k, s->tmp, &p, &n)) return 0;
    prescan *ps = s->ps;
    if (s->registered) {
        if (NAME_IS(p, n, "document_sha256")) { ps->doc = v; ps->has |= H_DOC; return 0; }
        if (NAME_IS(p, n, "status")) { ps->status = v; ps->has |= H_STATUS; return 0; }
        if (NAME_IS(p, n, "dynamic")) { ps->dynamic = v; ps->has |= H_DYNAMIC; return 0; }
    }
    if (NAME_IS(p, n, "to_org_id")) { ps->to_org = v; ps->has |= H_TO_ORG; }
    if (NAME_IS(p, n, "region")) { ps->region = v; ps->has |= H_REGION; }
    note_dynamic(s, s->last, p, n, v);
    return 0;
}

/* Where a dynamic block is being read to (read_dyn_block). */
typedef struct {
    const tables *T;
    sbuf *tmp;
    init_entry *init, *e;
    unsigned char *order;
    int *n_order;
} dyn_reading;

/* A member of one entry: the last updated_at and value. */
static int dyn_entry_member(void *ctx, span k, const char **pp, const char *end, int depth) {
    dyn_reading *d = ctx;
    const char *v0 = *pp, *kp;
    size_t kn;
    int r = skip_value(pp, end, depth);
    if (r || key_text(k, d->tmp, &kp, &kn)) return r;
    span v = {v0, (size_t)(*pp - v0)};
    if (NAME_IS(kp, kn, "updated_at")) { d->e->updated_at = v; d->e->has_updated_at = 1; }
    else if (NAME_IS(kp, kn, "value")) { d->e->value = v; d->e->has_value = 1; }
    return 0;
}

/* A member of the block: a dynamic key's entry, read in place when it is an object. */
static int dyn_block_member(void *ctx, span k, const char **pp, const char *end, int depth) {
    dyn_reading *d = ctx;
    const char *v0 = *pp, *kp;
    size_t kn;
    int i = key_text(k, d->tmp, &kp, &kn) ? -1 : dyn_index(d->T, kp, kn);
    init_entry e = {{NULL, 0}, {NULL, 0}, {NULL, 0}, 0, 0};
    d->e = &e;
    int r = i >= 0 && *pp < end && **pp == '{' ? each_member_at(pp, end, depth, dyn_entry_member, d)
                                               : skip_value(pp, end, depth);
    if (r || i < 0) return r;
    if (d->order && !d->init[i].entry.p) d->order[(*d->n_order)++] = (unsigned char)i;
    e.entry = (span){v0, (size_t)(*pp - v0)};
    d->init[i] = e;
    return 0;
}

/* A dynamic block, the object at *pp at `depth`, read in place in one pass: each dynamic key's last entry
 * (as a dict keeps it) with what that entry holds, and in `order` (when given) the keys in the order they
 * first appear. 0, or skip_value's -1 / -2. */
static int read_dyn_block(const tables *T, sbuf *tmp, const char **pp, const char *end, int depth, init_entry *init,
                          unsigned char *order, int *n_order) {
    memset(init, 0, sizeof *init * (size_t)T->n_dyn);
    if (n_order) *n_order = 0;
    dyn_reading d = {T, tmp, init, NULL, order, n_order};
    return each_member_at(pp, end, depth, dyn_block_member, &d);
}

/* A registration's "dynamic" object read in place during the payload's pass (see value_fn); a later
 * "dynamic" of the same payload replaces it, as in a dict. */
static int read_init_block(void *ctx, span key, const char **pp, const char *end, int depth) {
    scan_ctx *s = ctx;
    const char *kp;
    size_t kn;
    if (!s->registered || *pp >= end || **pp != '{' || key_text(key, s->tmp, &kp, &kn) || !NAME_IS(kp, kn, "dynamic"))
        return 0;
    int r = read_dyn_block(s->T, s->tmp, pp, end, depth, s->init, s->ps->init_order, &s->ps->n_init_order);
    return r ? r : 1;
}

/* Reads one event's payload, in one pass (a registration's initial block included). Initial dynamic values
 * of a registration: `init_set[i]`, their update time unescaped into `scratch` at `init_at[i]` (offset,
 * length) and their value span `init_val[i]`. */
static void prescan_row(const tables *T, const col *c, prescan *ps, span *last, span *init_val, size_t (*init_at)[2],
                        unsigned char *init_set, sbuf *scratch, sbuf *tmp, sbuf *tmp2) {
    memset(ps, 0, sizeof *ps);
    ps->kind = -1;
    ps->scan = 1;
    for (int i = 0; i < T->n_kinds; i++)
        if (T->kind_len[i] == c[C_KIND].n && memcmp(T->kinds[i], c[C_KIND].p, c[C_KIND].n) == 0) { ps->kind = i; break; }
    if (ps->kind < 0 || !(T->flags[ps->kind] & F_PAYLOAD)) return;
    unsigned char f = T->flags[ps->kind];
    memset(last, 0, sizeof *last * (size_t)T->n_dyn);
    memset(init_set, 0, (size_t)T->n_dyn);
    init_entry init[64];
    scan_ctx s;
    memset(&s, 0, sizeof s);
    s.T = T;
    s.tmp = tmp;
    s.ps = ps;
    s.last = last;
    s.init = init;
    s.order = ps->order;
    s.n_order = &ps->n_order;
    s.registered = (f & F_REGISTERED) != 0;
    int r = each_member_read((span){c[C_PAYLOAD].p, c[C_PAYLOAD].n}, scan_member, read_init_block, &s);
    if (r == -2) { ps->fallback = "a payload nested deeper than the compiled verifier follows"; return; }
    ps->scan = r ? -1 : 0;
    if (r || !(f & F_REGISTERED) || !(ps->has & H_DYNAMIC) || ps->dynamic.p[0] != '{') return;
    for (int j = 0; j < ps->n_init_order; j++) {
        int i = ps->init_order[j];
        const init_entry *e = &init[i];
        if (e->entry.p[0] != '{' || !e->has_updated_at || e->updated_at.p[0] != '"') continue;
        if (unescape(e->updated_at, tmp2)) { ps->fallback = "a lone surrogate in an update time"; return; }
        init_at[i][0] = scratch->n;
        init_at[i][1] = tmp2->n;
        if (sb_add(scratch, tmp2->p, tmp2->n)) { ps->fallback = "no memory"; return; }
        init_val[i] = e->has_value ? e->value : (span){"null", 4};
        init_set[i] = 1;
    }
}

static int set_dyn(vstate *V, battery *b, int i, const char *at, size_t at_n, span value) {
    if (!b->dyn_set[i]) b->dyn_ins[b->n_ins++] = (unsigned char)i;
    b->dyn_set[i] = 1;
    if (bat_str(&V->bats, &b->dyn_at[i], at, at_n) || bat_str(&V->bats, &b->dyn_val[i], value.p, value.n)) { V->oom = 1; return -1; }
    return 0;
}

static void mark_broken(vstate *V, battery *b, int code, const col *c, int prev_state) {
    if (b->broken) return;
    b->broken = code;
    b->broken_state = prev_state;
    if (bat_str(&V->bats, &b->broken_kind, c[C_KIND].p, c[C_KIND].n) || bat_str(&V->bats, &b->broken_at, c[C_AT].p, c[C_AT].n)) V->oom = 1;
}

static void take_custody(vstate *V, battery *b, const col *c) {
    b->has_custodian = 1;
    if (bat_str(&V->bats, &b->custodian, c[C_ACTOR].p, c[C_ACTOR].n)) V->oom = 1;
    b->has_site = !c[C_SITE].null;
    if (b->has_site && bat_str(&V->bats, &b->site, c[C_SITE].p, c[C_SITE].n)) V->oom = 1;
}

static void apply_event(vstate *V, battery *b, const col *c, const prescan *ps, const span *last, const span *init_val,
                        size_t (*init_at)[2], const unsigned char *init_set, const char *scratch) {
    const tables *T = V->T;
    int k = ps->kind;
    if (k < 0) { mark_broken(V, b, 1, c, b->state); return; }
    if (!b->broken) {
        unsigned char after = T->transitions[(size_t)(b->state + 1) * (size_t)T->n_kinds + (size_t)k];
        if (after == 255) { mark_broken(V, b, 2, c, b->state); return; }
        b->state = after;
    }
    unsigned char f = T->flags[k];
    const char *status_after = T->status_after[k];
    if (!(f & F_PAYLOAD)) {
        if (f & F_CUSTODY) take_custody(V, b, c);
        if (status_after) {
            b->has_status = 1;
            if (bat_str(&V->bats, &b->status, status_after, strlen(status_after))) V->oom = 1;
        }
        return;
    }
    if (ps->fallback) { V->fallback = ps->fallback; return; }
    if (ps->scan < 0) { mark_broken(V, b, 3, c, b->state); return; }
    if (f & F_REGISTERED) {
        b->has_doc = 1;
        if ((ps->has & H_DOC) ? bat_str(&V->bats, &b->doc, ps->doc.p, ps->doc.n) : bat_str(&V->bats, &b->doc, "null", 4)) V->oom = 1;
        b->has_status = 1;
        if ((ps->has & H_STATUS) ? bat_str(&V->bats, &b->status, ps->status.p, ps->status.n) : bat_str(&V->bats, &b->status, "null", 4))
            V->oom = 1;
        for (int j = 0; j < ps->n_init_order; j++) {
            int i = ps->init_order[j];
            if (init_set[i]) set_dyn(V, b, i, scratch + init_at[i][0], init_at[i][1], init_val[i]);
        }
    }
    if (status_after) {
        b->has_status = 1;
        if (bat_str(&V->bats, &b->status, status_after, strlen(status_after))) V->oom = 1;
    }
    if (f & F_CUSTODY) take_custody(V, b, c);
    if ((f & F_SHIPPED) && (ps->has & H_TO_ORG) && truthy(ps->to_org)) b->has_site = 0;
    if ((f & F_INSTALLED) && (ps->has & H_REGION) && ps->region.p[0] == '"') {
        b->has_region = 1;
        if (bat_str(&V->bats, &b->region, ps->region.p, ps->region.n)) V->oom = 1;
    }
    if (f & F_DYNAMIC) {
        for (int j = 0; j < ps->n_order; j++) {
            int i = ps->order[j];
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
    if (sha256(t->p, t->n, raw + 1)) return -1;
    to_hex(raw + 1, hex);
    *ok = memcmp(hex, c[C_CSHA].p, 64) == 0 ? OK_CONTENT : 0;
    if (want_leaf) {
        raw[0] = 0;
        if (sha256(raw, 33, leaf)) return -1;
    }
    char pair[128];
    memcpy(pair, c[C_GPREV].p, 64);
    memcpy(pair + 64, c[C_CSHA].p, 64);
    if (sha256(pair, 128, raw)) return -1;
    to_hex(raw, hex);
    if (memcmp(hex, c[C_GCHAIN].p, 64) == 0) *ok |= OK_GLOBAL;
    memcpy(pair, c[C_BPREV].p, 64);
    if (sha256(pair, 128, raw)) return -1;
    to_hex(raw, hex);
    if (memcmp(hex, c[C_BCHAIN].p, 64) == 0) *ok |= OK_BATTERY;
    return 0;
}

/* The order-dependent checks of one event, with its digests already compared (`ok`), then its replay:
 * the findings of circulith.ledger.verify.verify_chains, in its order and words. */
typedef struct {
    const prescan *ps;
    const span *last, *init_val;
    size_t (*init_at)[2];
    const unsigned char *init_set;
    const char *scratch;
} row_facts;

static int seq_row(vstate *V, const col *c, int64_t gseq, int64_t bseq, unsigned char ok, const unsigned char *leaf,
                   const row_facts *rf) {
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
    if (V->replay) apply_event(V, b, c, rf->ps, rf->last, rf->init_val, rf->init_at, rf->init_set, rf->scratch);
    return V->oom || V->fallback ? -1 : 0;
}

#endif
