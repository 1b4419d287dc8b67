/* ImportKernel, continued: the write checks of `circulith import events` (custody and role), as
 * circulith.auth.write_policy states them and circulith.services.event_import._Authoriser applies them, with
 * the rules given as tables by circulith.store.native_import.
 * Part of circulith.store._ledger_native (included by _ledger_native.c after native/import_kernel.h). */
#ifndef CIRCULITH_NATIVE_IMPORT_CHECKS_H
#define CIRCULITH_NATIVE_IMPORT_CHECKS_H

static int opt_text(PyObject *o, sbuf *b, int *has) {
    *has = o != Py_None;
    if (!*has) { b->n = 0; return 0; }
    return PyUnicode_Check(o) ? copy_str(o, b) : -1;
}

/* A battery's custody facts for the write checks: (manufacturer_id, custodian or None, custodian is a chain
 * actor, state index, consignee or None, remover or None); None when the checks are off. */
static int custody_facts_from(Kernel *K, kbat *x, PyObject *facts) {
    if (facts == Py_None) return K->auth ? -1 : 0;
    PyObject *maker, *cust, *ship, *rem;
    if (!PyArg_ParseTuple(facts, "UOpiOO", &maker, &cust, &x->a_chain, &x->a_state, &ship, &rem)) return -1;
    if (x->a_state < 0 || x->a_state >= K->n_states) return -1;
    return copy_str(maker, &x->a_maker) || opt_text(cust, &x->a_cust, &x->a_has_cust) ||
           opt_text(ship, &x->a_ship, &x->a_has_ship) || opt_text(rem, &x->a_rem, &x->a_has_rem);
}

enum { P_HOLDER = 1, P_MANUFACTURER = 2, P_CONSIGNEE = 4, P_REMOVER = 8, P_DISMANTLER_FROM_FIRST_LIFE = 16 };

static int same(const char *a, size_t an, const char *b, size_t bn) { return an == bn && memcmp(a, b, an) == 0; }

/* The write checks of one event (circulith.auth.write_policy.write_refusal, as
 * circulith.services.event_import._Authoriser applies them), then its custody facts after it (after_event).
 * NULL when allowed; else why the Python path must decide. */
static const char *authorise(Kernel *K, kbat *b, const kevent *e) {
    const char *actor = K->arena.p + e->actor_off;
    size_t an = e->actor_n;
    if (K->as_org_set && !same(K->as_org.p, K->as_org.n, actor, an)) return "a row naming another actor than the import's";
    int role = (size_t)e->actor < K->n_actor_role ? K->actor_role[e->actor] : -1;
    if (role < 0) return "an actor that is not a registered organisation";
    if (!(K->chain_roles >> role & 1) || (K->k_roles[e->kind] && !(K->k_roles[e->kind] >> role & 1)))
        return "an actor whose role may not record this kind";
    const sbuf *holder = b->a_has_cust && b->a_cust.n && b->a_chain ? &b->a_cust : &b->a_maker;
    unsigned rel = 0;
    if (same(holder->p, holder->n, actor, an)) rel |= P_HOLDER;
    if (same(b->a_maker.p, b->a_maker.n, actor, an)) rel |= P_MANUFACTURER;
    if (b->a_has_ship && same(b->a_ship.p, b->a_ship.n, actor, an) && b->a_state != K->recycled) rel |= P_CONSIGNEE;
    if (b->a_has_rem && same(b->a_rem.p, b->a_rem.n, actor, an) && b->a_state == K->removed) rel |= P_REMOVER;
    if (role == K->dismantler && (same(holder->p, holder->n, b->a_maker.p, b->a_maker.n) || !b->a_chain))
        rel |= P_DISMANTLER_FROM_FIRST_LIFE;
    if (!(rel & K->k_parties[e->kind])) return "a write the battery's custody does not allow";
    unsigned char next = K->trans[(size_t)(b->a_state + 1) * (size_t)K->n_kinds + (size_t)e->kind];
    if (next == 255) return NULL; /* the state machine refuses it: append_events says so */
    unsigned char f = K->flags[e->kind];
    if (f & K_CUSTODY) {
        if (sb_set(&b->a_cust, actor, an)) return "";
        b->a_has_cust = b->a_chain = 1;
    }
    if ((f & K_SHIPPED) && e->to_org_text && e->to_org_n) {
        if (sb_set(&b->a_ship, K->arena.p + e->to_org_off, e->to_org_n)) return "";
        b->a_has_ship = 1;
    }
    if (f & K_RECEIPT) b->a_has_ship = 0;
    if (f & K_REMOVAL) {
        if (sb_set(&b->a_rem, actor, an)) return "";
        b->a_has_rem = 1;
    }
    b->a_state = next;
    return NULL;
}

/* authorisation(parties, roles, chain_roles, dismantler, recycled, removed, as_org): turn the write checks on.
 * parties: bytes, per kind the P_* its rule names; roles: per kind the roles it allows (bit per Role index,
 * 0 any chain role); chain_roles: the roles of the value chain; dismantler, recycled, removed: the indices of
 * that role and those states; as_org: the organisation every row must name, or None. */
static PyObject *kernel_authorisation(Kernel *K, PyObject *args) {
    Py_buffer parties = {0};
    PyObject *roles, *as_org;
    unsigned long chain;
    if (!PyArg_ParseTuple(args, "y*OkiiiO", &parties, &roles, &chain, &K->dismantler, &K->recycled, &K->removed,
                          &as_org))
        return NULL;
    PyObject *result = NULL;
    if (parties.len != K->n_kinds || PySequence_Size(roles) != K->n_kinds) {
        PyErr_SetString(PyExc_ValueError, "authorisation: tables of the wrong shape");
        goto out;
    }
    K->k_parties = malloc((size_t)K->n_kinds);
    K->k_roles = calloc((size_t)K->n_kinds, sizeof *K->k_roles);
    if (!K->k_parties || !K->k_roles) { PyErr_NoMemory(); goto out; }
    memcpy(K->k_parties, parties.buf, (size_t)K->n_kinds);
    for (int i = 0; i < K->n_kinds; i++) {
        PyObject *o = PySequence_GetItem(roles, i);
        K->k_roles[i] = o ? (uint32_t)PyLong_AsUnsignedLong(o) : 0;
        Py_XDECREF(o);
        if (PyErr_Occurred()) goto out;
    }
    K->chain_roles = (uint32_t)chain;
    if (opt_text(as_org, &K->as_org, &K->as_org_set)) goto out;
    K->auth = 1;
    result = Py_NewRef(Py_None);
out:
    PyBuffer_Release(&parties);
    return result;
}

/* actor_roles(roles): the Role index (-1: not registered) of the actors actors() lists beyond those given. */
static PyObject *kernel_actor_roles(Kernel *K, PyObject *arg) {
    Py_ssize_t n = PySequence_Size(arg);
    if (n < 0) return NULL;
    int *q = realloc(K->actor_role, (K->n_actor_role + (size_t)n + 1) * sizeof *q);
    if (!q) return PyErr_NoMemory();
    K->actor_role = q;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_GetItem(arg, i);
        long r = o ? PyLong_AsLong(o) : -1;
        Py_XDECREF(o);
        if (PyErr_Occurred()) return NULL;
        K->actor_role[K->n_actor_role++] = (int)r;
    }
    Py_RETURN_NONE;
}

#endif
