/* ImportKernel, continued: batteries, event IDs, the chaining and state of each event, the results.
 * Part of circulith.store._ledger_native (included by _ledger_native.c after native/import_checks.h). */
#ifndef CIRCULITH_NATIVE_IMPORT_CHAIN_H
#define CIRCULITH_NATIVE_IMPORT_CHAIN_H

/* Python's comparison of two str given as UTF-8 (code point order is byte order). */
static int cmp_text(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

/* resolve(bids, states): the battery ID of each raw identifier the last parse returned, in its order, and
 * for each battery this kernel has not seen, its stored state: (state index, status, manufactured_from,
 * last_occurred_at, custodian or None, site or None, last_seq, last_chain_sha256, dynamic_json, whether units
 * travel with a receipt of it, custody facts or None). */
static PyObject *kernel_resolve(Kernel *K, PyObject *args) {
    PyObject *bids, *states;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &bids, &PyDict_Type, &states)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(bids);
    size_t first = K->n_raw - (size_t)n;
    if ((size_t)n > K->n_raw) return PyErr_Format(PyExc_ValueError, "resolve: more battery IDs than identifiers");
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *bid = PyList_GET_ITEM(bids, i);
        Py_ssize_t bn;
        const char *bp = PyUnicode_Check(bid) ? PyUnicode_AsUTF8AndSize(bid, &bn) : NULL;
        if (!bp) return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_TypeError, "resolve: a battery ID that is not text");
        int b = sm_find(&K->bat_ids, bp, (size_t)bn);
        if (b < 0) {
            PyObject *t = PyDict_GetItemWithError(states, bid);
            if (!t) return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_KeyError, "resolve: no state for %U", bid);
            kbat *x = calloc(1, sizeof *x);
            if (!x || !(x->dyn = calloc((size_t)K->n_applied + 1, sizeof *x->dyn))) { free(x); return PyErr_NoMemory(); }
            PyObject *status, *mf, *last, *cust, *site, *doc, *facts;
            long long seq;
            const char *sha;
            Py_ssize_t sha_n;
            if (!PyArg_ParseTuple(t, "iUUUOOLs#UpO", &x->state, &status, &mf, &last, &cust, &site, &seq, &sha, &sha_n,
                                  &doc, &x->has_units, &facts) ||
                x->state < 0 || x->state >= K->n_states || sha_n != 64 || copy_str(bid, &x->id) || copy_str(doc, &x->doc) ||
                copy_str(mf, &x->manufactured_from) || copy_str(last, &x->last_at) ||
                opt_text(cust, &x->custodian, &x->has_custodian) || opt_text(site, &x->site, &x->has_site) ||
                custody_facts_from(K, x, facts)) {
                free(x->dyn);
                free(x);
                return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "resolve: a state of the wrong shape");
            }
            x->seq = seq;
            memcpy(x->sha, sha, 64);
            x->bid = Py_NewRef(bid);
            x->status = Py_NewRef(status);
            if (K->n_bats == K->cap_bats) {
                size_t cap = K->cap_bats ? 2 * K->cap_bats : 1024;
                kbat **q = realloc(K->bats, cap * sizeof *q);
                if (!q) return PyErr_NoMemory();
                K->bats = q;
                K->cap_bats = cap;
            }
            b = (int)K->n_bats;
            K->bats[K->n_bats++] = x;
            if (sm_put(&K->bat_ids, bp, (size_t)bn, b)) return PyErr_NoMemory();
        }
        K->raw[first + (size_t)i].bat = b;
    }
    Py_RETURN_NONE;
}

