/* test_arena.c -- arena accounting, seen through the public API
 * (mt_memtable_memory_usage of the default rep, which keeps everything in
 * the arena) and through rep.h's arena calls (a probe rep registered here
 * over support.h's sorted array).
 *
 * Checked: usage grows in block steps (whole pages, few of them), never
 * drops below the bytes stored, a big value costs about its size and does
 * not waste the current block, allocations honour their alignment and stay
 * in [mt_arena_base, + MT_ARENA_RESERVE), co-allocated entries decode to
 * what was added, and parallel allocations neither overlap nor lose bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define PAGE 4096
#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

static mt_memtable *open_spec(const char *spec) {
  mt_memtable *m = NULL;
  int rc = mt_memtable_new(&m, spec, NULL);
  if (rc != MT_OK) fail_msg("'%s': %d %s", spec, rc, mt_last_error());
  return m;
}

/* ---- through the public API --------------------------------------------------------- */

static void usage_grows_in_block_steps(void **state) {
  mt_memtable *m = open_spec("skiplist");
  size_t base = mt_memtable_memory_usage(m), prev = base, stored = 0;
  int steps = 0;
  char kb[32], vb[64];
  memset(vb, 'x', sizeof vb);
  for (unsigned i = 0; i < 20000; i++) {
    int n = snprintf(kb, sizeof kb, "key%08u", i * 7919u % 20000u);
    size_t vn = i % sizeof vb;
    assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, SL(kb, (size_t)n), SL(vb, vn)), MT_OK);
    stored += (size_t)n + vn;
    size_t u = mt_memtable_memory_usage(m);
    if (u != prev) {
      if (u < prev) fail_msg("usage shrank from %zu to %zu", prev, u);
      if ((u - prev) % PAGE != 0 || u - prev < PAGE)
        fail_msg("add %u grew usage by %zu bytes: not a step of whole pages", i, u - prev);
      steps++;
    }
    if (u < stored) fail_msg("add %u: usage %zu below the %zu bytes stored", i, u, stored);
    prev = u;
  }
  /* blocks, not entries: ~1.3 MB of entries take a handful of steps */
  if (steps < 2 || steps > 40) fail_msg("%d growth steps for 20000 adds", steps);
  /* growing by blocks wastes at most about one block: the last */
  if (prev - base > 2 * stored + 20000 * 64 + 64 * KIB)
    fail_msg("usage grew %zu for %zu bytes stored", prev - base, stored);
  mt_memtable_unref(m);
}

static void big_values_waste_nothing(void **state) {
  mt_memtable *m = open_spec("skiplist");
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("small0"), S("v")), MT_OK);
  size_t stored = 7;
  uint8_t *val = malloc(MIB);
  for (size_t i = 0; i < MIB; i++) val[i] = (uint8_t)(i * 131 >> 3);
  char kb[32];
  for (int j = 0; j < 5; j++) { /* several in a row, each a little smaller */
    size_t len = MIB - (size_t)j * 1000 - 3;
    size_t before = mt_memtable_memory_usage(m);
    snprintf(kb, sizeof kb, "big%d", j);
    int rc = mt_memtable_add(m, 1, MT_PUT, S(kb), SL(val, len));
    if (rc != MT_OK) fail_msg("big value %d (%zu bytes): %d %s", j, len, rc, mt_last_error());
    size_t after = mt_memtable_memory_usage(m);
    stored += strlen(kb) + len;
    if (after < stored) fail_msg("big value %d: usage %zu below the %zu bytes stored", j, after, stored);
    if (after - before >= len + 64 * KIB)
      fail_msg("big value %d of %zu bytes grew usage by %zu", j, len, after - before);
    /* small adds after it still work */
    for (int i = 0; i < 10; i++) {
      snprintf(kb, sizeof kb, "small%d-%d", j, i);
      rc = mt_memtable_add(m, 2, MT_PUT, S(kb), S("after"));
      stored += strlen(kb) + 5;
      if (rc != MT_OK) fail_msg("small add after big value %d: %d %s", j, rc, mt_last_error());
    }
  }
  for (int j = 0; j < 5; j++) {
    mt_slice v;
    snprintf(kb, sizeof kb, "big%d", j);
    assert_int_equal(mt_memtable_get(m, S(kb), MT_SEQ_MAX, &v, NULL), MT_OK);
    assert_int_equal(v.len, MIB - (size_t)j * 1000 - 3);
    assert_memory_equal(v.data, val, v.len);
  }
  /* bigger than the largest block step */
  size_t before = mt_memtable_memory_usage(m);
  uint8_t *huge = calloc(1, 5 * MIB);
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("huge"), SL(huge, 5 * MIB)), MT_OK);
  size_t after = mt_memtable_memory_usage(m);
  assert_true(after >= stored + 5 * MIB);
  if (after - before > 5 * MIB + 2 * MIB + 64 * KIB)
    fail_msg("a 5 MiB value grew usage by %zu", after - before);
  free(huge);
  free(val);
  assert_int_equal(mt_memtable_check(m), MT_OK);
  mt_memtable_unref(m);
}

