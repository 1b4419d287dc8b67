/* Rows read from the database on one thread and hashed on another, in batches.
 * Part of circulith.store._ledger_native (included by _ledger_native.c, one translation unit). */
#ifndef CIRCULITH_NATIVE_PIPELINE_H
#define CIRCULITH_NATIVE_PIPELINE_H

/* ------------------------------------------------------------------ the pipeline
 *
 * Batches of rows go round a ring through three roles, each on its own thread: the calling thread reads
 * them from the database (fill), a hashing thread computes what depends on the row alone (content text,
 * the three digests, the Merkle leaf, the reading of the payload), and a sequencing thread runs the
 * order-dependent checks and the replay, batch after batch in global order. Every role takes the batches
 * in the same order, so what is found, and in which order, is what one thread would find. With enough
 * batches in flight the two cores stay busy whichever role is the slowest.
 *
 * On SQLite the stored batteries are read first, in the same snapshot: their cells are kept
 * (native/stored_rows.h) and their passport documents travel the ring in batches of their own, which the
 * hashing thread hashes (writing each digest into its row) and the sequencing thread passes over. On
 * PostgreSQL they are read beside the events, on a connection and thread of their own (below).
 */

#define BATCH_ROWS 1024
#define DOC_BATCH_ROWS 256 /* documents of 3-4 kB each: a batch of a size like an events batch */
#define N_BATCHES 8

enum { B_FREE, B_FILLED, B_HASHED };

typedef struct {
    int state, n;
    int docs;             /* a batch of stored batteries' documents (cols[i][0]), each digest for dst[i] */
    stored_row **dst;
    col (*cols)[N_COLS];
    int64_t *gseq, *bseq;
    unsigned char *ok;
    unsigned char (*leaf)[32];
    sbuf arena;           /* the rows' bytes (SQLite's column pointers are valid only until the next step) */
    size_t (*offs)[N_COLS];
    prescan *ps;          /* each row's payload as the replay reads it; per row n_dyn of each below */
    span *last, *init_val;
    size_t (*init_at)[2];
    unsigned char *init_set;
    sbuf scratch;         /* unescaped update times of registrations' initial values */
} batch;

/* What the reading thread met: kept apart from the verification state, which the sequencing thread owns. */
typedef struct {
    const char *fallback;
    int oom;
} fill_status;

typedef struct {
    batch b[N_BATCHES];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want_leaves, replay;
    const tables *T;
    vstate *V;
    long filled;          /* batches filled so far, the number of the next one */
    int ended;            /* the reader has read every row (or stopped): no batch after `filled` */
    int abort;            /* a role failed: the others stop at their next batch */
    int hash_failed;
    pthread_t hasher, sequencer;
    int started;          /* threads running: 0, 1 (hasher), 2 (both) */
    int seq_rc;
} pipeline;

/* Waits until batch number `i` is in `state`, or no such batch will come (0 when it is, -1 otherwise). */
static int batch_await(pipeline *P, long i, int state) {
    batch *b = &P->b[i % N_BATCHES];
    pthread_mutex_lock(&P->mu);
    for (;;) {
        if (P->abort) break;
        if (i < P->filled && b->state == state) break;
        if (P->ended && i >= P->filled) break;
        pthread_cond_wait(&P->cv, &P->mu);
    }
    int ok = !P->abort && i < P->filled && b->state == state;
    pthread_mutex_unlock(&P->mu);
    return ok ? 0 : -1;
}

static void batch_set(pipeline *P, batch *b, int state) {
    pthread_mutex_lock(&P->mu);
    b->state = state;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
}

static void pipeline_abort(pipeline *P) {
    pthread_mutex_lock(&P->mu);
    P->abort = 1;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
}

static void *hash_worker(void *arg) {
    pipeline *P = arg;
    sbuf t = {0}, tmp = {0}, tmp2 = {0};
    size_t nd = (size_t)P->T->n_dyn;
    for (long k = 0; batch_await(P, k, B_FILLED) == 0; k++) {
        batch *b = &P->b[k % N_BATCHES];
        int failed = 0;
        b->scratch.n = 0;
        for (int i = 0; i < b->n && b->docs && !failed; i++) {
            unsigned char raw[32];
            failed = sha256(b->cols[i][0].p, b->cols[i][0].n, raw);
            to_hex(raw, b->dst[i]->r.digest);
        }
        for (int i = 0; i < b->n && !b->docs && !failed; i++) {
            failed = hash_row(&t, b->cols[i], b->gseq[i], b->bseq[i], &b->ok[i], b->leaf[i], P->want_leaves);
            if (P->replay)
                prescan_row(P->T, b->cols[i], &b->ps[i], b->last + i * nd, b->init_val + i * nd, b->init_at + i * nd,
                            b->init_set + i * nd, &b->scratch, &tmp, &tmp2);
        }
        if (failed) {
            P->hash_failed = 1; /* read after the join */
            pipeline_abort(P);
            break;
        }
        batch_set(P, b, B_HASHED);
    }
    sb_free(&t);
    sb_free(&tmp);
    sb_free(&tmp2);
    return NULL;
}

