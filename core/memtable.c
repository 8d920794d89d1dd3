/* memtable.c -- one memtable, and the only file that calls rep ops.
 *
 * Lifecycle: ACTIVE --freeze--> IMMUTABLE --flush--> FLUSHING --> FLUSHED
 * (a failed flush returns to IMMUTABLE).  The state is asserted here before
 * every write into a rep: no insert reaches a frozen rep.
 *
 * Thread safety:
 *  - Reps without MT_CAP_CONCURRENT_INSERT get their inserts under write_mu,
 *    one at a time; freeze takes write_mu too.
 *  - Reps with the cap are called in parallel.  Each writer announces itself
 *    in its stripe's `inflight`, then reads `gate`; freeze closes `gate`,
 *    then waits for every stripe's `inflight` to drain.  Both sides use
 *    seq_cst, so either the writer sees the gate closed or freeze sees the
 *    writer (Dekker's pattern).  Writers count in per-thread stripes, one
 *    cache line each, so parallel writers share no line here.
 *  - Readers never take a lock here: the rep makes reads safe beside writes.
 *  - refs is an atomic count; the last unref frees. */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

enum { GATE_OPEN, GATE_FREEZING, GATE_CLOSED };

#define STRIPES 8
typedef struct stripe { /* padded to a cache line (heap memory is not 64-aligned) */
  _Atomic long inflight;  /* writers inside insert_concurrent */
  _Atomic uint64_t count; /* entries added by this stripe's threads */
  char pad[64 - sizeof(long) - sizeof(uint64_t)];
} stripe;

static _Atomic unsigned next_stripe;
static _Thread_local unsigned my_stripe; /* 1 + index; 0 = not assigned yet */

static stripe *stripe_of(mt_memtable *m);

struct mt_memtable {
  const mt_rep_ops *ops;
  mt_rep *rep;
  mt_arena *arena;
  mt_arena_pool *pool; /* where the arena goes at the last unref; NULL: freed */
  mt_comparator cmp; /* compare NULL = bytewise */
  uint64_t id;
  _Atomic int refs;
  _Atomic int state; /* mt_state */
  _Atomic int gate;
  pthread_mutex_t write_mu;
  char spec[MT_SPEC_MAX];
  stripe stripes[STRIPES];
};

static stripe *stripe_of(mt_memtable *m) {
  if (!my_stripe) my_stripe = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % STRIPES + 1;
  return &m->stripes[my_stripe - 1];
}

static bool writers_inside(mt_memtable *m) {
  for (int i = 0; i < STRIPES; i++)
    if (atomic_load(&m->stripes[i].inflight) != 0) return true;
  return false;
}

static _Atomic uint64_t next_id = 1;

/* The arena goes back to m's pool, or is freed without one. */
static void release_arena(mt_memtable *m) {
  if (!m->pool) {
    mt_arena_free(m->arena);
    return;
  }
  mt_arena_pool_give(m->pool, m->arena);
  mt_arena_pool_unref(m->pool);
}

static int create(mt_memtable **out, const char *spec, const mt_comparator *cmp, mt_arena_pool *pool,
                  size_t budget) {
  if (!out) return mt_set_error(MT_EINVAL, "mt_memtable_new: out is NULL");
  *out = NULL;
  const mt_rep_ops *ops;
  int64_t params[MT_MAX_PARAMS];
  int rc = mt_spec_parse(spec, &ops, params);
  if (rc) return rc;
  mt_memtable *m = mt_calloc(1, sizeof *m);
  if (!m) return MT_ENOMEM;
  m->ops = ops;
  if (cmp && cmp->compare) m->cmp = *cmp;
  else m->cmp.name = "bytewise";
  if (!m->cmp.name) m->cmp.name = "";
  m->arena = pool ? mt_arena_pool_take(pool) : mt_arena_new();
  if (!m->arena) {
    mt_free(m);
    return MT_ENOMEM;
  }
  if (pool) {
    mt_arena_pool_ref(pool);
    m->pool = pool;
  }
  if (budget) mt_arena_limit_step(m->arena, budget / 8); /* before the rep allocates */
  mt_rep_init init = {&m->cmp, m->arena, params};
  rc = ops->create(&m->rep, &init);
  if (rc) {
    release_arena(m);
    mt_free(m);
    return rc < 0 ? rc : mt_set_error(MT_EINVAL, "rep '%s' create returned %d", ops->name, rc);
  }
  m->id = atomic_fetch_add(&next_id, 1);
  atomic_init(&m->refs, 1);
  atomic_init(&m->state, MT_ACTIVE);
  atomic_init(&m->gate, GATE_OPEN);
  pthread_mutex_init(&m->write_mu, NULL);
  mt_spec_format(ops, params, m->spec, sizeof m->spec);
  *out = m;
  return MT_OK;
}