/* The content text of event `e` (circulith.ledger.hashing.content_text) into K->text, with ID `id`. */
static int content(Kernel *K, const kevent *e, const kbat *b, const char *id, size_t id_n) {
    sbuf *t = &K->text;
    const char *A = K->arena.p;
    t->n = 0;
    return sb_add(t, "{\"actor_org_id\":", 16) || sb_add_json_string(t, A + e->actor_off, e->actor_n) ||
           sb_add(t, ",\"battery_id\":", 14) || sb_add_json_string(t, b->id.p, b->id.n) ||
           sb_add(t, ",\"event_id\":", 12) || sb_add_json_string(t, id, id_n) ||
           sb_add(t, ",\"kind\":", 8) || sb_add_json_string(t, K->kinds[e->kind].p, K->kinds[e->kind].n) ||
           sb_add(t, ",\"occurred_at\":\"", 16) || sb_add(t, e->at, 27) || sb_add(t, "\",\"payload\":", 12) ||
           sb_add(t, A + e->pay_off, e->pay_n) || sb_add(t, ",\"site_id\":", 11) ||
           (e->site_null ? sb_add(t, "null", 4) : sb_add_json_string(t, A + e->site_off, e->site_n)) ||
           sb_add(t, "}", 1);
}

/* ids() -> list of str: each pending event's ID, its own or derived (circulith.ledger.chain.event_uuid5). */
static PyObject *kernel_ids(Kernel *K, PyObject *arg) {
    char *ns;
    Py_ssize_t ns_n;
    if (PyBytes_AsStringAndSize(arg, &ns, &ns_n)) return NULL;
    if (ns_n != 16) return PyErr_Format(PyExc_ValueError, "ids: the namespace is 16 bytes");
    PyObject *out = PyList_New((Py_ssize_t)K->n_ev);
    if (!out) return NULL;
    static const char hex[] = "0123456789abcdef", variant[] = "89ab89ab89ab89ab";
    for (size_t i = 0; i < K->n_ev; i++) {
        kevent *e = &K->ev[i];
        int bi = K->raw[e->raw].bat;
        if (bi < 0) { Py_DECREF(out); return PyErr_Format(PyExc_ValueError, "ids: an unresolved battery"); }
        PyObject *s;
        if (e->ev_n) {
            e->id_off = e->ev_off;
            e->id_n = e->ev_n;
            s = utf8_str(K->arena.p + e->ev_off, e->ev_n);
        } else {
            if (content(K, e, K->bats[bi], "", 0)) { Py_DECREF(out); return PyErr_NoMemory(); }
            unsigned char d[SHA_DIGEST_LENGTH];
            SHA_CTX c;
            SHA1_Init(&c);
            SHA1_Update(&c, ns, 16);
            SHA1_Update(&c, K->text.p, K->text.n);
            SHA1_Final(d, &c);
            char h[32], u[36];
            for (int k = 0; k < 16; k++) { h[2 * k] = hex[d[k] >> 4]; h[2 * k + 1] = hex[d[k] & 15]; }
            memcpy(u, h, 8); u[8] = '-';
            memcpy(u + 9, h + 8, 4); u[13] = '-';
            u[14] = '5'; memcpy(u + 15, h + 13, 3); u[18] = '-';
            u[19] = variant[hexval(h[16])]; memcpy(u + 20, h + 17, 3); u[23] = '-';
            memcpy(u + 24, h + 20, 12);
            e->id_off = K->arena.n;
            e->id_n = 36;
            if (sb_add(&K->arena, u, 36)) { Py_DECREF(out); return PyErr_NoMemory(); }
            s = ascii_str(u, 36);
        }
        if (!s) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, (Py_ssize_t)i, s);
    }
    Py_XSETREF(K->ids, Py_NewRef(out));
    return out;
}

static int same_text(PyObject *o, const char *p, size_t n) {
    if (!PyUnicode_Check(o)) return 0;
    Py_ssize_t m;
    const char *q = PyUnicode_AsUTF8AndSize(o, &m);
    if (!q) { PyErr_Clear(); return 0; }
    return (size_t)m == n && memcmp(p, q, n) == 0;
}