static void *sequencer(void *arg) {
    pipeline *P = arg;
    vstate *V = P->V;
    size_t nd = (size_t)V->T->n_dyn;
    for (long k = 0; batch_await(P, k, B_HASHED) == 0; k++) {
        batch *cur = &P->b[k % N_BATCHES];
        int rc = 0;
        for (int i = 0; i < cur->n && !cur->docs; i++) {
            row_facts rf = {&cur->ps[i], cur->last + i * nd, cur->init_val + i * nd, cur->init_at + i * nd,
                            cur->init_set + i * nd, cur->scratch.p};
            if (seq_row(V, cur->cols[i], cur->gseq[i], cur->bseq[i], cur->ok[i], cur->leaf[i], &rf)) { rc = -1; break; }
        }
        if (rc) {
            P->seq_rc = -1;
            pipeline_abort(P);
            break;
        }
        batch_set(P, cur, B_FREE);
    }
    return NULL;
}

static void pipeline_free(pipeline *P) {
    for (int k = 0; k < N_BATCHES; k++) {
        batch *b = &P->b[k];
        free(b->dst); free(b->cols); free(b->offs); free(b->gseq); free(b->bseq); free(b->ok); free(b->leaf);
        free(b->ps); free(b->last); free(b->init_val); free(b->init_at); free(b->init_set);
        sb_free(&b->arena);
        sb_free(&b->scratch);
    }
}

/* Starts the hashing and sequencing threads over `V` (which the sequencing thread alone touches until
 * pipeline_end). -1 when out of memory or threads (nothing then runs). */
static int pipeline_begin(pipeline *P, vstate *V) {
    memset(P, 0, sizeof *P);
    P->want_leaves = V->want_leaves;
    P->replay = V->replay;
    P->T = V->T;
    P->V = V;
    size_t nd = (size_t)V->T->n_dyn + 1;
    for (int k = 0; k < N_BATCHES; k++) {
        batch *b = &P->b[k];
        b->dst = malloc(sizeof *b->dst * BATCH_ROWS);
        b->cols = malloc(sizeof *b->cols * BATCH_ROWS);
        b->offs = malloc(sizeof *b->offs * BATCH_ROWS);
        b->gseq = malloc(sizeof *b->gseq * BATCH_ROWS);
        b->bseq = malloc(sizeof *b->bseq * BATCH_ROWS);
        b->ok = malloc(BATCH_ROWS);
        b->leaf = malloc(sizeof *b->leaf * BATCH_ROWS);
        b->ps = malloc(sizeof *b->ps * BATCH_ROWS);
        b->last = malloc(sizeof *b->last * BATCH_ROWS * nd);
        b->init_val = malloc(sizeof *b->init_val * BATCH_ROWS * nd);
        b->init_at = malloc(sizeof *b->init_at * BATCH_ROWS * nd);
        b->init_set = malloc(BATCH_ROWS * nd);
        if (!b->dst || !b->cols || !b->offs || !b->gseq || !b->bseq || !b->ok || !b->leaf || !b->ps || !b->last || !b->init_val ||
            !b->init_at || !b->init_set) {
            pipeline_free(P);
            return -1;
        }
    }
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->cv, NULL);
    if (pthread_create(&P->hasher, NULL, hash_worker, P)) goto fail;
    P->started = 1;
    if (pthread_create(&P->sequencer, NULL, sequencer, P)) goto fail;
    P->started = 2;
    return 0;
fail:
    pipeline_abort(P);
    if (P->started) pthread_join(P->hasher, NULL);
    P->started = 0;
    pthread_mutex_destroy(&P->mu);
    pthread_cond_destroy(&P->cv);
    pipeline_free(P);
    return -1;
}

/* Fills a batch with up to BATCH_ROWS rows; returns the number, 0 at the end, -1 on failure. */
typedef int (*fill_fn)(void *src, batch *b, fill_status *fs);

/* A batch emptied for a fill: of events, or of stored batteries' documents. */
static void batch_begin(batch *b, int docs) {
    b->n = 0;
    b->docs = docs;
    b->arena.n = 0;
}

/* The reading role, on the calling thread: every row of `src` into the ring, after those fed before. 0 when
 * all were read, -1 when the reader failed (`fs` says why, unless the source does) or another role stopped. */