static void empty_memtable_is_small(void **state) {
  mt_memtable *m = open_spec("skiplist");
  size_t u = mt_memtable_memory_usage(m);
  assert_true(u > 0);
  if (u > 64 * KIB) fail_msg("an empty skiplist memtable holds %zu bytes", u);
  mt_memtable_unref(m);
}

/* ---- through rep.h: a probe rep ---------------------------------------------------------- */

#define PROBE_MAX 1000
#define PROBE_LIVES 64
static struct {
  void *p[PROBE_MAX];
  size_t n, size, align;
  uint8_t *base;
  int bad;     /* an allocation out of the arena's range or misaligned */
  int nonzero; /* allocations of create that were not all zeros */
  uint8_t *bases[PROBE_LIVES]; /* mt_arena_base of each create, in order */
  int lives;
} probe;

static int probe_create(mt_rep **out, const mt_rep_init *init) {
  size_t size = (size_t)init->params[0], align = (size_t)init->params[1];
  size_t count = (size_t)init->params[2];
  probe.n = 0, probe.size = size, probe.align = align, probe.bad = 0;
  probe.base = mt_arena_base(init->arena);
  if (probe.lives < PROBE_LIVES) probe.bases[probe.lives++] = probe.base;
  for (size_t i = 0; i < count; i++) {
    uint8_t *p = mt_arena_alloc(init->arena, size, align);
    if (!p) return MT_ENOMEM;
    if ((uintptr_t)p % align || p < probe.base || p + size > probe.base + MT_ARENA_RESERVE) probe.bad++;
    for (size_t j = 0; j < size; j++)
      if (p[j]) {
        probe.nonzero++;
        break;
      }
    memset(p, (int)(i & 0xff), size); /* writable, and a pattern to find overlaps */
    probe.p[probe.n++] = p;
  }
  return support_array_create(out, init);
}

static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int probe_misaligned;

/* Entry seq s gets a header of 8 * (s % 4) bytes, aligned to 1 << (s % 7),
 * filled with 0xAB; the entry follows it. */
static size_t hdr_bytes(uint64_t seq) { return 8 * (size_t)(seq % 4); }
static size_t hdr_align(uint64_t seq) { return (size_t)1 << (seq % 7); }

/* Allocates in parallel (no lock), then appends the entry under a lock:
 * the array is in arrival order, which the raw walk below accepts. */
static int probe_insert_concurrent(mt_rep *r, const mt_new_entry *e) {
  size_t hb = hdr_bytes(e->seq), al = hdr_align(e->seq);
  uint8_t *h = mt_arena_alloc_entry(r->arena, e, hb, al);
  if (!h) return MT_ENOMEM;
  if ((uintptr_t)h % al) atomic_fetch_add(&probe_misaligned, 1);
  memset(h, 0xAB, hb);
  pthread_mutex_lock(&probe_mu);
  int rc = MT_OK;
  if (r->n == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 16;
    const uint8_t **v = mt_realloc(r->v, cap * sizeof *v);
    if (v) r->v = v, r->cap = cap;
    else rc = MT_ENOMEM;
  }
  if (rc == MT_OK) r->v[r->n++] = h + hb;
  pthread_mutex_unlock(&probe_mu);
  return rc;
}

static const mt_rep_param probe_params[] = {
    {"size", MT_PARAM_INT, 100, 1, 1 << 22, "bytes per allocation"},
    {"align", MT_PARAM_INT, 8, 1, 64, "alignment"},
    {"count", MT_PARAM_INT, 10, 0, PROBE_MAX, "allocations made by create"},
};
static mt_rep_ops probe_ops;

