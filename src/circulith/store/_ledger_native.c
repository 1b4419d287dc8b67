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
 * It also reads every stored battery (chain tip, state columns, SHA-256 of the passport document; first,
 * in the same snapshot) and, once the replay is done, returns only those it is not certain match their
 * events (native/stored_check.h), with their rows and replayed states; the Python comparison
 * (circulith.ledger.replay.StateReplay.compare, through circulith.store.native_verify) runs on them alone. The Python verifier remains the reference: tests run
 * both on the same ledgers, intact and tampered, and require the same report. Anything this code is not
 * certain to read as the Python path does (a column of an unexpected type, a digest that is not 64
 * characters, a NULL where the schema has none, a payload nested deeper than it follows) makes it return a
 * reason instead, and the caller verifies in Python.
 *
 * SHA-256 is OpenSSL's (the library Python's hashlib uses). Reading, hashing and the ordered checks run
 * without the GIL on three threads (native/pipeline.h); the stored batteries are judged on two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <libpq-fe.h>
#include <ctype.h>
#include <math.h>
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native/text.h"
#include "native/ledger_state.h"
#include "native/stored_check.h"
#include "native/stored_rows.h"
#include "native/pipeline.h"
#include "native/import_parse.h"
#include "native/import_kernel.h"
#include "native/import_checks.h"
#include "native/import_chain.h"

/* ------------------------------------------------------------------ results to Python */

static PyObject *str_or_none(const sbuf *b, int has) {
    if (!has) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(b->p ? b->p : "", (Py_ssize_t)b->n, "surrogateescape");
}

/* A battery's replayed state as the tuple circulith.store.native_verify reads. */
static PyObject *replayed_tuple(const vstate *V, const battery *b) {
    const tables *T = V->T;
    PyObject *dyn = PyDict_New();
    if (!dyn) return NULL;
    for (int j = 0; j < b->n_ins; j++) {
        int k = b->dyn_ins[j];
        PyObject *e = Py_BuildValue("(NN)", str_or_none(&b->dyn_at[k], 1), str_or_none(&b->dyn_val[k], 1));
        if (!e || PyDict_SetItemString(dyn, T->dyn_keys[k], e)) { Py_XDECREF(e); Py_DECREF(dyn); return NULL; }
        Py_DECREF(e);
    }
    PyObject *broken = b->broken ? Py_BuildValue("(iNNi)", b->broken, str_or_none(&b->broken_kind, 1),
                                                 str_or_none(&b->broken_at, 1), b->broken_state)
                                 : Py_NewRef(Py_None);
    return Py_BuildValue("(Ls#iNNNNNNN)", (long long)b->seq, b->chain, (Py_ssize_t)64, b->state,
                         str_or_none(&b->status, b->has_status), str_or_none(&b->custodian, b->has_custodian),
                         str_or_none(&b->site, b->has_site), str_or_none(&b->region, b->has_region),
                         str_or_none(&b->doc, b->has_doc), broken, dyn);
}

/* What the batteries pass leaves to Python: the tips and the batteries it is not certain of. */
typedef struct {
    PyObject *tips;       /* [(battery_id, last_seq, last_chain)] stored tips not certainly the events' */
    PyObject *tip_events; /* {battery_id: (seq, chain)} where their events end, and batteries without a record */
    PyObject *uncertain;  /* [(stored row, replayed state or None)] */
    int64_t stored;
} left_over;

static int left_over_init(left_over *L) {
    memset(L, 0, sizeof *L);
    L->tips = PyList_New(0);
    L->tip_events = PyDict_New();
    L->uncertain = PyList_New(0);
    return L->tips && L->tip_events && L->uncertain ? 0 : -1;
}

static void left_over_free(left_over *L) {
    Py_XDECREF(L->tips); Py_XDECREF(L->tip_events); Py_XDECREF(L->uncertain);
    memset(L, 0, sizeof *L);
}

static int add_tip_events(left_over *L, const battery *b) {
    PyObject *key = str_or_none(&b->id, 1);
    PyObject *v = Py_BuildValue("(Ls#)", (long long)b->seq, b->chain, (Py_ssize_t)64);
    int e = !key || !v || PyDict_SetItem(L->tip_events, key, v);
    Py_XDECREF(key); Py_XDECREF(v);
    return e ? -1 : 0;
}