static int pipeline_feed(pipeline *P, fill_fn fill, void *src, fill_status *fs) {
    int rc = 0;
    for (long k = P->filled;; k++) {
        batch *b = &P->b[k % N_BATCHES];
        if (k >= N_BATCHES && batch_await(P, k - N_BATCHES, B_FREE)) { rc = -1; break; } /* its slot, sequenced */
        int n = fill(src, b, fs);
        if (n <= 0) { rc = n < 0 ? -1 : 0; break; }
        pthread_mutex_lock(&P->mu);
        b->state = B_FILLED;
        P->filled = k + 1;
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
    }
    if (rc) pipeline_abort(P);
    return rc;
}

/* Waits for the other roles and frees the ring. 0 when every row read was checked, -1 otherwise (V says why
 * when the sequencing thread stopped; V->oom when the hashing one did). */
static int pipeline_end(pipeline *P) {
    if (P->started) {
        pthread_mutex_lock(&P->mu);
        P->ended = 1; /* no more batches */
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
        pthread_join(P->hasher, NULL);
        if (P->started > 1) pthread_join(P->sequencer, NULL);
        pthread_mutex_destroy(&P->mu);
        pthread_cond_destroy(&P->cv);
    }
    if (P->hash_failed) P->V->oom = 1;
    int rc = P->hash_failed || P->seq_rc || P->abort ? -1 : 0;
    pipeline_free(P);
    memset(P, 0, sizeof *P);
    return rc;
}

/* ------------------------------------------------------------------ row sources */

typedef struct {
    sqlite3_stmt *st;
    int done, rc;
} sqlite_src;

static int finish_batch(batch *b, fill_status *V) {
    for (int i = 0; i < b->n; i++) {
        const char *why = row_problem(b->cols[i]);
        if (why) { V->fallback = why; return -1; }
    }
    return b->n;
}

static int sqlite_fill(void *source, batch *b, fill_status *V) {
    sqlite_src *S = source;
    sqlite3_stmt *st = S->st;
    batch_begin(b, 0);
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
            /* The cell's value, read on this thread only (the connection is this reader's alone), and a text
             * cell's bytes as stored (the database is UTF-8): unlike sqlite3_column_text, without copying them
             * to add a terminating NUL. */
            sqlite3_value *v = sqlite3_column_value(st, i);
            int ty = sqlite3_value_type(v);
            if (ty == SQLITE_NULL) { c[i].null = 1; continue; }
            if (ty != SQLITE_TEXT) { V->fallback = "an event column that is not text"; return -1; }
            const char *text = (const char *)sqlite3_value_blob(v);
            c[i].n = (size_t)sqlite3_value_bytes(v);
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
    int done, failed, header_done;
} pg_src;

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* A binary COPY integer field (int4 or int8, big-endian). */
static int copy_int(const unsigned char *p, int32_t len, int64_t *out) {
    if (len == 4) { *out = (int32_t)be32(p); return 0; }
    if (len == 8) { *out = (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); return 0; }
    return -1;
}

/* Rows of `COPY (events in global order) TO STDOUT (FORMAT binary)`: one row a message, length-prefixed
 * fields, no escaping to undo; copied into the batch (each message is freed at once). */
