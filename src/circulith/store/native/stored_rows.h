/* The stored batteries, read before the events in the same snapshot.
 * Part of circulith.store._ledger_native (included by _ledger_native.c, one translation unit).
 *
 * The reading thread reads every stored battery first and keeps a copy of its cells; their passport
 * documents go through the pipeline (native/pipeline.h) to be hashed on the hashing thread while the
 * events are read. The comparison with the replayed state (native/stored_check.h) runs on the copies once
 * the replay is done. Documents are not kept: only their SHA-256 is compared, and Python is handed the
 * digest in the document's place.
 */
#ifndef CIRCULITH_NATIVE_STORED_ROWS_H
#define CIRCULITH_NATIVE_STORED_ROWS_H

typedef struct {
    brow r;               /* cells point into the arena once reading is done */
    int64_t iv[N_BCOLS];  /* SQLite integer cells */
    double rv[N_BCOLS];   /* SQLite real cells */
    size_t off[N_BCOLS];  /* where each kept cell starts in the arena */
} stored_row;

/* Rows in chunks that never move: the hashing thread writes each document's digest into its row while the
 * reading thread appends later ones. */
#define STORED_CHUNK 1024

typedef struct {
    stored_row **chunks;
    size_t n, n_chunks;
    sbuf arena;           /* every kept cell, each followed by a NUL (the reading thread's alone) */
    int postgres;         /* cells are PostgreSQL's text output */
} stored_rows;

static stored_row *stored_at(const stored_rows *S, size_t k) { return &S->chunks[k / STORED_CHUNK][k % STORED_CHUNK]; }

static void stored_free(stored_rows *S) {
    for (size_t i = 0; i < S->n_chunks; i++) free(S->chunks[i]);
    free(S->chunks);
    sb_free(&S->arena);
    memset(S, 0, sizeof *S);
}

static stored_row *stored_next(stored_rows *S) {
    if (S->n == S->n_chunks * STORED_CHUNK) {
        stored_row **chunks = realloc(S->chunks, (S->n_chunks + 1) * sizeof *chunks);
        if (!chunks) return NULL;
        S->chunks = chunks;
        if (!(chunks[S->n_chunks] = malloc(STORED_CHUNK * sizeof **chunks))) return NULL;
        S->n_chunks++;
    }
    return stored_at(S, S->n++);
}

/* Every cell but the document copied into the arena (a NUL after each); the document is hashed apart. */
static int stored_keep(stored_rows *S, stored_row *s) {
    brow *r = &s->r;
    for (int i = 0; i < N_BCOLS; i++) {
        s->off[i] = S->arena.n;
        if (i == B_DOC) continue;
        if (sb_add(&S->arena, r->c[i].p, r->c[i].null ? 0 : r->c[i].n)) return -1;
        S->arena.n++; /* keep the NUL sb_add wrote */
    }
    return 0;
}

/* Points every kept cell into the arena, which has stopped moving (the document's is left empty). */
static void stored_done(stored_rows *S) {
    for (size_t k = 0; k < S->n; k++) {
        stored_row *s = stored_at(S, k);
        for (int i = 0; i < N_BCOLS; i++) s->r.c[i].p = S->arena.p ? S->arena.p + s->off[i] : "";
        s->r.c[B_DOC].n = 0;
    }
}

/* ------------------------------------------------------------------ SQLite */