static void alignment_and_range(void **state) {
  mt_memtable *m0 = open_spec("arena_probe:count=0");
  size_t base = mt_memtable_memory_usage(m0);
  mt_memtable_unref(m0);
  static const size_t aligns[] = {1, 2, 4, 8, 16, 32, 64};
  static const size_t sizes[] = {1, 3, 17, 100, 4095, 4096, 70000};
  for (size_t a = 0; a < 7; a++)
    for (size_t s = 0; s < 7; s++) {
      char spec[96];
      size_t count = sizes[s] > 10000 ? 20 : 200;
      snprintf(spec, sizeof spec, "arena_probe:size=%zu,align=%zu,count=%zu", sizes[s], aligns[a], count);
      mt_memtable *m = open_spec(spec);
      if (probe.bad) fail_msg("%s: %d allocations misaligned or outside the arena", spec, probe.bad);
      /* no two allocations overlap: each still holds its pattern */
      for (size_t i = 0; i < probe.n; i++) {
        const uint8_t *p = probe.p[i];
        for (size_t j = 0; j < probe.size; j++)
          if (p[j] != (uint8_t)(i & 0xff)) fail_msg("%s: allocation %zu was overwritten", spec, i);
      }
      size_t u = mt_memtable_memory_usage(m), want = count * sizes[s];
      if (u < base + want) fail_msg("%s: usage grew %zu for %zu bytes allocated", spec, u - base, want);
      /* block steps double: the last one is at most all before it */
      if (u > base + 2 * (want + count * aligns[a]) + 64 * KIB)
        fail_msg("%s: usage grew %zu for %zu bytes allocated", spec, u - base, want);
      mt_memtable_unref(m);
    }
}

static void entry_encoded_size(void **state) {
  /* varint32(klen) + key + 8 + varint32(vlen) + value; a DELETE has no value */
  uint8_t big[300];
  memset(big, 'k', sizeof big);
  mt_new_entry e1 = {SL(big, 5), S("value"), 42, MT_PUT};
  assert_int_equal(mt_entry_encoded_size(&e1), 1 + 5 + 8 + 1 + 5);
  mt_new_entry e2 = {SL(big, 300), SL(big, 130), MT_SEQ_MAX, MT_PUT};
  assert_int_equal(mt_entry_encoded_size(&e2), 2 + 300 + 8 + 2 + 130);
  mt_new_entry e3 = {SL(big, 0), S("ignored"), 0, MT_DELETE};
  assert_int_equal(mt_entry_encoded_size(&e3), 1 + 0 + 8 + 1 + 0);
}

/* 4 threads add through probe_insert_concurrent: every entry intact */
typedef struct par {
  mt_memtable *m;
  int id;
  int errors;
} par;
static void *par_add(void *p) {
  par *a = p;
  char kb[32], vb[200];
  for (int i = 0; i < 3000; i++) {
    int kn = snprintf(kb, sizeof kb, "t%d-%05d", a->id, i);
    size_t vn = (size_t)(i * 7 + a->id) % sizeof vb;
    memset(vb, 'a' + (i + a->id) % 26, vn);
    if (mt_memtable_add(a->m, (uint64_t)i + 1, MT_PUT, SL(kb, (size_t)kn), SL(vb, vn)) != MT_OK) a->errors++;
  }
  return NULL;
}

static void parallel_allocations(void **state) {
  mt_memtable *m = open_spec("arena_probe:count=0");
  size_t base = mt_memtable_memory_usage(m);
  atomic_store(&probe_misaligned, 0);
  pthread_t th[4];
  par a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (par){m, i, 0};
    assert_int_equal(pthread_create(&th[i], NULL, par_add, &a[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    if (a[i].errors) fail_msg("thread %d: %d adds failed", i, a[i].errors);
  }
  assert_int_equal(mt_memtable_count(m), 12000);
  assert_int_equal(atomic_load(&probe_misaligned), 0);
  /* a raw walk (arrival order): every entry decodes to what its thread
   * added, and its header still holds its fill */
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  int seen = 0;
  size_t stored = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), seen++) {
    mt_slice k = mt_iter_key(it), v = mt_iter_value(it);
    int id, i;
    char kb[32];
    snprintf(kb, sizeof kb, "%.*s", (int)k.len, (const char *)k.data);
    if (sscanf(kb, "t%d-%d", &id, &i) != 2) fail_msg("torn key '%s'", kb);
    uint64_t seq = (uint64_t)i + 1;
    size_t vn = (size_t)(i * 7 + id) % 200;
    if (v.len != vn || mt_iter_seq(it) != seq) fail_msg("entry %s torn", kb);
    for (size_t j = 0; j < vn; j++)
      if (((const char *)v.data)[j] != 'a' + (i + id) % 26) fail_msg("entry %s: value overwritten", kb);
    /* the entry starts right after its header; k.data - 1 is the klen varint */
    const uint8_t *entry = (const uint8_t *)k.data - 1;
    for (size_t j = 1; j <= hdr_bytes(seq); j++)
      if (entry[-(ptrdiff_t)j] != 0xAB) fail_msg("entry %s: header overwritten", kb);
    stored += k.len + v.len;
  }
  mt_iter_free(it);
  assert_int_equal(seen, 12000);
  assert_true(mt_memtable_memory_usage(m) >= base + stored);
  mt_memtable_unref(m);
}