static int pg_fill(void *source, batch *b, fill_status *V) {
    static const unsigned char SIGNATURE[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    pg_src *S = source;
    batch_begin(b, 0);
    while (b->n < BATCH_ROWS && !S->done) {
        char *buf = NULL;
        int len = PQgetCopyData(S->conn, &buf, 0);
        if (len == -1) { S->done = 1; break; }
        if (len < 0) { S->failed = 1; return -1; }
        const unsigned char *p = (const unsigned char *)buf, *end = p + len;
        int bad = 0;
        if (!S->header_done) {
            if (len < 19 || memcmp(p, SIGNATURE, 11) != 0) bad = 1;
            else {
                uint32_t ext = be32(p + 15);
                p += 19 + ext;
                S->header_done = 1;
            }
        }
        if (!bad && p + 2 <= end) {
            int16_t fields = (int16_t)((uint16_t)p[0] << 8 | p[1]);
            p += 2;
            if (fields == -1) { PQfreemem(buf); continue; } /* the trailer */
            if (fields != N_COLS) bad = 1;
            col *c = b->cols[b->n];
            for (int i = 0; i < N_COLS && !bad; i++) {
                if (p + 4 > end) { bad = 1; break; }
                int32_t flen = (int32_t)be32(p);
                p += 4;
                b->offs[b->n][i] = b->arena.n;
                c[i].null = flen < 0;
                c[i].n = flen < 0 ? 0 : (size_t)flen;
                if (flen < 0) continue;
                if (p + flen > end) { bad = 1; break; }
                if (i == C_GSEQ || i == C_BSEQ) {
                    if (copy_int(p, flen, i == C_GSEQ ? &b->gseq[b->n] : &b->bseq[b->n])) bad = 1;
                } else if (sb_add(&b->arena, (const char *)p, (size_t)flen)) { PQfreemem(buf); V->oom = 1; return -1; }
                p += flen;
            }
            if (!bad && (c[C_GSEQ].null || c[C_BSEQ].null)) {
                PQfreemem(buf);
                V->fallback = "a sequence number that is not an integer";
                return -1;
            }
            if (!bad) b->n++;
        }
        PQfreemem(buf);
        if (bad) { S->failed = 1; return -1; }
    }
    for (int r = 0; r < b->n; r++)
        for (int i = 0; i < N_COLS; i++) b->cols[r][i].p = b->arena.p ? b->arena.p + b->offs[r][i] : "";
    return finish_batch(b, V);
}

/* ------------------------------------------------------------------ stored batteries as row sources */

/* A batch's documents copied and pointed at (the arena has stopped moving). */
static int docs_done(batch *b) {
    for (int r = 0; r < b->n; r++) b->cols[r][0].p = b->arena.p ? b->arena.p + b->offs[r][0] : "";
    return b->n;
}

static int doc_add(batch *b, stored_row *s) {
    b->offs[b->n][0] = b->arena.n;
    b->cols[b->n][0].n = s->r.c[B_DOC].n;
    b->dst[b->n++] = s;
    return sb_add(&b->arena, s->r.c[B_DOC].p, s->r.c[B_DOC].n);
}

typedef struct {
    sqlite3_stmt *st;
    stored_rows *S;
    int done, rc;
} sqlite_docs_src;

/* The next stored batteries of BATTERIES_SQL: cells kept, documents into the batch. */
static int sqlite_fill_docs(void *source, batch *b, fill_status *fs) {
    sqlite_docs_src *D = source;
    batch_begin(b, 1);
    while (!D->done && b->n < DOC_BATCH_ROWS) {
        int rc = sqlite3_step(D->st);
        if (rc == SQLITE_DONE) { D->done = 1; break; }
        if (rc != SQLITE_ROW) { D->rc = rc; return -1; }
        stored_row *s = stored_next(D->S);
        if (!s) { fs->oom = 1; return -1; }
        sqlite_brow(D->st, s);
        if (s->r.ty[B_DOC] != 't') { fs->fallback = "a passport document that is not text"; return -1; }
        if (doc_add(b, s) || stored_keep(D->S, s)) { fs->oom = 1; return -1; }
    }
    return docs_done(b);
}

/* ------------------------------------------------------------------ PostgreSQL's stored batteries
 *
 * On PostgreSQL the stored batteries are read by a second connection in the same snapshot, on a thread of
 * their own that hashes each document as it comes, while the calling thread streams the events: the two
 * server processes then produce rows at once instead of one after the other (the documents, decompressed
 * and sent, take the server as long as the events). Where no second connection can join the snapshot,
 * the same reading runs on the calling thread first. */

#define PG_FETCH_ROWS 1000

typedef struct {
    PGconn *conn;         /* in the snapshot's transaction, with the cursor `circulith_bats` declared */
    stored_rows *S;
    fill_status fs;       /* this reader's own: merged by the caller after the join */
    int failed;           /* a query failed: PQerrorMessage(conn) says why */
} pg_stored_job;

/* Every stored battery: cells kept, document hashed. 0, or -1 (job->failed or job->fs says why). */
static int pg_read_stored(pg_stored_job *J) {
    char sql[64];
    snprintf(sql, sizeof sql, "FETCH %d FROM circulith_bats", PG_FETCH_ROWS);
    J->S->postgres = 1;
    for (;;) {
        PGresult *r = PQexec(J->conn, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) { PQclear(r); J->failed = 1; return -1; }
        int rows = PQntuples(r), rc = 0;
        for (int row = 0; row < rows && !rc; row++) {
            stored_row *s = stored_next(J->S);
            if (!s) { J->fs.oom = 1; rc = -1; break; }
            pg_brow(r, row, &s->r);
            if (s->r.ty[B_DOC] != 't') { J->fs.fallback = "a passport document that is NULL"; rc = -1; break; }
            unsigned char raw[32];
            if (sha256(s->r.c[B_DOC].p, s->r.c[B_DOC].n, raw) || stored_keep(J->S, s)) { J->fs.oom = 1; rc = -1; break; }
            to_hex(raw, s->r.digest);
        }
        PQclear(r);
        if (rc) return rc;
        if (rows < PG_FETCH_ROWS) return 0;
    }
}

static void *pg_stored_thread(void *arg) {
    pg_read_stored(arg);
    return NULL;
}

#endif