/* Whether a recorded event (battery_id, kind, occurred_at, actor_org_id, site_id, payload_json) is `e`. */
static int same_as_recorded(Kernel *K, const kevent *e, const kbat *b, PyObject *t) {
    const char *A = K->arena.p;
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 7) return 0; /* (event_id, ...) as _existing_events reads */
    PyObject *site = PyTuple_GET_ITEM(t, 5);
    return same_text(PyTuple_GET_ITEM(t, 1), b->id.p, b->id.n) &&
           same_text(PyTuple_GET_ITEM(t, 2), K->kinds[e->kind].p, K->kinds[e->kind].n) &&
           same_text(PyTuple_GET_ITEM(t, 3), e->at, 27) && same_text(PyTuple_GET_ITEM(t, 4), A + e->actor_off, e->actor_n) &&
           (e->site_null ? site == Py_None : same_text(site, A + e->site_off, e->site_n)) &&
           same_text(PyTuple_GET_ITEM(t, 6), A + e->pay_off, e->pay_n);
}

static int same_event(const Kernel *K, const kevent *x, const kevent *y) {
    const char *A = K->arena.p;
    return K->raw[x->raw].bat == K->raw[y->raw].bat && x->kind == y->kind && memcmp(x->at, y->at, 27) == 0 &&
           x->actor_n == y->actor_n && memcmp(A + x->actor_off, A + y->actor_off, x->actor_n) == 0 &&
           x->site_null == y->site_null &&
           (x->site_null || (x->site_n == y->site_n && memcmp(A + x->site_off, A + y->site_off, x->site_n) == 0)) &&
           x->pay_n == y->pay_n && memcmp(A + x->pay_off, A + y->pay_off, x->pay_n) == 0;
}

static void link_hex(const char *a, const char *b, char out[64]) {
    char pair[128];
    unsigned char raw[32];
    memcpy(pair, a, 64);
    memcpy(pair + 64, b, 64);
    sha256(pair, 128, raw);
    to_hex(raw, out);
}

/* The state after event `e` on battery `b` (ledger_store._append_events, after the chaining). */
static int apply_state(Kernel *K, kbat *b, const kevent *e) {
    const char *A = K->arena.p;
    unsigned char f = K->flags[e->kind];
    if (K->status_after[e->kind]) Py_SETREF(b->status, Py_NewRef(K->status_after[e->kind]));
    if (f & K_CUSTODY) {
        if (sb_set(&b->custodian, A + e->actor_off, e->actor_n)) return -1;
        b->has_custodian = 1;
        b->has_site = !e->site_null;
        if (b->has_site && sb_set(&b->site, A + e->site_off, e->site_n)) return -1;
    }
    if ((f & K_SHIPPED) && e->to_org) b->has_site = 0;
    if ((f & K_INSTALLED) && e->region) {
        if (sb_set(&b->region, A + e->region_off, e->region_n)) return -1;
        b->region_set = 1;
    }
    if (f & K_DYNAMIC) {
        for (int j = 0; j < e->n_dyn; j++) { /* the latest updated_at wins; of equal ones, the later row */
            const kdyn *d = &K->dyn[e->dyn_first + (size_t)j];
            winner *w = &b->dyn[d->key];
            if (w->has && memcmp(e->at, w->at, 27) < 0) continue;
            w->has = 1;
            memcpy(w->at, e->at, 27);
            if (sb_set(&w->value, A + d->off, d->n)) return -1;
        }
        if (e->acc) { /* {"date", "description", "kind"}: ledger_store._add_accident, keys sorted */
            sbuf *o = &b->accidents;
            if ((o->n && sb_add(o, ",", 1)) || sb_add(o, "{\"date\":\"", 9) || sb_add(o, e->at, 10) ||
                sb_add(o, "\",\"description\":", 16) ||
                (e->accd_n ? sb_add(o, A + e->accd_off, e->accd_n) : sb_add(o, "\"\"", 2)) || sb_add(o, ",\"kind\":", 8) ||
                (e->acck_n ? sb_add_json_string(o, A + e->acck_off, e->acck_n) : sb_add(o, "\"other\"", 7)) ||
                sb_add(o, "}", 1))
                return -1;
        }
    }
    b->dirty = 1;
    return 0;
}

/* chain(existing, limit) -> (rows, unchanged, recorded before): the block's events checked, chained and applied,
 * in order; `unchanged` counts the events already recorded, `recorded before` those of them in `existing`.
 * `existing` maps the IDs already recorded to their rows (ledger_store._existing_events); `limit` is the
 * latest admissible timestamp. Raises NotCertain for any event the Python path would refuse. */
