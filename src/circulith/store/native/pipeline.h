/* Rows read from the database on one thread and hashed on another, in batches.
 * Part of circulith.store._ledger_native (included by _ledger_native.c, one translation unit). */
#ifndef CIRCULITH_NATIVE_PIPELINE_H
#define CIRCULITH_NATIVE_PIPELINE_H

/* ------------------------------------------------------------------ the pipeline
 *
 * Two batches of rows alternate between the reading thread (which fills one from the database and runs
 * the order-dependent checks and the replay of the other) and a hashing thread (content texts, the
 * three digests and the reading of the payload of each row). What that thread computes depends on the
 * row alone, so computing it apart changes nothing in what is found or in which order.
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
    prescan *ps;          /* each row's payload as the replay reads it; per row n_dyn of each below */
    span *last, *init_val;
    size_t (*init_at)[2];
    unsigned char *init_set;
    sbuf scratch;         /* unescaped update times of registrations' initial values */
} batch;

typedef struct {
    batch b[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want_leaves, replay;
    const tables *T;
    pthread_t worker;
    int started;
} pipeline;

static void *hash_worker(void *arg) {
    pipeline *P = arg;
    sbuf t = {0}, tmp = {0}, tmp2 = {0};
    size_t nd = (size_t)P->T->n_dyn;
    for (int k = 0;; k = 1 - k) {
        batch *b = &P->b[k];
        pthread_mutex_lock(&P->mu);
        while (b->state != B_FILLED && b->state != B_STOP) pthread_cond_wait(&P->cv, &P->mu);
        int stop = b->state == B_STOP;
        pthread_mutex_unlock(&P->mu);
        if (stop) break;
        int failed = 0;
        b->scratch.n = 0;
        for (int i = 0; i < b->n && !failed; i++) {
            failed = hash_row(&t, b->cols[i], b->gseq[i], b->bseq[i], &b->ok[i], b->leaf[i], P->want_leaves);
            if (P->replay)
                prescan_row(P->T, b->cols[i], &b->ps[i], b->last + i * nd, b->init_val + i * nd, b->init_at + i * nd,
                            b->init_set + i * nd, &b->scratch, &tmp, &tmp2);
        }
        pthread_mutex_lock(&P->mu);
        b->failed = failed;
        b->state = B_HASHED;
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
    }
    sb_free(&t);
    sb_free(&tmp);
    sb_free(&tmp2);
    return NULL;
}

static int pipeline_start(pipeline *P, const vstate *V) {
    memset(P, 0, sizeof *P);
    P->want_leaves = V->want_leaves;
    P->replay = V->replay;
    P->T = V->T;
    size_t nd = (size_t)V->T->n_dyn + 1;
    for (int k = 0; k < 2; k++) {
        batch *b = &P->b[k];
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
        if (!b->cols || !b->offs || !b->gseq || !b->bseq || !b->ok || !b->leaf || !b->ps || !b->last || !b->init_val ||
            !b->init_at || !b->init_set)
            return -1;
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
        free(b->ps); free(b->last); free(b->init_val); free(b->init_at); free(b->init_set);
        sb_free(&b->arena);
        sb_free(&b->scratch);
        if (b->res) PQclear(b->res);
    }
    memset(P, 0, sizeof *P);
}

/* Fills a batch with up to BATCH_ROWS rows; returns the number, 0 at the end, -1 on failure. */
typedef int (*fill_fn)(void *src, batch *b, vstate *V);

/* Runs the pipeline over a row source. 0 when every row was checked, -1 otherwise (V says why). */
static int run_pipeline(vstate *V, fill_fn fill, void *src) {
    pipeline P;
    if (pipeline_start(&P, V)) { V->oom = 1; pipeline_stop(&P); return -1; }
    size_t nd = (size_t)V->T->n_dyn;
    int k = 0, rc = 0;
    int n = fill(src, &P.b[0], V);
    if (n > 0) batch_set(&P, &P.b[0], B_FILLED);
    while (n > 0) {
        batch *cur = &P.b[k], *next = &P.b[1 - k];
        int m = fill(src, next, V); /* while the worker hashes `cur` */
        if (m > 0) batch_set(&P, next, B_FILLED);
        batch_wait(&P, cur, B_HASHED);
        if (cur->failed) { V->oom = 1; rc = -1; break; }
        for (int i = 0; i < cur->n; i++) {
            row_facts rf = {&cur->ps[i], cur->last + i * nd, cur->init_val + i * nd, cur->init_at + i * nd,
                            cur->init_set + i * nd, cur->scratch.p};
            if (seq_row(V, cur->cols[i], cur->gseq[i], cur->bseq[i], cur->ok[i], cur->leaf[i], &rf)) { rc = -1; break; }
        }
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
static int pg_fill(void *source, batch *b, vstate *V) {
    static const unsigned char SIGNATURE[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    pg_src *S = source;
    b->n = 0;
    b->arena.n = 0;
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

#endif
