/* The per-event steps of an event import, in C: circulith.store.native_import drives it.
 *
 * `ImportKernel` takes a file's JSON Lines in blocks of whole lines (native/import_parse.h reads them),
 * is told each battery's identifier resolution and stored state by the caller (which reads the database),
 * derives the events' IDs, and then does what circulith.store.ledger_store.append_events does for each
 * event: the duplicate and time checks, the state machine (a table computed from
 * circulith.ledger.state_machine), the chaining (circulith.ledger.chain.ChainBuilder.link, the same bytes
 * hashed) and the battery's new state. It returns the rows to insert, and at the end each changed
 * battery's state, with its dynamic values reduced to the one update per key that the sequential rule
 * keeps (the latest `updated_at`, a later row winning a tie). Any event the Python path would refuse, or
 * that this code is not certain to treat alike, raises `NotCertain`; the caller then rolls back and runs
 * the Python path, which is the reference and names the row, field and reason.
 *
 * Part of circulith.store._ledger_native (included by _ledger_native.c, one translation unit). Holds the GIL.
 */
#ifndef CIRCULITH_NATIVE_IMPORT_KERNEL_H
#define CIRCULITH_NATIVE_IMPORT_KERNEL_H

#include <openssl/sha.h>

static PyObject *NotCertain; /* circulith.store._ledger_native.NotCertain */

#define MAX_APPLIED 32

/* ------------------------------------------------------------------ a string map (text -> int) */

typedef struct {
    size_t off, n;
    uint64_t h;
    int val; /* -1: empty slot */
} slot;

typedef struct {
    slot *s;
    size_t cap, used;
    sbuf keys;
} strmap;

static int sm_find(const strmap *m, const char *p, size_t n) {
    if (!m->cap) return -1;
    uint64_t h = fnv(p, n);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const slot *e = &m->s[i];
        if (e->val < 0) return -1;
        if (e->h == h && e->n == n && memcmp(m->keys.p + e->off, p, n) == 0) return e->val;
    }
}

static int sm_grow(strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    slot *s = malloc(cap * sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < cap; i++) s[i].val = -1;
    for (size_t j = 0; j < m->cap; j++) {
        if (m->s[j].val < 0) continue;
        size_t i = m->s[j].h & (cap - 1);
        while (s[i].val >= 0) i = (i + 1) & (cap - 1);
        s[i] = m->s[j];
    }
    free(m->s);
    m->s = s;
    m->cap = cap;
    return 0;
}

static int sm_put(strmap *m, const char *p, size_t n, int val) {
    if ((m->used + 1) * 10 >= m->cap * 7 && sm_grow(m)) return -1;
    uint64_t h = fnv(p, n);
    size_t i = h & (m->cap - 1);
    while (m->s[i].val >= 0) i = (i + 1) & (m->cap - 1);
    size_t off = m->keys.n;
    if (sb_add(&m->keys, p, n)) return -1;
    m->s[i] = (slot){off, n, h, val};
    m->used++;
    return 0;
}

static void sm_clear(strmap *m) {
    for (size_t i = 0; i < m->cap; i++) m->s[i].val = -1;
    m->used = 0;
    m->keys.n = 0;
}