/* One row of BATTERIES_SQL: each cell's kind and bytes (text, or a blob's bytes for 'o'). */
static void sqlite_brow(sqlite3_stmt *st, stored_row *s) {
    brow *r = &s->r;
    for (int i = 0; i < N_BCOLS; i++) {
        col *c = &r->c[i];
        c->null = 0;
        c->p = "";
        c->n = 0;
        switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL: r->ty[i] = 'n'; c->null = 1; break;
            case SQLITE_INTEGER: r->ty[i] = 'i'; s->iv[i] = sqlite3_column_int64(st, i); break;
            case SQLITE_FLOAT: r->ty[i] = 'r'; s->rv[i] = sqlite3_column_double(st, i); break;
            case SQLITE_TEXT:
                r->ty[i] = 't';
                c->p = (const char *)sqlite3_column_blob(st, i); /* as stored (UTF-8), see sqlite_fill */
                c->n = (size_t)sqlite3_column_bytes(st, i);
                if (!c->p) c->p = "";
                break;
            default: /* a blob: its bytes kept for Python, never compared */
                r->ty[i] = 'o';
                c->p = sqlite3_column_blob(st, i);
                c->n = (size_t)sqlite3_column_bytes(st, i);
                if (!c->p) c->p = "";
        }
    }
    r->last_seq = r->ty[B_LAST_SEQ] == 'i' ? s->iv[B_LAST_SEQ] : -1;
    if (r->ty[B_SOH] == 'r') r->soh = s->rv[B_SOH];
}

/* A stored row as Python reads it (the document replaced by its digest). */
static PyObject *sqlite_stored_cell(const stored_row *s, int i) {
    const col *c = &s->r.c[i];
    switch (s->r.ty[i]) {
        case 'i': return PyLong_FromLongLong(s->iv[i]);
        case 'r': return PyFloat_FromDouble(s->rv[i]);
        case 't': return PyUnicode_DecodeUTF8(c->p, (Py_ssize_t)c->n, NULL);
        case 'o': return PyBytes_FromStringAndSize(c->p, (Py_ssize_t)c->n);
        default: Py_RETURN_NONE;
    }
}

/* ------------------------------------------------------------------ PostgreSQL (text output) */

/* A cell of PostgreSQL's text output as Python reads it: integer ('i'), double precision ('f') or text. */
static PyObject *pg_text_cell(const char *v, size_t n, int null, char kind) {
    if (null) Py_RETURN_NONE;
    if (kind == 'i') return PyLong_FromString(v, NULL, 10);
    if (kind == 'f') {
        PyObject *s = PyUnicode_FromStringAndSize(v, (Py_ssize_t)n);
        if (!s) return NULL;
        PyObject *f = PyFloat_FromString(s);
        Py_DECREF(s);
        return f;
    }
    return PyUnicode_DecodeUTF8(v, (Py_ssize_t)n, NULL);
}


static void pg_brow(PGresult *res, int row, brow *r) {
    for (int i = 0; i < N_BCOLS; i++) {
        col *c = &r->c[i];
        c->null = PQgetisnull(res, row, i);
        c->p = PQgetvalue(res, row, i);
        c->n = (size_t)PQgetlength(res, row, i);
        r->ty[i] = c->null ? 'n' : 't';
    }
    r->last_seq = -1;
    if (r->ty[B_LAST_SEQ] == 't') r->ty[B_LAST_SEQ] = parse_int64(r->c[B_LAST_SEQ].p, &r->last_seq) ? 'o' : 'i';
    if (r->ty[B_SOH] == 't') {
        char *end;
        r->soh = strtod(r->c[B_SOH].p, &end);
        r->ty[B_SOH] = *end || memchr(r->c[B_SOH].p, 'N', r->c[B_SOH].n) || memchr(r->c[B_SOH].p, 'I', r->c[B_SOH].n)
                           ? 'o' : 'r';
    }
}

static PyObject *pg_stored_cell(const stored_row *s, int i) {
    const col *c = &s->r.c[i];
    return pg_text_cell(c->p, c->n, c->null, i == B_LAST_SEQ ? 'i' : i == B_SOH ? 'f' : 's');
}

/* The cells of a stored row as Python reads them, the document replaced by its digest. */
static PyObject *stored_tuple(const stored_rows *S, const stored_row *s) {
    PyObject *t = PyTuple_New(N_BCOLS);
    if (!t) return NULL;
    for (int i = 0; i < N_BCOLS; i++) {
        PyObject *v = i == B_DOC ? PyUnicode_FromStringAndSize(s->r.digest, 64)
                      : S->postgres ? pg_stored_cell(s, i) : sqlite_stored_cell(s, i);
        if (!v) { Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

#endif