int mt_memtable_new(mt_memtable **out, const char *spec, const mt_comparator *cmp) {
  return create(out, spec, cmp, NULL, 0);
}

int mt_memtable_new_pooled(mt_memtable **out, const char *spec, const mt_comparator *cmp, mt_arena_pool *pool,
                           size_t budget) {
  return create(out, spec, cmp, pool, budget);
}

void mt_memtable_ref(mt_memtable *m) {
  if (m) atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void mt_memtable_unref(mt_memtable *m) {
  if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
  m->ops->destroy(m->rep);
  release_arena(m);
  pthread_mutex_destroy(&m->write_mu);
  mt_free(m);
}

static int check_slice(const char *fn, const char *what, mt_slice s) {
  if (!s.data && s.len) return mt_set_error(MT_EINVAL, "%s: %s.data is NULL with len %zu", fn, what, s.len);
  if (s.len > UINT32_MAX)
    return mt_set_error(MT_EINVAL, "%s: %s is %zu bytes; the limit is %u", fn, what, s.len, UINT32_MAX);
  return MT_OK;
}

static int insert_concurrent(mt_memtable *m, const mt_new_entry *e) {
  stripe *st = stripe_of(m);
  for (;;) {
    atomic_fetch_add(&st->inflight, 1);
    int g = atomic_load(&m->gate);
    if (g == GATE_OPEN) break;
    atomic_fetch_sub(&st->inflight, 1);
    if (g == GATE_CLOSED) return mt_set_error(MT_EFROZEN, "mt_memtable_add: memtable %llu is frozen",
                                              (unsigned long long)m->id);
    while (atomic_load(&m->gate) == GATE_FREEZING) sched_yield();
  }
  int rc = m->ops->insert_concurrent(m->rep, e);
  if (rc == MT_OK) atomic_fetch_add_explicit(&st->count, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&st->inflight, 1, memory_order_release);
  return rc;
}

static int insert_serialised(mt_memtable *m, const mt_new_entry *e) {
  pthread_mutex_lock(&m->write_mu);
  int rc;
  if (atomic_load_explicit(&m->state, memory_order_relaxed) != MT_ACTIVE)
    rc = mt_set_error(MT_EFROZEN, "mt_memtable_add: memtable %llu is frozen", (unsigned long long)m->id);
  else
    rc = m->ops->insert(m->rep, e);
  if (rc == MT_OK) atomic_fetch_add_explicit(&stripe_of(m)->count, 1, memory_order_relaxed);
  pthread_mutex_unlock(&m->write_mu);
  return rc;
}

int mt_memtable_add(mt_memtable *m, uint64_t seq, mt_kind kind, mt_slice key, mt_slice value) {
  static const char fn[] = "mt_memtable_add";
  if (!m) return mt_set_error(MT_EINVAL, "%s: memtable is NULL", fn);
  if (seq > MT_SEQ_MAX)
    return mt_set_error(MT_EINVAL, "%s: seq %llu is above MT_SEQ_MAX", fn, (unsigned long long)seq);
  if (kind != MT_PUT && kind != MT_DELETE)
    return mt_set_error(MT_EINVAL, "%s: kind %d is neither MT_PUT nor MT_DELETE", fn, (int)kind);
  int rc = check_slice(fn, "key", key);
  if (!rc && kind == MT_PUT) rc = check_slice(fn, "value", value);
  if (rc) return rc;
  mt_new_entry e = {key, value, seq, kind};
  rc = (m->ops->caps & MT_CAP_CONCURRENT_INSERT) ? insert_concurrent(m, &e) : insert_serialised(m, &e);
  if (rc == MT_EEXIST)
    mt_set_error(MT_EEXIST, "%s: key of %zu bytes at seq %llu is already in memtable %llu", fn,
                 key.len, (unsigned long long)seq, (unsigned long long)m->id);
  return rc;
}

int mt_memtable_freeze(mt_memtable *m) {
  if (!m) return mt_set_error(MT_EINVAL, "mt_memtable_freeze: memtable is NULL");
  int rc = MT_OK;
  pthread_mutex_lock(&m->write_mu);
  if (atomic_load(&m->state) == MT_ACTIVE) {
    atomic_store(&m->gate, GATE_FREEZING);
    while (writers_inside(m)) sched_yield();
    rc = m->ops->freeze ? m->ops->freeze(m->rep) : MT_OK;
    if (rc == MT_OK) atomic_store(&m->state, MT_IMMUTABLE);
    atomic_store(&m->gate, rc == MT_OK ? GATE_CLOSED : GATE_OPEN);
  }
  pthread_mutex_unlock(&m->write_mu);
  return rc;
}

mt_state mt_memtable_state(const mt_memtable *m) {
  return m ? (mt_state)atomic_load(&((mt_memtable *)m)->state) : MT_FLUSHED;
}

size_t mt_memtable_memory_usage(const mt_memtable *m) {
  if (!m) return 0;
  size_t outside = m->ops->memory_outside_arena ? m->ops->memory_outside_arena(m->rep) : 0;
  return sizeof *m + mt_arena_memory(m->arena) + outside;
}

size_t mt_memtable_memory_held(const mt_memtable *m) {
  return mt_memtable_memory_usage(m) - mt_arena_memory(m->arena) + mt_arena_held(m->arena);
}

uint64_t mt_memtable_count(const mt_memtable *m) {
  uint64_t n = 0;
  for (int i = 0; m && i < STRIPES; i++)
    n += atomic_load_explicit(&((mt_memtable *)m)->stripes[i].count, memory_order_relaxed);
  return n;
}
const char *mt_memtable_spec(const mt_memtable *m) { return m ? m->spec : ""; }
uint32_t mt_memtable_caps(const mt_memtable *m) { return m ? m->ops->caps : 0; }
uint64_t mt_memtable_id(const mt_memtable *m) { return m ? m->id : 0; }

int mt_memtable_check(mt_memtable *m) {
  if (!m) return mt_set_error(MT_EINVAL, "mt_memtable_check: memtable is NULL");
  return m->ops->check ? m->ops->check(m->rep) : MT_OK;
}

/* ---- point reads ------------------------------------------------------------ */

static bool same_key(const mt_memtable *m, const uint8_t *e, mt_slice key) {
  return e && mt_key_compare(&m->cmp, mt_entry_key(e), key) == 0;
}

/* The newest entry with key and seq <= snapshot, through the rep's get or a
 * seek.  *out NULL when there is none. */
static int find_visible(mt_memtable *m, mt_slice key, uint64_t snapshot, const uint8_t **out) {
  if (m->ops->get) {
    *out = m->ops->get(m->rep, key, snapshot);
    return MT_OK;
  }
  mt_rep_iter *ri;
  int rc = m->ops->iter_new(&ri, m->rep);
  if (rc) return rc;
  m->ops->iter_seek(ri, key, snapshot);
  const uint8_t *e = m->ops->iter_entry(ri);
  *out = same_key(m, e, key) ? e : NULL;
  m->ops->iter_free(ri);
  return MT_OK;
}

int mt_memtable_get(mt_memtable *m, mt_slice key, uint64_t snapshot, mt_slice *value,
                    uint64_t *seq) {
  static const char fn[] = "mt_memtable_get";
  if (!m) return mt_set_error(MT_EINVAL, "%s: memtable is NULL", fn);
  int rc = check_slice(fn, "key", key);
  if (rc) return rc;
  if (snapshot > MT_SEQ_MAX) snapshot = MT_SEQ_MAX;
  const uint8_t *e;
  rc = find_visible(m, key, snapshot, &e);
  if (rc) return rc;
  if (!e) return MT_NOTFOUND;
  if (seq) *seq = mt_entry_seq(e);
  if (mt_entry_kind(e) == MT_DELETE) {
    if (value) *value = (mt_slice){NULL, 0};
    return MT_DELETED;
  }
  if (value) *value = mt_entry_value(e);
  return MT_OK;
}

/* ---- raw iteration ---------------------------------------------------------- */

typedef struct mem_iter {
  mt_iter base;
  mt_memtable *m;
  mt_rep_iter *ri;
  mt_slice prefix; /* prefix-bounded iterators only: a copy owned here */
  bool bounded;
} mem_iter;

static bool in_prefix(const mem_iter *it, const uint8_t *e) {
  mt_slice k = mt_entry_key(e);
  return k.len >= it->prefix.len && (!it->prefix.len || !memcmp(k.data, it->prefix.data, it->prefix.len));
}

/* Publishes the rep iterator's entry; a bounded iterator outside its prefix
 * is invalid. */
static void sync_entry(mem_iter *it) {
  const uint8_t *e = it->m->ops->iter_entry(it->ri);
  if (e && it->bounded && !in_prefix(it, e)) e = NULL;
  mt_iter_set_entry(&it->base, e);
}

static void mi_free(mt_iter *base) {
  mem_iter *it = (mem_iter *)base;
  it->m->ops->iter_free(it->ri);
  mt_memtable_unref(it->m);
  mt_free((void *)it->prefix.data);
  mt_free(it);
}
static void mi_first(mt_iter *base) {
  mem_iter *it = (mem_iter *)base;
  it->m->ops->iter_seek_to_first(it->ri);
  sync_entry(it);
}
static void mi_last(mt_iter *base) {
  mem_iter *it = (mem_iter *)base;
  it->m->ops->iter_seek_to_last(it->ri);
  sync_entry(it);
}
static void mi_seek(mt_iter *base, mt_slice key) {
  mem_iter *it = (mem_iter *)base;
  it->m->ops->iter_seek(it->ri, key, MT_SEQ_MAX); /* before every version of key */
  sync_entry(it);
}
static void mi_seek_for_prev(mt_iter *base, mt_slice key) {
  mem_iter *it = (mem_iter *)base;
  it->m->ops->iter_seek_for_prev(it->ri, key, 0); /* after every version of key */
  sync_entry(it);
}
static void mi_next(mt_iter *base) {
  mem_iter *it = (mem_iter *)base;
  it->m->ops->iter_next(it->ri);
  sync_entry(it);
}
static void mi_prev(mt_iter *base) {
  mem_iter *it = (mem_iter *)base;
  it->m->ops->iter_prev(it->ri);
  sync_entry(it);
}

static const mt_iter_vt mem_iter_vt = {mi_free, mi_first, mi_last, mi_seek, mi_seek_for_prev,
                                       mi_next, mi_prev};

/* Prefix-bounded positioning: the range of keys starting with the prefix
 * begins at the prefix itself and ends before its successor. */
static void pi_first(mt_iter *base) { mi_seek(base, ((mem_iter *)base)->prefix); }
static void pi_last(mt_iter *base) {
  mem_iter *it = (mem_iter *)base;
  const mt_rep_ops *o = it->m->ops;
  size_t n = it->prefix.len;
  const uint8_t *p = it->prefix.data;
  while (n && p[n - 1] == 0xff) n--; /* successor: drop trailing 0xff, bump the last byte */
  uint8_t stack[64], *succ = n <= sizeof stack ? stack : mt_malloc(n);
  if (n && !succ) {
    base->status = MT_ENOMEM;
    mt_iter_set_entry(base, NULL);
    return;
  }
  if (n) {
    memcpy(succ, p, n);
    succ[n - 1]++;
    o->iter_seek(it->ri, (mt_slice){succ, n}, MT_SEQ_MAX);
    if (o->iter_entry(it->ri)) o->iter_prev(it->ri);
    else o->iter_seek_to_last(it->ri);
    if (succ != stack) mt_free(succ);
  } else {
    o->iter_seek_to_last(it->ri);
  }
  sync_entry(it);
}
static void pi_seek(mt_iter *base, mt_slice key) {
  mem_iter *it = (mem_iter *)base;
  mi_seek(base, mt_key_compare(&it->m->cmp, key, it->prefix) < 0 ? it->prefix : key);
}
static void pi_seek_for_prev(mt_iter *base, mt_slice key) {
  mem_iter *it = (mem_iter *)base;
  if (mt_key_compare(&it->m->cmp, key, it->prefix) < 0) mt_iter_set_entry(base, NULL);
  else if (key.len >= it->prefix.len && !memcmp(key.data, it->prefix.data, it->prefix.len))
    mi_seek_for_prev(base, key);
  else pi_last(base); /* past the prefix's range */
}

static const mt_iter_vt prefix_iter_vt = {mi_free, pi_first, pi_last, pi_seek, pi_seek_for_prev,
                                          mi_next, mi_prev};

static int iter_open(mt_iter **out, mt_memtable *m, const mt_slice *prefix, const char *fn) {
  if (!out) return mt_set_error(MT_EINVAL, "%s: out is NULL", fn);
  *out = NULL;
  if (!m) return mt_set_error(MT_EINVAL, "%s: memtable is NULL", fn);
  if (prefix && !prefix->data && prefix->len)
    return mt_set_error(MT_EINVAL, "%s: prefix.data is NULL with len %zu", fn, prefix->len);
  mem_iter *it = mt_calloc(1, sizeof *it);
  if (!it) return MT_ENOMEM;
  if (prefix) {
    uint8_t *copy = mt_malloc(prefix->len);
    if (!copy) {
      mt_free(it);
      return MT_ENOMEM;
    }
    if (prefix->len) memcpy(copy, prefix->data, prefix->len);
    it->prefix = (mt_slice){copy, prefix->len};
    it->bounded = true;
  }
  int rc = m->ops->iter_new(&it->ri, m->rep);
  if (rc) {
    mt_free((void *)it->prefix.data);
    mt_free(it);
    return rc;
  }
  it->base.vt = prefix ? &prefix_iter_vt : &mem_iter_vt;
  it->m = m;
  mt_memtable_ref(m);
  *out = &it->base;
  return MT_OK;
}

int mt_iter_new(mt_iter **out, mt_memtable *m) { return iter_open(out, m, NULL, "mt_iter_new"); }

int mt_iter_new_prefix(mt_iter **out, mt_memtable *m, mt_slice prefix) {
  return iter_open(out, m, &prefix, "mt_iter_new_prefix");
}

/* ---- flush ---------------------------------------------------------------------- */

int mt_memtable_flush(mt_memtable *m, const mt_flush_sink *sink, void *ctx) {
  static const char fn[] = "mt_memtable_flush";
  if (!m) return mt_set_error(MT_EINVAL, "%s: memtable is NULL", fn);
  if (!sink || !sink->begin || !sink->add || !sink->finish)
    return mt_set_error(MT_EINVAL, "%s: the sink needs begin, add and finish", fn);
  int expect = MT_IMMUTABLE;
  if (!atomic_compare_exchange_strong(&m->state, &expect, MT_FLUSHING)) {
    static const char *names[] = {"active", "immutable", "flushing", "flushed"};
    return mt_set_error(MT_EINVAL, "%s: memtable %llu is %s; only an immutable one can be flushed",
                        fn, (unsigned long long)m->id, names[expect]);
  }
  mt_rep_iter *ri;
  int rc = m->ops->iter_new(&ri, m->rep);
  if (rc) {
    atomic_store(&m->state, MT_IMMUTABLE);
    return rc;
  }
  rc = sink->begin(ctx, m->id, mt_memtable_count(m));
  if (rc >= 0) {
    rc = MT_OK;
    for (m->ops->iter_seek_to_first(ri); rc == MT_OK;) {
      const uint8_t *e = m->ops->iter_entry(ri);
      if (!e) break;
      int r = sink->add(ctx, mt_entry_key(e), mt_entry_seq(e), mt_entry_kind(e), mt_entry_value(e));
      if (r < 0) rc = r;
      else m->ops->iter_next(ri);
    }
  }
  m->ops->iter_free(ri);
  int fin = sink->finish(ctx, rc < 0 ? rc : MT_OK);
  if (rc >= 0 && fin < 0) rc = fin;
  if (rc < 0 && !*mt_last_error())
    mt_set_error(rc, "%s: the sink failed with %s", fn, mt_strerror(rc));
  atomic_store(&m->state, rc < 0 ? MT_IMMUTABLE : MT_FLUSHED);
  return rc < 0 ? rc : MT_OK;
}