static void sm_free(strmap *m) {
    free(m->s);
    sb_free(&m->keys);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ batteries and events */

typedef struct {
    int has;
    char at[27];
    sbuf value; /* canonical JSON of the value */
} winner;

typedef struct {
    PyObject *bid;   /* str */
    sbuf id;         /* its UTF-8 */
    int state;       /* index into the LifecycleState values */
    PyObject *status;
    sbuf manufactured_from, last_at;
    sbuf custodian; int has_custodian;
    sbuf site; int has_site;
    sbuf region; int region_set; /* JSON string literal of a region an `installed` event set */
    int64_t seq;
    char sha[64];
    winner *dyn;     /* [n_applied] */
    sbuf accidents;  /* the canonical JSON of each accident recorded, comma-separated */
    sbuf doc;        /* the stored dynamic_json */
    PyObject *soh;   /* the soh_pct the merge set (float), or NULL */
    PyObject *tip;   /* str of `sha` once a row used it, or NULL */
    int dirty;
    int has_units;   /* modules or cells travel with it (a receipt of it is left to the Python path) */
    /* custody facts for write checks (circulith.auth.write_policy.CustodyFacts), as the file moves them */
    sbuf a_maker, a_cust, a_ship, a_rem;
    int a_has_cust, a_chain, a_state, a_has_ship, a_has_rem;
} kbat;

typedef struct {
    size_t ev_off, ev_n;        /* event_id as given (UTF-8), ev_n 0 when absent or empty */
    int raw, kind, actor;       /* actor: its index in Kernel.actors */
    char at[27];
    size_t actor_off, actor_n, site_off, site_n;
    int site_null, to_org, region, acc;
    size_t to_org_off, to_org_n;      /* a to_org_id given as text: the literal, then (to_org_text) the text */
    int to_org_text;
    size_t region_off, region_n;      /* JSON literal, in the arena */
    size_t acck_off, acck_n, accd_off, accd_n; /* accident kind (text) and description (literal); n 0: absent */
    size_t pay_off, pay_n;
    size_t dyn_first;
    int n_dyn;
    size_t id_off, id_n;       /* the event's ID (given or derived) */
} kevent;

typedef struct {
    int key;
    size_t off, n;
} kdyn;

typedef struct {
    int bat;        /* battery index, -1 before it is resolved */
    size_t off, n;  /* its text in the map's keys */
} rawid;

typedef struct {
    PyObject_HEAD
    int n_kinds, n_states;
    sbuf *kinds;                /* EventKind values in order */
    PyObject **kind_str;
    unsigned char *trans, *flags;
    PyObject **status_after;    /* per kind: str or NULL */
    int n_checked, n_applied, n_acc;
    sbuf *checked, *applied, *acc_kinds;
    double *lo, *hi;
    int *integer, *checked_applied; /* index among the applied keys, or -1 */
    size_t max_payload, max_text, actor_max, site_max;
    int64_t gseq;
    char gsha[64];
    strmap raws;                /* raw battery identifier -> index */
    rawid *raw;                 /* by index */
    size_t n_raw, cap_raw;
    strmap bat_ids;             /* battery ID -> index */
    kbat **bats;
    size_t n_bats, cap_bats;
    sbuf arena;                 /* the block's texts */
    kevent *ev;
    size_t n_ev, cap_ev;
    kdyn *dyn;
    size_t n_dyn, cap_dyn;
    PyObject *ids;              /* list of the block's event IDs */
    strmap seen;
    strmap actors;              /* every actor named, in first-seen order */
    PyObject **actor_str;       /* by index, once a row used it */
    size_t cap_actor_str;
    PyObject *gtip;             /* str of `gsha` once a row used it, or NULL */
    /* write checks (circulith.auth.write_policy), when authorisation() turned them on */
    int auth;
    unsigned char *k_parties;   /* per kind: P_* the rule names */
    uint32_t *k_roles;          /* per kind: roles the rule allows (bit per Role), 0 any chain role */
    uint32_t chain_roles;
    int dismantler, recycled, removed, as_org_set;
    sbuf as_org;
    int *actor_role;            /* by actor index: Role index, -1 not registered */
    size_t n_actor_role;
    sbuf text, tmp;
} Kernel;

enum { /* what an event kind does (the flags from circulith.store.native_import) */
    K_CUSTODY = 1, K_RECEIPT = 2, K_REMOVAL = 4, K_SHIPPED = 8, K_INSTALLED = 16, K_DYNAMIC = 32, K_IMPORTED = 64,
    K_ANY_ORDER = 128
};

static PyObject *not_certain(const char *why) {
    PyErr_SetString(NotCertain, why);
    return NULL;
}

static PyObject *ascii_str(const char *p, size_t n) {
    PyObject *s = PyUnicode_New((Py_ssize_t)n, 127);
    if (s) memcpy(PyUnicode_1BYTE_DATA(s), p, n);
    return s;
}

static PyObject *utf8_str(const char *p, size_t n) { return PyUnicode_DecodeUTF8(p ? p : "", (Py_ssize_t)n, "strict"); }

/* The UTF-8 of a str argument into `b`. */
static int copy_str(PyObject *o, sbuf *b) {
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(o, &n);
    return p ? sb_set(b, p, (size_t)n) : -1;
}

static int names_from(PyObject *seq, sbuf **out, int *n) {
    Py_ssize_t k = PySequence_Size(seq);
    if (k < 0) return -1;
    *out = calloc((size_t)k + 1, sizeof **out);
    if (!*out) return -1;
    *n = (int)k;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *o = PySequence_GetItem(seq, i);
        int rc = o ? copy_str(o, &(*out)[i]) : -1;
        Py_XDECREF(o);
        if (rc) return -1;
    }
    return 0;
}