/* ------------------------------------------------------------------ the stored batteries, judged */

/* Which stored rows certainly agree with their events (bit 1: the chain tip, bit 2: the state), for rows
 * [from, to), after the replay. Reads only, so that the rows can be split between two threads. */
typedef struct {
    const vstate *V;
    const stored_rows *S;
    size_t from, to;
    unsigned char *certain;
    battery **bat;
    sbuf tmp;
} judgement;

static void *judge(void *arg) {
    judgement *J = arg;
    for (size_t k = J->from; k < J->to; k++) {
        const brow *r = &stored_at(J->S, k)->r;
        battery *b = r->ty[B_ID] == 't' ? bat_find((bat_table *)&J->V->bats, r->c[B_ID].p, r->c[B_ID].n) : NULL;
        J->bat[k] = b;
        J->certain[k] = (unsigned char)((tip_certain(b, r) ? 1 : 0) |
                                        (J->V->replay && certainly_consistent(J->V, b, r, &J->tmp) ? 2 : 0));
    }
    return NULL;
}

/* Judges every stored row, half of them on a second thread (all on this one if none can start). */
static void judge_all(const vstate *V, const stored_rows *S, unsigned char *certain, battery **bat) {
    judgement J[2] = {{V, S, 0, S->n / 2, certain, bat, {0}}, {V, S, S->n / 2, S->n, certain, bat, {0}}};
    pthread_t helper;
    int started = S->n > 64 && pthread_create(&helper, NULL, judge, &J[1]) == 0;
    if (!started) J[0].to = S->n;
    judge(&J[0]);
    if (started) pthread_join(helper, NULL);
    sb_free(&J[0].tmp);
    sb_free(&J[1].tmp);
}

/* One stored battery, judged: left to Python (its row, and its replayed state) unless certainly consistent. */
static int consider_battery(vstate *V, left_over *L, const stored_rows *S, const stored_row *s, battery *b,
                            unsigned char certain) {
    L->stored++;
    if (b) b->stored_seen = 1;
    int tip_ok = certain & 1, state_ok = (certain & 2) != 0;
    if (tip_ok && (state_ok || !V->replay)) return 0;
    PyObject *row = stored_tuple(S, s);
    if (!row) return -1;
    int e = 0;
    if (!tip_ok) {
        PyObject *tip = PyTuple_GetSlice(row, 0, 3);
        e = !tip || PyList_Append(L->tips, tip) || (b && add_tip_events(L, b));
        Py_XDECREF(tip);
    }
    if (!e && V->replay && !state_ok) {
        PyObject *rep = b ? replayed_tuple(V, b) : Py_NewRef(Py_None);
        PyObject *pair = rep ? PyTuple_Pack(2, row, rep) : NULL;
        e = !pair || PyList_Append(L->uncertain, pair);
        Py_XDECREF(rep); Py_XDECREF(pair);
    }
    Py_DECREF(row);
    return e ? -1 : 0;
}

/* The stored batteries after the replay: judged without the GIL, then what is left handed to Python. */
static int consider_batteries(vstate *V, left_over *L, stored_rows *S) {
    stored_done(S);
    unsigned char *certain = malloc(S->n + 1);
    battery **bat = malloc((S->n + 1) * sizeof *bat);
    if (!certain || !bat) { free(certain); free(bat); PyErr_NoMemory(); return -1; }
    Py_BEGIN_ALLOW_THREADS
    judge_all(V, S, certain, bat);
    Py_END_ALLOW_THREADS
    int rc = 0;
    for (size_t k = 0; k < S->n && !rc; k++) rc = consider_battery(V, L, S, stored_at(S, k), bat[k], certain[k]);
    free(certain);
    free(bat);
    return rc;
}