/* The store keeps a flushed memtable's arena for its next memtable
 * (arena_pool.c): the next one gets the same range back, zeroed as a fresh
 * one (the probe fills 800 KiB with patterns in every create and finds
 * them gone) -- also when a reader dropped the last ref, so the writer
 * taking it zeroes it -- and the store's bytes count the kept arena and
 * the pages a memtable on a reused arena has not committed yet. */
static void store_recycles_arenas_zeroed(void **state) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.rep = "arena_probe:size=4096,align=64,count=200";
  o.memtable_bytes = 1 * MIB;
  mt_store *s;
  probe.lives = 0;
  probe.nonzero = 0;
  assert_int_equal(mt_store_open(&s, NULL, &o), MT_OK); /* memory only: flushed memtables are dropped */
  char kb[16], vb[1000];
  memset(vb, 'v', sizeof vb);
  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < 100; i++) {
      int n = snprintf(kb, sizeof kb, "k%d-%d", round, i);
      assert_int_equal(mt_store_put(s, SL(kb, (size_t)n), SL(vb, sizeof vb)), MT_OK);
    }
    struct mt_store_stats before, after;
    assert_int_equal(mt_store_stats(s, &before), MT_OK); /* the full active memtable (+ a kept arena) */
    mt_iter *it = NULL;
    if (round == 3) assert_int_equal(mt_store_iter(&it, s, MT_SEQ_MAX), MT_OK); /* holds the memtable */
    assert_int_equal(mt_store_flush(s), MT_OK); /* a new memtable, the old one dropped */
    mt_iter_free(it); /* round 3: the last ref goes here, on this thread */
    assert_int_equal(mt_store_stats(s, &after), MT_OK);
    /* after a flush from round 1 on: a new memtable on the arena kept from
     * the round before (all its pages count, though it committed 800 KiB of
     * them so far) and the one just flushed, kept: two full arenas, as
     * before the flush (the full memtable and a kept arena) */
    if (round >= 1 && round != 3 && (after.bytes + 16 * KIB < before.bytes || after.bytes > before.bytes + 16 * KIB))
      fail_msg("round %d: %llu bytes before the flush, %llu after", round, (unsigned long long)before.bytes,
               (unsigned long long)after.bytes);
    if (round == 0 && after.bytes < before.bytes + 800 * KIB) /* a fresh memtable and the kept arena */
      fail_msg("round 0: %llu bytes before the flush, %llu after", (unsigned long long)before.bytes,
               (unsigned long long)after.bytes);
  }
  assert_int_equal(mt_store_close(s), MT_OK);
  assert_int_equal(probe.lives, 7); /* open + one per flush */
  int reused = 0;
  for (int i = 1; i < probe.lives; i++)
    for (int j = 0; j < i; j++)
      if (probe.bases[i] == probe.bases[j]) {
        reused++;
        break;
      }
  if (reused < 4) fail_msg("%d of %d memtables got a flushed one's arena", reused, probe.lives);
  assert_int_equal(probe.nonzero, 0);
  assert_int_equal(probe.bad, 0);
}

int main(void) {
  probe_ops = support_array_ops("arena_probe");
  probe_ops.params = probe_params;
  probe_ops.nparams = 3;
  probe_ops.create = probe_create;
  probe_ops.caps = MT_CAP_CONCURRENT_INSERT;
  probe_ops.insert_concurrent = probe_insert_concurrent;
  if (mt_rep_register(&probe_ops) != MT_OK) {
    fprintf(stderr, "register: %s\n", mt_last_error());
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(usage_grows_in_block_steps),
      cmocka_unit_test(big_values_waste_nothing),
      cmocka_unit_test(empty_memtable_is_small),
      cmocka_unit_test(alignment_and_range),
      cmocka_unit_test(entry_encoded_size),
      cmocka_unit_test(parallel_allocations),
      cmocka_unit_test(store_recycles_arenas_zeroed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