static PyObject *kernel_chain(Kernel *K, PyObject *args) {
    PyObject *existing;
    const char *limit;
    Py_ssize_t limit_n;
    if (!PyArg_ParseTuple(args, "O!s#", &PyDict_Type, &existing, &limit, &limit_n)) return NULL;
    if (!K->ids || (size_t)PyList_GET_SIZE(K->ids) != K->n_ev) return PyErr_Format(PyExc_ValueError, "chain: call ids() first");
    PyObject *rows = PyList_New(0);
    if (!rows) return NULL;
    long unchanged = 0, recorded = 0;
    const char *A;
    for (size_t i = 0; i < K->n_ev; i++) {
        kevent *e = &K->ev[i];
        kbat *b = K->bats[K->raw[e->raw].bat];
        PyObject *id = PyList_GET_ITEM(K->ids, (Py_ssize_t)i);
        A = K->arena.p;
        PyObject *known = PyDict_GetItemWithError(existing, id);
        if (!known && PyErr_Occurred()) goto fail;
        if ((K->flags[e->kind] & K_RECEIPT) && b->has_units) { /* the Python path writes the units' receipts */
            PyErr_SetString(NotCertain, "a receipt of a battery whose units travel with it");
            goto fail;
        }
        if (!known && K->auth) { /* an event recorded before is not authorised again (as the Python path) */
            const char *why = authorise(K, b, e);
            if (why) {
                if (*why) PyErr_SetString(NotCertain, why);
                else PyErr_NoMemory();
                goto fail;
            }
            A = K->arena.p;
        }
        int prior = sm_find(&K->seen, A + e->id_off, e->id_n);
        if (known || prior >= 0) {
            if (known ? same_as_recorded(K, e, b, known) : same_event(K, e, &K->ev[prior])) {
                unchanged++;
                recorded += known != NULL;
                continue;
            }
            PyErr_SetString(NotCertain, "an event ID recorded with other content");
            goto fail;
        }
        if (cmp_text(e->at, 27, b->manufactured_from.p, b->manufactured_from.n) < 0 ||
            cmp_text(e->at, 27, limit, (size_t)limit_n) > 0 ||
            (cmp_text(e->at, 27, b->last_at.p, b->last_at.n) < 0 && !(K->flags[e->kind] & K_ANY_ORDER))) {
            PyErr_SetString(NotCertain, "an event out of its battery's time line");
            goto fail;
        }
        unsigned char next = K->trans[(size_t)(b->state + 1) * (size_t)K->n_kinds + (size_t)e->kind];
        if (next == 255) { PyErr_SetString(NotCertain, "a transition the state machine refuses"); goto fail; }
        if (sm_put(&K->seen, A + e->id_off, e->id_n, (int)i)) { PyErr_NoMemory(); goto fail; }
        A = K->arena.p;
        b->state = next;
        if (cmp_text(e->at, 27, b->last_at.p, b->last_at.n) > 0 && sb_set(&b->last_at, e->at, 27)) { PyErr_NoMemory(); goto fail; }
        /* the links (circulith.ledger.chain.ChainBuilder.link) */
        int64_t gseq = K->gseq + 1, bseq = b->seq + 1;
        char num[48];
        size_t m = format_int(num, bseq);
        num[m++] = '|';
        m += format_int(num + m, gseq);
        num[m++] = '|';
        if (content(K, e, b, A + e->id_off, e->id_n)) { PyErr_NoMemory(); goto fail; }
        SHA256_CTX c;
        unsigned char raw[32];
        char digest[64], b_chain[64], g_chain[64], b_prev[64], g_prev[64];
        SHA256_Init(&c);
        SHA256_Update(&c, num, m);
        SHA256_Update(&c, K->text.p, K->text.n);
        SHA256_Final(raw, &c);
        to_hex(raw, digest);
        memcpy(b_prev, b->sha, 64);
        memcpy(g_prev, K->gsha, 64);
        link_hex(b_prev, digest, b_chain);
        link_hex(g_prev, digest, g_chain);
        /* the row's text objects; a predecessor link is the object of the link before it */
        if (!b->tip && !(b->tip = ascii_str(b_prev, 64))) goto fail;
        if (!K->gtip && !(K->gtip = ascii_str(g_prev, 64))) goto fail;
        if ((size_t)e->actor >= K->cap_actor_str) {
            size_t cap = K->actors.used + 64;
            PyObject **q = realloc(K->actor_str, cap * sizeof *q);
            if (!q) { PyErr_NoMemory(); goto fail; }
            memset(q + K->cap_actor_str, 0, (cap - K->cap_actor_str) * sizeof *q);
            K->actor_str = q;
            K->cap_actor_str = cap;
        }
        PyObject **actor = &K->actor_str[e->actor];
        if (!*actor && !(*actor = utf8_str(A + e->actor_off, e->actor_n))) goto fail;
        PyObject *bc = ascii_str(b_chain, 64), *gc = ascii_str(g_chain, 64);
        PyObject *row = bc && gc ? Py_BuildValue("(LOLOONONNNOOOO)", (long long)gseq, b->bid, (long long)bseq, id,
                                                 K->kind_str[e->kind], ascii_str(e->at, 27), *actor,
                                                 e->site_null ? Py_NewRef(Py_None) : utf8_str(A + e->site_off, e->site_n),
                                                 utf8_str(A + e->pay_off, e->pay_n), ascii_str(digest, 64), b->tip, bc,
                                                 K->gtip, gc)
                                 : NULL;
        Py_XSETREF(b->tip, bc);
        Py_XSETREF(K->gtip, gc);
        if (!row || PyList_Append(rows, row)) { Py_XDECREF(row); goto fail; }
        Py_DECREF(row);
        b->seq = bseq;
        memcpy(b->sha, b_chain, 64);
        K->gseq = gseq;
        memcpy(K->gsha, g_chain, 64);
        if (apply_state(K, b, e)) { if (!PyErr_Occurred()) PyErr_NoMemory(); goto fail; }
    }
    kernel_reset_block(K);
    return Py_BuildValue("(Nll)", rows, unchanged, recorded);
fail:
    Py_DECREF(rows);
    return NULL;
}