static PyObject *results(vstate *V, PyObject *stored_head, left_over *L, double events_s, double batteries_s) {
    for (size_t i = 0; i < V->bats.n; i++) /* batteries with events and no stored record */
        if (!V->bats.order[i]->stored_seen && add_tip_events(L, V->bats.order[i])) return NULL;
    PyObject *findings = PyList_New(0);
    if (!findings) return NULL;
    for (int64_t i = 0; i < V->n_findings; i++) {
        finding *f = &V->findings[i];
        PyObject *t = Py_BuildValue("(sLs#s#s#)", f->problem, (long long)f->gseq, f->ev.p, (Py_ssize_t)f->ev.n, f->bat.p,
                                    (Py_ssize_t)f->bat.n, f->detail.p, (Py_ssize_t)f->detail.n);
        if (!t || PyList_Append(findings, t)) { Py_XDECREF(t); Py_DECREF(findings); return NULL; }
        Py_DECREF(t);
    }
    PyObject *leaves = V->want_leaves ? PyBytes_FromStringAndSize(V->leaves.p ? V->leaves.p : "", (Py_ssize_t)V->leaves.n)
                                      : Py_NewRef(Py_None);
    return Py_BuildValue("{s:d,s:d,s:L,s:(Ls#),s:N,s:O,s:L,s:L,s:O,s:O,s:O,s:O,s:N}", "events_pass_s", events_s,
                         "batteries_pass_s", batteries_s, "events", (long long)V->events, "head",
                         (long long)V->prev_gseq, V->prev_global, (Py_ssize_t)64, "findings", findings, "truncated",
                         V->truncated ? Py_True : Py_False, "batteries_checked", (long long)V->bats.n, "stored",
                         (long long)L->stored, "stored_head", stored_head, "tips", L->tips, "tip_events", L->tip_events,
                         "uncertain", L->uncertain, "leaves", leaves);
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
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
    for (int i = 0; i < T->n_states; i++) free(T->state_names ? T->state_names[i] : NULL);
    free(T->state_names); free(T->state_len);
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
                       PyObject *states, tables *T) {
    memset(T, 0, sizeof *T);
    if (!PyTuple_Check(kinds) || !PyBytes_Check(transitions) || !PyBytes_Check(flags) || !PyTuple_Check(status_after) ||
        !PyTuple_Check(dyn_keys) || !PyTuple_Check(states)) {
        PyErr_SetString(PyExc_TypeError, "kinds, status_after and dynamic_keys are tuples; transitions and flags bytes");
        return -1;
    }
    T->n_kinds = (int)PyTuple_GET_SIZE(kinds);
    int n_states = (int)PyTuple_GET_SIZE(states);
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
    T->state_names = calloc((size_t)n_states + 1, sizeof(char *));
    T->state_len = calloc((size_t)n_states + 1, sizeof(size_t));
    T->transitions = malloc((size_t)PyBytes_GET_SIZE(transitions));
    T->flags = malloc((size_t)T->n_kinds + 1);
    if (!T->kinds || !T->kind_len || !T->status_after || !T->dyn_keys || !T->dyn_len || !T->transitions || !T->flags ||
        !T->state_names || !T->state_len) {
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
    for (int i = 0; i < n_states; i++)
        if (!(T->state_names[i] = dup_utf8(PyTuple_GET_ITEM(states, i), &T->state_len[i]))) return -1;
    T->soh_index = dyn_index(T, "soh_pct", 7);
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
    bat_free(&V->bats);
    sb_free(&V->tmp); sb_free(&V->leaves);
}

/* The tables, the verification state and what is left to Python, for one pass. */
static int begin_pass(PyObject *kinds, PyObject *transitions, PyObject *flags, PyObject *status_after, PyObject *dyn_keys,
                      PyObject *states, long long max_findings, int want_leaves, int replay, tables *T, vstate *V,
                      left_over *L) {
    memset(T, 0, sizeof *T);
    memset(V, 0, sizeof *V);
    memset(L, 0, sizeof *L);
    if (read_tables(kinds, transitions, flags, status_after, dyn_keys, states, T)) return -1;
    return init_state(V, T, max_findings, want_leaves, replay) || left_over_init(L) ? -1 : 0;
}

static const char *EVENTS_SQL =
    "SELECT global_seq, battery_id, battery_seq, event_id, kind, occurred_at, actor_org_id, site_id, payload_json, "
    "content_sha256, battery_prev_sha256, battery_chain_sha256, global_prev_sha256, global_chain_sha256 "
    "FROM events ORDER BY global_seq";
static const char *BATTERIES_SQL =
    "SELECT battery_id, last_seq, last_chain_sha256, lifecycle_state, status, custodian_org_id, custody_site_id, "
    "region, soh_pct, document_sha256, document, dynamic_json FROM batteries";
static const char *HEAD_SQL = "SELECT global_seq, global_chain_sha256 FROM ledger_head";

#define TABLE_ARGS "OOOOOO"
#define PARSE_TABLES(kinds, transitions, flags, status_after, dyn_keys, states) \
    &kinds, &transitions, &flags, &status_after, &dyn_keys, &states

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
    static char *names[] = {"path", "kinds", "transitions", "flags", "status_after", "dynamic_keys", "states",
                            "max_findings", "leaves", "replay", "uri", NULL};
    const char *path;
    PyObject *kinds, *transitions, *flags, *status_after, *dyn_keys, *states;
    int want_leaves = 0, replay = 1, uri = 0;
    long long max_findings = 1000;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s" TABLE_ARGS "|Lppp", names, &path,
                                     PARSE_TABLES(kinds, transitions, flags, status_after, dyn_keys, states),
                                     &max_findings, &want_leaves, &replay, &uri))
        return NULL;
    tables T;
    vstate V;
    left_over L;
    PyObject *head = NULL, *result = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL, *bst = NULL;
    stored_rows S = {0};
    const char *failure = NULL;
    if (begin_pass(kinds, transitions, flags, status_after, dyn_keys, states, max_findings, want_leaves, replay, &T, &V,
                   &L))
        goto done;
    /* One thread uses this connection at a time: no per-call mutex (each sqlite3_column_* call would take it). */
    int flags_open = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (uri ? SQLITE_OPEN_URI : 0);
    if (sqlite3_open_v2(path, &db, flags_open, NULL) != SQLITE_OK) { failure = "cannot open the database"; goto done; }
    sqlite3_busy_timeout(db, 30000);
    /* Pages read through a memory map rather than copied by pread (this connection only reads). */
    sqlite3_exec(db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL);
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) { failure = sqlite3_errmsg(db); goto done; }
    /* Text cells are read as their stored bytes, which are the UTF-8 the Python path reads only in a UTF-8
     * database (SQLite's default; the others convert). */
    if (sqlite3_prepare_v2(db, "PRAGMA encoding", -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        failure = sqlite3_errmsg(db);
        goto done;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 0), "UTF-8") != 0) { V.fallback = "a database not in UTF-8"; goto done; }
    sqlite3_finalize(st);
    st = NULL;
    /* The head first: the snapshot starts here and every later read agrees with it. */
    if (sqlite3_prepare_v2(db, HEAD_SQL, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        failure = "no ledger head";
        goto done;
    }
    head = Py_BuildValue("(NN)", sqlite_cell(st, 0), sqlite_cell(st, 1));
    sqlite3_finalize(st);
    st = NULL;
    if (!head) goto done;
    if (sqlite3_prepare_v2(db, EVENTS_SQL, -1, &st, NULL) != SQLITE_OK) { failure = sqlite3_errmsg(db); goto done; }
    if (sqlite3_prepare_v2(db, BATTERIES_SQL, -1, &bst, NULL) != SQLITE_OK) { failure = sqlite3_errmsg(db); goto done; }
    sqlite_src src = {st, 0, SQLITE_DONE};
    sqlite_docs_src docs = {bst, &S, 0, SQLITE_DONE};
    fill_status fs = {NULL, 0};
    int fed = -1, ended;
    double t0 = seconds_now();
    pipeline P;
    if (pipeline_begin(&P, &V)) { PyErr_NoMemory(); goto done; }
    Py_BEGIN_ALLOW_THREADS
    fed = pipeline_feed(&P, sqlite_fill_docs, &docs, &fs); /* the stored batteries first, then the events */
    if (!fed) fed = pipeline_feed(&P, sqlite_fill, &src, &fs);
    ended = pipeline_end(&P);
    Py_END_ALLOW_THREADS
    double t2 = seconds_now();
    if (V.oom || fs.oom) { PyErr_NoMemory(); goto done; }
    if (V.fallback || fs.fallback) { V.fallback = V.fallback ? V.fallback : fs.fallback; goto done; }
    if (fed || ended || src.rc != SQLITE_DONE || docs.rc != SQLITE_DONE) { failure = sqlite3_errmsg(db); goto done; }
    if (consider_batteries(&V, &L, &S)) goto done;
    result = results(&V, head, &L, t2 - t0, seconds_now() - t2);
done:
    if (!result && !PyErr_Occurred()) {
        if (V.oom) PyErr_NoMemory();
        else if (V.fallback) result = fallback_result(V.fallback);
        else PyErr_Format(PyExc_RuntimeError, "compiled ledger verification: %s", failure ? failure : "failed");
    }
    Py_XDECREF(head);
    if (st) sqlite3_finalize(st);
    if (bst) sqlite3_finalize(bst);
    if (db) { sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); sqlite3_close(db); }
    stored_free(&S);
    left_over_free(&L);
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
    return pg_text_cell(PQgetvalue(r, row, i), (size_t)PQgetlength(r, row, i), PQgetisnull(r, row, i), kind);
}