static int name_index(const sbuf *names, int n, const char *p, size_t len) {
    for (int i = 0; i < n; i++)
        if (names[i].n == len && memcmp(names[i].p, p, len) == 0) return i;
    return -1;
}

static void kernel_reset_block(Kernel *K) {
    K->arena.n = 0;
    K->n_ev = 0;
    K->n_dyn = 0;
    Py_CLEAR(K->ids);
    sm_clear(&K->seen);
}

static void kernel_dealloc(Kernel *K) {
    for (int i = 0; i < K->n_kinds; i++) {
        if (K->kinds) sb_free(&K->kinds[i]);
        if (K->kind_str) Py_XDECREF(K->kind_str[i]);
        if (K->status_after) Py_XDECREF(K->status_after[i]);
    }
    for (int i = 0; i < K->n_checked; i++) sb_free(&K->checked[i]);
    for (int i = 0; i < K->n_applied; i++) sb_free(&K->applied[i]);
    for (int i = 0; i < K->n_acc; i++) sb_free(&K->acc_kinds[i]);
    free(K->kinds); free(K->kind_str); free(K->status_after); free(K->trans); free(K->flags);
    free(K->checked); free(K->applied); free(K->acc_kinds); free(K->lo); free(K->hi); free(K->integer);
    free(K->checked_applied);
    for (size_t i = 0; i < K->n_bats; i++) {
        kbat *b = K->bats[i];
        Py_XDECREF(b->bid); Py_XDECREF(b->status); Py_XDECREF(b->soh); Py_XDECREF(b->tip);
        sb_free(&b->id); sb_free(&b->manufactured_from); sb_free(&b->last_at); sb_free(&b->custodian);
        sb_free(&b->site); sb_free(&b->region); sb_free(&b->accidents); sb_free(&b->doc);
        sb_free(&b->a_maker); sb_free(&b->a_cust); sb_free(&b->a_ship); sb_free(&b->a_rem);
        for (int k = 0; k < K->n_applied; k++) sb_free(&b->dyn[k].value);
        free(b->dyn);
        free(b);
    }
    free(K->bats);
    free(K->raw);
    sm_free(&K->raws); sm_free(&K->bat_ids); sm_free(&K->seen); sm_free(&K->actors);
    sb_free(&K->arena); sb_free(&K->text); sb_free(&K->tmp);
    free(K->ev); free(K->dyn);
    free(K->k_parties); free(K->k_roles); free(K->actor_role); sb_free(&K->as_org);
    for (size_t i = 0; i < K->cap_actor_str; i++) Py_XDECREF(K->actor_str[i]);
    free(K->actor_str);
    Py_XDECREF(K->gtip);
    Py_XDECREF(K->ids);
    Py_TYPE(K)->tp_free((PyObject *)K);
}