static PyObject *opt_str(const sbuf *b, int has) { return has ? utf8_str(b->p, b->n) : Py_NewRef(Py_None); }

typedef struct {
    Kernel *K;
    kbat *b;
    sbuf *out;
    int present[MAX_APPLIED], replaced[MAX_APPLIED], had_accidents;
    const char *why;
} merge_ctx;

/* One member of the stored dynamic document, kept or replaced (ledger_store._set_dynamic, _add_accident). */
static int merge_member(void *vctx, span key, span value) {
    merge_ctx *c = vctx;
    Kernel *K = c->K;
    const char *kp;
    size_t kn;
    if (key_text(key, &K->tmp, &kp, &kn)) { c->why = "a dynamic key with a lone surrogate"; return -1; }
    int a = name_index(K->applied, K->n_applied, kp, kn);
    if (c->out->n > 1 && sb_add(c->out, ",", 1)) return -1;
    if (sb_add(c->out, key.p, key.n) || sb_add(c->out, ":", 1)) return -1;
    if (NAME_IS(kp, kn, "accidents") && c->b->accidents.n) {
        if (value.p[0] != '[') { c->why = "stored accidents that are not a list"; return -1; }
        c->had_accidents = 1;
        const char *p = value.p + 1, *end = value.p + value.n - 1;
        skip_ws(&p, end);
        return sb_add(c->out, value.p, value.n - 1) || (p < end && sb_add(c->out, ",", 1)) ||
               sb_add(c->out, c->b->accidents.p, c->b->accidents.n) || sb_add(c->out, "]", 1);
    }
    if (a >= 0) c->present[a] = 1;
    if (a >= 0 && c->b->dyn[a].has) {
        winner *w = &c->b->dyn[a];
        int keep = 0;
        if (value.p[0] == '{') { /* a later reading recorded already? (`updated_at` compared as text) */
            span found = {NULL, 0};
            const char *p = value.p + 1, *end = value.p + value.n - 1;
            skip_ws(&p, end);
            while (p < end) {
                const char *k0 = p;
                skip_string(&p, end);
                span k = {k0, (size_t)(p - k0)};
                skip_ws(&p, end);
                p++;
                skip_ws(&p, end);
                const char *v0 = p;
                skip_value(&p, end, 0);
                const char *tp;
                size_t tn;
                if (key_text(k, &K->tmp, &tp, &tn)) { c->why = "a dynamic key with a lone surrogate"; return -1; }
                if (NAME_IS(tp, tn, "updated_at")) found = (span){v0, (size_t)(p - v0)}; /* the last one counts */
                skip_ws(&p, end);
                if (p < end && *p == ',') { p++; skip_ws(&p, end); }
            }
            if (found.p && truthy(found)) {
                if (found.p[0] != '"' || memchr(found.p, '\\', found.n)) { c->why = "an updated_at that is not plain text"; return -1; }
                keep = cmp_text(found.p + 1, found.n - 2, w->at, 27) > 0;
            }
        }
        if (!keep) {
            c->replaced[a] = 1;
            return sb_add(c->out, "{\"updated_at\":\"", 15) || sb_add(c->out, w->at, 27) ||
                   sb_add(c->out, "\",\"value\":", 10) || sb_add(c->out, w->value.p, w->value.n) || sb_add(c->out, "}", 1);
        }
    }
    return sb_add(c->out, value.p, value.n);
}