/* Opens a transaction in snapshot `id`, exported by another: 0, or -1 (its error message says why). */
static int begin_in_snapshot(PGconn *c, const char *id) {
    for (const char *p = id; *p; p++) /* an identifier such as 00000003-0000001B-1, quoted below */
        if (!isxdigit((unsigned char)*p) && *p != '-') return -1;
    char sql[160];
    snprintf(sql, sizeof sql, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '%s'", id);
    PGresult *r = PQexec(c, sql);
    int ok = pg_ok(r);
    PQclear(r);
    return ok ? 0 : -1;
}

/* A second connection in the first one's snapshot, to read the stored batteries beside the events (see
 * native/pipeline.h); NULL where the server exports no snapshot or takes no second connection. */
static PGconn *snapshot_twin(PGconn *conn, const char *conninfo, char *snapshot, size_t snapshot_n) {
    PGresult *r = PQexec(conn, "SELECT pg_catalog.pg_export_snapshot()");
    int exported = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (exported) snprintf(snapshot, snapshot_n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!exported) return NULL;
    PGconn *twin = PQconnectdb(conninfo);
    if (PQstatus(twin) == CONNECTION_OK && PQsetClientEncoding(twin, "UTF8") == 0 && !begin_in_snapshot(twin, snapshot))
        return twin;
    PQfinish(twin);
    return NULL;
}

static void pg_close(PGconn *c) {
    if (!c) return;
    PGresult *rb = PQexec(c, "ROLLBACK");
    if (rb) PQclear(rb);
    PQfinish(c);
}

static PyObject *verify_postgres(PyObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"conninfo", "kinds", "transitions", "flags", "status_after", "dynamic_keys", "states",
                            "max_findings", "leaves", "replay", NULL};
    const char *conninfo;
    PyObject *kinds, *transitions, *flags, *status_after, *dyn_keys, *states;
    int want_leaves = 0, replay = 1;
    long long max_findings = 1000;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s" TABLE_ARGS "|Lpp", names, &conninfo,
                                     PARSE_TABLES(kinds, transitions, flags, status_after, dyn_keys, states),
                                     &max_findings, &want_leaves, &replay))
        return NULL;
    tables T;
    vstate V;
    left_over L;
    PyObject *head = NULL, *result = NULL;
    PGconn *conn = NULL, *twin = NULL, *failed_conn = NULL;
    PGresult *r = NULL;
    stored_rows S = {0};
    char failure[512] = "", snapshot[64] = "";
    char sql[1024];
    if (begin_pass(kinds, transitions, flags, status_after, dyn_keys, states, max_findings, want_leaves, replay, &T, &V,
                   &L))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    conn = PQconnectdb(conninfo);
    Py_END_ALLOW_THREADS
    failed_conn = conn;
    if (PQstatus(conn) != CONNECTION_OK) { snprintf(failure, sizeof failure, "%s", PQerrorMessage(conn)); goto done; }
    PQsetClientEncoding(conn, "UTF8");
    /* One snapshot for the head, every event and every battery, shared with the twin connection. */
    r = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!pg_ok(r)) goto pgfail;
    PQclear(r);
    r = NULL;
    Py_BEGIN_ALLOW_THREADS
    twin = snapshot_twin(conn, conninfo, snapshot, sizeof snapshot);
    Py_END_ALLOW_THREADS
    if (!twin && PQtransactionStatus(conn) != PQTRANS_INTRANS) { /* the export failed: begin again without it */
        PQclear(PQexec(conn, "ROLLBACK"));
        r = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        if (!pg_ok(r)) goto pgfail;
        PQclear(r);
    }
    /* Stream the events in the order of their global_seq index rather than sort the whole table first (half
     * the time of the server's sorted plan at 50,000 events; the events are stored in that order). */
    r = PQexec(conn, "SET LOCAL enable_sort = off");
    if (!pg_ok(r)) goto pgfail;
    PQclear(r);
    r = PQexec(conn, HEAD_SQL);
    if (!pg_ok(r) || PQntuples(r) < 1) goto pgfail;
    head = Py_BuildValue("(NN)", pg_cell(r, 0, 0, 'i'), pg_cell(r, 0, 1, 's'));
    if (!head) goto done;
    PQclear(r);
    pg_stored_job job = {twin ? twin : conn, &S, {NULL, 0}, 0};
    failed_conn = job.conn;
    snprintf(sql, sizeof sql, "DECLARE circulith_bats NO SCROLL CURSOR FOR %s", BATTERIES_SQL);
    r = PQexec(job.conn, sql);
    if (!pg_ok(r)) goto pgfail;
    PQclear(r);
    r = NULL;
    failed_conn = conn;
    pg_src src = {conn, 0, 0, 0};
    fill_status fs = {NULL, 0};
    int fed = -1, ended, copying = 0, threaded = 0;
    pthread_t stored_thread;
    double t0 = seconds_now();
    pipeline P;
    if (pipeline_begin(&P, &V)) { PyErr_NoMemory(); goto done; }
    Py_BEGIN_ALLOW_THREADS
    threaded = twin && pthread_create(&stored_thread, NULL, pg_stored_thread, &job) == 0;
    if (threaded || !pg_read_stored(&job)) { /* the stored batteries beside the events, or before them */
        snprintf(sql, sizeof sql, "COPY (%s) TO STDOUT (FORMAT binary)", EVENTS_SQL);
        PGresult *cr = PQexec(conn, sql);
        copying = PQresultStatus(cr) == PGRES_COPY_OUT;
        PQclear(cr);
        fed = copying ? pipeline_feed(&P, pg_fill, &src, &fs) : -1;
        if (!copying) src.failed = 1;
    }
    if (copying && !src.done) { /* stopped early: drain the copy so the connection can be rolled back */
        char *rest;
        while (PQgetCopyData(conn, &rest, 0) >= 0) PQfreemem(rest);
    }
    PGresult *cr;
    while (copying && (cr = PQgetResult(conn))) { /* the COPY's own outcome */
        if (PQresultStatus(cr) != PGRES_COMMAND_OK && fed == 0) src.failed = 1;
        PQclear(cr);
    }
    if (threaded) pthread_join(stored_thread, NULL);
    ended = pipeline_end(&P);
    Py_END_ALLOW_THREADS
    double t2 = seconds_now();
    if (V.oom || fs.oom || job.fs.oom) { PyErr_NoMemory(); goto done; }
    V.fallback = V.fallback ? V.fallback : fs.fallback ? fs.fallback : job.fs.fallback;
    if (V.fallback) goto done;
    if (job.failed) { failed_conn = job.conn; goto pgfail; }
    if (src.failed) goto pgfail;
    if (fed || ended) goto done;
    if (consider_batteries(&V, &L, &S)) goto done;
    result = results(&V, head, &L, t2 - t0, seconds_now() - t2);
    goto done;