/* ImportKernel(kinds, transitions, flags, status_after, checked, applied, accident_kinds, limits, head)
 *   kinds: EventKind values in order; transitions: bytes [(n_states + 1) * n_kinds], 255 refused;
 *   flags: bytes per kind (K_*); status_after: per kind a str or None;
 *   checked: ((name, lo, hi, integer), ...) the dynamic values the payload checks bound;
 *   applied: names of the dynamic values an event of a K_DYNAMIC kind sets; accident_kinds: names;
 *   limits: (max_payload_bytes, max_text_chars, actor_max, site_max); head: (global_seq, global_sha256). */
static int kernel_init(Kernel *K, PyObject *args, PyObject *kw) {
    PyObject *kinds, *status_after, *checked, *applied, *acc;
    Py_buffer tr = {0}, fl = {0};
    unsigned long long max_payload, max_text, actor_max, site_max;
    long long gseq;
    const char *gsha;
    Py_ssize_t gsha_n;
    (void)kw;
    if (!PyArg_ParseTuple(args, "Oy*y*OOOO(KKKK)(Ls#)", &kinds, &tr, &fl, &status_after, &checked, &applied, &acc,
                          &max_payload, &max_text, &actor_max, &site_max, &gseq, &gsha, &gsha_n))
        return -1;
    int rc = -1;
    if (names_from(kinds, &K->kinds, &K->n_kinds) || names_from(applied, &K->applied, &K->n_applied) ||
        names_from(acc, &K->acc_kinds, &K->n_acc))
        goto out;
    if (K->n_applied > MAX_APPLIED || gsha_n != 64 || fl.len != K->n_kinds || tr.len % K->n_kinds ||
        PySequence_Size(status_after) != K->n_kinds) {
        PyErr_SetString(PyExc_ValueError, "ImportKernel: tables of the wrong shape");
        goto out;
    }
    K->n_states = (int)(tr.len / K->n_kinds) - 1;
    K->trans = malloc((size_t)tr.len);
    K->flags = malloc((size_t)fl.len);
    K->kind_str = calloc((size_t)K->n_kinds, sizeof *K->kind_str);
    K->status_after = calloc((size_t)K->n_kinds, sizeof *K->status_after);
    if (!K->trans || !K->flags || !K->kind_str || !K->status_after) { PyErr_NoMemory(); goto out; }
    memcpy(K->trans, tr.buf, (size_t)tr.len);
    memcpy(K->flags, fl.buf, (size_t)fl.len);
    for (int i = 0; i < K->n_kinds; i++) {
        K->kind_str[i] = utf8_str(K->kinds[i].p, K->kinds[i].n);
        PyObject *s = PySequence_GetItem(status_after, i);
        if (!K->kind_str[i] || !s) { Py_XDECREF(s); goto out; }
        if (s == Py_None) Py_DECREF(s);
        else K->status_after[i] = s;
    }
    Py_ssize_t nc = PySequence_Size(checked);
    if (nc < 0) goto out;
    K->n_checked = (int)nc;
    K->checked = calloc((size_t)nc + 1, sizeof *K->checked);
    K->lo = calloc((size_t)nc + 1, sizeof *K->lo);
    K->hi = calloc((size_t)nc + 1, sizeof *K->hi);
    K->integer = calloc((size_t)nc + 1, sizeof *K->integer);
    K->checked_applied = calloc((size_t)nc + 1, sizeof *K->checked_applied);
    if (!K->checked || !K->lo || !K->hi || !K->integer || !K->checked_applied) { PyErr_NoMemory(); goto out; }
    for (Py_ssize_t i = 0; i < nc; i++) {
        PyObject *t = PySequence_GetItem(checked, i), *name;
        int integer;
        int ok = t && PyArg_ParseTuple(t, "Uddp", &name, &K->lo[i], &K->hi[i], &integer) && !copy_str(name, &K->checked[i]);
        Py_XDECREF(t);
        if (!ok) goto out;
        K->integer[i] = integer;
        K->checked_applied[i] = name_index(K->applied, K->n_applied, K->checked[i].p, K->checked[i].n);
    }
    for (int i = 0; i < K->n_applied; i++) /* an applied value the checks do not bound: not read here */
        if (name_index(K->checked, K->n_checked, K->applied[i].p, K->applied[i].n) < 0) {
            PyErr_SetString(PyExc_ValueError, "ImportKernel: an applied dynamic value without bounds");
            goto out;
        }
    K->max_payload = max_payload;
    K->max_text = max_text;
    K->actor_max = actor_max;
    K->site_max = site_max;
    K->gseq = gseq;
    memcpy(K->gsha, gsha, 64);
    rc = 0;
out:
    PyBuffer_Release(&tr);
    PyBuffer_Release(&fl);
    return rc;
}