/* The battery's dynamic document after the import (canonical JSON) into K->text, and the soh_pct it set
 * (b->soh); 1 when not certain. */
static int merge_dynamic(Kernel *K, kbat *b) {
    sbuf raw = {0};
    merge_ctx c = {.K = K, .b = b, .out = &raw};
    int rc = sb_add(&raw, "{", 1) ? -1 : 0;
    if (!rc) {
        int r = each_member((span){b->doc.p, b->doc.n}, merge_member, &c);
        rc = r == -3 ? (c.why ? 1 : -1) : r ? 1 : 0;
    }
    for (int a = 0; !rc && a < K->n_applied; a++) { /* values the document did not hold yet */
        winner *w = &b->dyn[a];
        if (!w->has || c.present[a]) continue;
        c.replaced[a] = 1;
        if ((raw.n > 1 && sb_add(&raw, ",", 1)) || sb_add_json_string(&raw, K->applied[a].p, K->applied[a].n) ||
            sb_add(&raw, ":{\"updated_at\":\"", 16) || sb_add(&raw, w->at, 27) || sb_add(&raw, "\",\"value\":", 10) ||
            sb_add(&raw, w->value.p, w->value.n) || sb_add(&raw, "}", 1))
            rc = -1;
    }
    if (!rc && b->accidents.n && !c.had_accidents &&
        ((raw.n > 1 && sb_add(&raw, ",", 1)) || sb_add(&raw, "\"accidents\":[", 13) ||
         sb_add(&raw, b->accidents.p, b->accidents.n) || sb_add(&raw, "]", 1)))
        rc = -1;
    if (!rc && sb_add(&raw, "}", 1)) rc = -1;
    if (!rc) {
        K->text.n = 0;
        rc = canon_value((span){raw.p, raw.n}, 1, &K->text, &K->tmp, NULL, NULL);
    }
    int soh = name_index(K->applied, K->n_applied, "soh_pct", 7);
    if (!rc && soh >= 0 && c.replaced[soh]) {
        winner *w = &b->dyn[soh];
        char buf[400];
        if (w->value.n >= sizeof buf) rc = 1;
        else {
            memcpy(buf, w->value.p, w->value.n);
            buf[w->value.n] = 0;
            double d = PyOS_string_to_double(buf, NULL, NULL);
            if (d == -1.0 && PyErr_Occurred()) { PyErr_Clear(); rc = 1; }
            else Py_XSETREF(b->soh, PyFloat_FromDouble(d));
            if (!rc && !b->soh) rc = -1;
        }
    }
    sb_free(&raw);
    return rc;
}