pgfail:
    snprintf(failure, sizeof failure, "%s", failed_conn ? PQerrorMessage(failed_conn) : "no connection");
done:
    if (!result && !PyErr_Occurred()) {
        if (V.oom) PyErr_NoMemory();
        else if (V.fallback) result = fallback_result(V.fallback);
        else PyErr_Format(PyExc_RuntimeError, "compiled ledger verification: %s", failure[0] ? failure : "failed");
    }
    Py_XDECREF(head);
    if (r) PQclear(r);
    pg_close(twin);
    pg_close(conn);
    stored_free(&S);
    left_over_free(&L);
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

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ledger_native",
    "Compiled ledger verification and import (see circulith.store.native_verify and native_import).", -1, methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ledger_native(void) {
    if (PyType_Ready(&KernelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    NotCertain = PyErr_NewExceptionWithDoc("circulith.store._ledger_native.NotCertain",
                                           "The compiled import is not certain to read this as the Python path does.",
                                           NULL, NULL);
    if (!NotCertain || PyModule_AddObjectRef(m, "NotCertain", NotCertain) ||
        PyModule_AddObjectRef(m, "ImportKernel", (PyObject *)&KernelType) ||
        PyModule_AddStringConstant(m, "sqlite_version", sqlite3_libversion())) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