/* ------------------------------------------------------------------ parse: one block of whole lines */

typedef struct {
    span f[7]; /* event_id, battery_id, kind, occurred_at, actor_org_id, site_id, payload */
    int seen[7];
    const char *why;
} line_ctx;

static const char *FIELDS[7] = {"event_id", "battery_id", "kind", "occurred_at", "actor_org_id", "site_id", "payload"};

static int field_cb(void *vctx, span key, span value) {
    line_ctx *c = vctx;
    if (memchr(key.p, '\\', key.n)) { c->why = "a field name with escapes"; return -1; }
    for (int i = 0; i < 7; i++)
        if (key.n - 2 == strlen(FIELDS[i]) && memcmp(key.p + 1, FIELDS[i], key.n - 2) == 0) {
            if (c->seen[i]) { c->why = "a field given twice"; return -1; }
            c->seen[i] = 1;
            c->f[i] = value;
            return 0;
        }
    c->why = "an unknown field";
    return -1;
}

/* A text field (JSON string) into the arena, unescaped: its offset and length; -1 when not certain. */
static int text_field(Kernel *K, span v, size_t max_chars, size_t *off, size_t *n) {
    if (v.p[0] != '"') return -1;
    const char *p = v.p + 1;
    size_t len = v.n - 2;
    if (memchr(v.p, '\\', v.n)) {
        if (unescape(v, &K->tmp) || memchr(K->tmp.p, 0, K->tmp.n)) return -1;
        p = K->tmp.p;
        len = K->tmp.n;
    }
    if (utf8_chars(p, len) > max_chars) return -1;
    *off = K->arena.n;
    *n = len;
    return sb_add(&K->arena, p, len) ? -2 : 0;
}