/* changed() -> list of (battery_id, state index, status, last_occurred_at, custodian, site, region literal or
 * None, last_seq, last_chain_sha256, dynamic_json or None when unchanged, soh_pct or None when unchanged).
 * Raises NotCertain for a stored dynamic document the merge is not certain to treat as Python does. */
static PyObject *kernel_changed(Kernel *K, PyObject *unused) {
    (void)unused;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (size_t i = 0; i < K->n_bats; i++) {
        kbat *b = K->bats[i];
        if (!b->dirty) continue;
        int touched = b->accidents.n > 0;
        for (int k = 0; k < K->n_applied; k++) touched |= b->dyn[k].has;
        PyObject *doc = Py_None;
        if (touched) {
            int rc = merge_dynamic(K, b);
            if (rc) {
                if (rc > 0) PyErr_SetString(NotCertain, "a stored dynamic document of another shape");
                else if (!PyErr_Occurred()) PyErr_NoMemory();
                goto fail;
            }
            if (!(doc = utf8_str(K->text.p, K->text.n))) goto fail;
        } else Py_INCREF(doc);
        PyObject *t = Py_BuildValue("(OiONNNNLNNO)", b->bid, b->state, b->status, utf8_str(b->last_at.p, b->last_at.n),
                                    opt_str(&b->custodian, b->has_custodian), opt_str(&b->site, b->has_site),
                                    opt_str(&b->region, b->region_set), (long long)b->seq, ascii_str(b->sha, 64), doc,
                                    b->soh ? b->soh : Py_None);
        if (!t || PyList_Append(out, t)) { Py_XDECREF(t); goto fail; }
        Py_DECREF(t);
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* actors() -> every actor_org_id the records named, in first-seen order. */
static PyObject *kernel_actors(Kernel *K, PyObject *unused) {
    (void)unused;
    PyObject *out = PyList_New((Py_ssize_t)K->actors.used);
    if (!out) return NULL;
    for (size_t i = 0; i < K->actors.cap; i++) {
        const slot *e = &K->actors.s[i];
        if (e->val < 0) continue;
        PyObject *s = utf8_str(K->actors.keys.p + e->off, e->n);
        if (!s) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, e->val, s);
    }
    return out;
}

static PyObject *kernel_head(Kernel *K, PyObject *unused) {
    (void)unused;
    return Py_BuildValue("(LN)", (long long)K->gseq, ascii_str(K->gsha, 64));
}

static PyMethodDef kernel_methods[] = {
    {"parse", (PyCFunction)kernel_parse, METH_O, "parse(block) -> (records, new raw battery identifiers)"},
    {"resolve", (PyCFunction)kernel_resolve, METH_VARARGS, "resolve(battery_ids, states)"},
    {"ids", (PyCFunction)kernel_ids, METH_O, "ids(namespace) -> the pending events' IDs"},
    {"chain", (PyCFunction)kernel_chain, METH_VARARGS, "chain(existing, limit) -> (rows, unchanged, recorded)"},
    {"changed", (PyCFunction)kernel_changed, METH_NOARGS, "changed() -> the changed batteries' states"},
    {"actors", (PyCFunction)kernel_actors, METH_NOARGS, "actors() -> every actor the records named"},
    {"authorisation", (PyCFunction)kernel_authorisation, METH_VARARGS, "authorisation(...): turn the write checks on"},
    {"actor_roles", (PyCFunction)kernel_actor_roles, METH_O, "actor_roles(roles): the roles of the actors named"},
    {"head", (PyCFunction)kernel_head, METH_NOARGS, "head() -> (global_seq, global_chain_sha256)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "circulith.store._ledger_native.ImportKernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The per-event steps of an event import (see circulith.store.native_import).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)kernel_init,
    .tp_dealloc = (destructor)kernel_dealloc,
    .tp_methods = kernel_methods,
};

#endif