/* A dynamic value's number as json.loads reads it, checked as dynamic_value_problem checks it. */
static int dynamic_ok(Kernel *K, int i, span v) {
    char c = v.p[0];
    if (c != '-' && (c < '0' || c > '9')) return 0; /* a string, bool, object ...: the Python path says why */
    if (c == '-' && v.n > 1 && v.p[1] == 'I') return 0;
    char buf[400];
    if (v.n >= sizeof buf) return 0;
    memcpy(buf, v.p, v.n);
    buf[v.n] = 0;
    int is_float = memchr(v.p, '.', v.n) || memchr(v.p, 'e', v.n) || memchr(v.p, 'E', v.n);
    double d;
    if (is_float) {
        d = PyOS_string_to_double(buf, NULL, NULL);
        if (d == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
        if (!isfinite(d)) return 0;
        if (K->integer[i] && d != trunc(d)) return 0;
    } else {
        size_t digits_n = v.n - (c == '-');
        if (digits_n > 16) return 0;
        d = (double)strtoll(buf, NULL, 10); /* at most 16 digits: exact below 2**53, checked below */
        if (fabs(d) > (double)MAX_SAFE_INT) return 0;
    }
    return K->lo[i] <= d && d <= K->hi[i];
}

typedef struct {
    Kernel *K;
    kevent *e;
    const char *why;
} pay_ctx;

static int payload_cb(void *vctx, span key, span value, size_t off, size_t n) {
    pay_ctx *c = vctx;
    Kernel *K = c->K;
    kevent *e = c->e;
    int is_null = value.n == 4 && memcmp(value.p, "null", 4) == 0;
    int i = name_index(K->checked, K->n_checked, key.p, key.n);
    if (i >= 0 && !is_null) {
        if (!dynamic_ok(K, i, value)) { c->why = "a dynamic value the checks may refuse"; return -1; }
        int a = K->checked_applied[i];
        if (a >= 0) {
            if (K->n_dyn == K->cap_dyn) {
                size_t cap = K->cap_dyn ? 2 * K->cap_dyn : 4096;
                kdyn *q = realloc(K->dyn, cap * sizeof *q);
                if (!q) return -2;
                K->dyn = q;
                K->cap_dyn = cap;
            }
            K->dyn[K->n_dyn++] = (kdyn){a, off, n};
            e->n_dyn++;
        }
    }
    if (NAME_IS(key.p, key.n, "to_org_id")) {
        e->to_org = truthy(value);
        if (value.p[0] == '"') { e->to_org_off = off; e->to_org_n = n; }
    } else if (NAME_IS(key.p, key.n, "region") && value.p[0] == '"') {
        e->region = 1;
        e->region_off = off;
        e->region_n = n;
    } else if (NAME_IS(key.p, key.n, "accident") && !is_null) {
        if (value.p[0] != '{') { c->why = "an accident that is not an object"; return -1; }
        e->acc = 1;
        /* its members are canonical in the arena already: read them from there */
        span obj = {K->arena.p + off, n};
        const char *p = obj.p + 1, *end = obj.p + obj.n - 1;
        while (p < end) {
            const char *k0 = p;
            skip_string(&p, end);
            span k = {k0 + 1, (size_t)(p - k0) - 2};
            p++;
            const char *v0 = p;
            skip_value(&p, end, 0);
            span v = {v0, (size_t)(p - v0)};
            if (p < end && *p == ',') p++;
            if (NAME_IS(k.p, k.n, "kind")) {
                if (v.p[0] != '"' || memchr(v.p, '\\', v.n) || name_index(K->acc_kinds, K->n_acc, v.p + 1, v.n - 2) < 0) {
                    c->why = "an accident kind the checks may refuse";
                    return -1;
                }
                e->acck_off = (size_t)(v.p + 1 - K->arena.p);
                e->acck_n = v.n - 2;
            } else if (NAME_IS(k.p, k.n, "description")) {
                if (v.p[0] != '"') { c->why = "an accident description that is not text"; return -1; }
                e->accd_off = (size_t)(v.p - K->arena.p);
                e->accd_n = v.n;
            }
        }
    }
    return 0;
}

static const char *parse_line(Kernel *K, const char *p, size_t n) {
    line_ctx c = {0};
    int r = each_member((span){p, n}, field_cb, &c);
    if (r == -3) return c.why;
    if (r) return "a line that is not a JSON object";
    if (!c.seen[1] || !c.seen[2] || !c.seen[3] || !c.seen[4]) return "a record without battery_id, kind, occurred_at "
                                                                      "or actor_org_id";
    if (K->n_ev == K->cap_ev) {
        size_t cap = K->cap_ev ? 2 * K->cap_ev : 4096;
        kevent *q = realloc(K->ev, cap * sizeof *q);
        if (!q) return "";
        K->ev = q;
        K->cap_ev = cap;
    }
    kevent *e = &K->ev[K->n_ev];
    memset(e, 0, sizeof *e);
    span kind = c.f[2];
    if (kind.p[0] != '"') return "a kind that is not text";
    e->kind = name_index(K->kinds, K->n_kinds, kind.p + 1, kind.n - 2);
    if (e->kind < 0 || !(K->flags[e->kind] & K_IMPORTED)) return "a kind that is not imported";
    if (utc_timestamp(c.f[3], e->at)) return "a timestamp in another spelling";
    size_t off, len;
    if (c.seen[0]) {
        if (text_field(K, c.f[0], K->max_text, &e->ev_off, &e->ev_n)) return "an event_id the checks may refuse";
    }
    if (text_field(K, c.f[1], K->max_text, &off, &len)) return "a battery_id the checks may refuse";
    int raw = sm_find(&K->raws, K->arena.p + off, len);
    if (raw < 0) {
        raw = (int)K->n_raw;
        if (K->n_raw == K->cap_raw) {
            size_t cap = K->cap_raw ? 2 * K->cap_raw : 1024;
            rawid *q = realloc(K->raw, cap * sizeof *q);
            if (!q) return "";
            K->raw = q;
            K->cap_raw = cap;
        }
        K->raw[K->n_raw++] = (rawid){-1, K->raws.keys.n, len};
        if (sm_put(&K->raws, K->arena.p + off, len, raw)) return "";
    }
    e->raw = raw;
    K->arena.n = off; /* the identifier lives in the map */
    if (text_field(K, c.f[4], K->actor_max, &e->actor_off, &e->actor_n) || e->actor_n == 0)
        return "an actor_org_id the checks may refuse";
    e->actor = sm_find(&K->actors, K->arena.p + e->actor_off, e->actor_n);
    if (e->actor < 0) {
        e->actor = (int)K->actors.used;
        if (sm_put(&K->actors, K->arena.p + e->actor_off, e->actor_n, e->actor)) return "";
    }
    e->site_null = !c.seen[5] || (c.f[5].n == 4 && memcmp(c.f[5].p, "null", 4) == 0);
    if (!e->site_null && text_field(K, c.f[5], K->site_max, &e->site_off, &e->site_n))
        return "a site_id the checks may refuse";
    e->dyn_first = K->n_dyn;
    e->pay_off = K->arena.n;
    if (!c.seen[6]) {
        if (sb_add(&K->arena, "{}", 2)) return "";
    } else {
        if (c.f[6].p[0] != '{') return "a payload that is not a JSON object";
        pay_ctx pc = {K, e, NULL};
        int rc = canon_value(c.f[6], 1, &K->arena, &K->tmp, payload_cb, &pc);
        if (rc < 0) return "";
        if (rc) return pc.why ? pc.why : "a payload the checks may refuse";
    }
    e->pay_n = K->arena.n - e->pay_off;
    if (e->pay_n > K->max_payload) return "a payload beyond the size limit";
    if (e->to_org_n) { /* the consignee's text, after the payload (for the write checks) */
        if (unescape((span){K->arena.p + e->to_org_off, e->to_org_n}, &K->tmp)) return "a to_org_id with a lone surrogate";
        e->to_org_off = K->arena.n;
        e->to_org_n = K->tmp.n;
        e->to_org_text = 1;
        if (sb_add(&K->arena, K->tmp.p, K->tmp.n)) return "";
    }
    K->n_ev++;
    return NULL;
}

/* parse(block: bytes) -> (records, new raw identifiers): whole lines, after any BOM. */
static PyObject *kernel_parse(Kernel *K, PyObject *arg) {
    char *data;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(arg, &data, &len)) return NULL;
    kernel_reset_block(K);
    if (!utf8_valid((const unsigned char *)data, (size_t)len)) return not_certain("text that is not UTF-8");
    size_t first_raw = K->n_raw;
    long records = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *q = nl ? nl : end;
        const char *cr = memchr(p, '\r', (size_t)(q - p));
        if (cr && cr != q - 1) return not_certain("a carriage return inside a line");
        const char *a = p, *b = q;
        skip_ws(&a, b);
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (a < b) {
            records++;
            const char *why = parse_line(K, a, (size_t)(b - a));
            if (why) return *why ? not_certain(why) : PyErr_NoMemory();
        }
        p = nl ? nl + 1 : end;
    }
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (size_t i = first_raw; i < K->n_raw; i++) {
        PyObject *t = utf8_str(K->raws.keys.p + K->raw[i].off, K->raw[i].n);
        if (!t || PyList_Append(out, t)) { Py_XDECREF(t); Py_DECREF(out); return NULL; }
        Py_DECREF(t);
    }
    return Py_BuildValue("(lN)", records, out);
}

#endif
