/* test_conc_store_lifecycle.c -- writers, readers, mt_store_flush calls,
 * size-triggered freezes, the background flush thread and run merges all
 * at once (also run under TSan).
 *
 * Writers t = 0..W-1 each put "t<t>:<i>" for i = 0, 1, ... in order into a
 * store with 16 KiB memtables, max_immutable 2 and max_runs 2, so entries
 * move from the active memtable to frozen ones, to runs, and runs merge,
 * while readers read.  A reader takes a snapshot and requires, through an
 * iterator merging memtables and runs: each writer's keys visible are a
 * prefix 0..n-1 (nothing lost or doubled by a flush or merge under it),
 * and point reads agree (key n-1 found, key n not, at that snapshot).
 * After the run the store is closed and reopened: exactly everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

enum { W = 2, R = 2, PER_WRITER = 1500 };

static char dir[64];
static mt_store *store;
static atomic_int writers_done;
static atomic_long failures;

static void key_of(char *b, int t, int i) { snprintf(b, 24, "t%d:%06d", t, i); }

static void *writer(void *arg) {
  int t = (int)(intptr_t)arg;
  char k[24], v[64];
  for (int i = 0; i < PER_WRITER; i++) {
    key_of(k, t, i);
    snprintf(v, sizeof v, "value %d of writer %d, padded to grow the memtable", i, t);
    if (mt_store_put(store, S(k), S(v))) atomic_fetch_add(&failures, 1);
  }
  atomic_fetch_add(&writers_done, 1);
  return NULL;
}

static void *flusher(void *arg) {
  (void)arg;
  while (atomic_load(&writers_done) < W) {
    if (mt_store_flush(store)) atomic_fetch_add(&failures, 1);
    usleep(2000);
  }
  return NULL;
}

static void read_once(void) {
  uint64_t snap = mt_store_last_seq(store);
  mt_iter *it;
  if (mt_store_iter(&it, store, snap)) {
    atomic_fetch_add(&failures, 1);
    return;
  }
  int next[W] = {0};
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) {
    mt_slice k = mt_iter_key(it);
    int t, i;
    char buf[24];
    snprintf(buf, sizeof buf, "%.*s", (int)k.len, (const char *)k.data);
    if (sscanf(buf, "t%d:%d", &t, &i) != 2 || t < 0 || t >= W || i != next[t]) {
      atomic_fetch_add(&failures, 1);
      break;
    }
    next[t]++;
  }
  if (mt_iter_status(it)) atomic_fetch_add(&failures, 1);
  mt_iter_free(it);
  for (int t = 0; t < W; t++) {
    char k[24];
    void *v;
    if (next[t]) {
      key_of(k, t, next[t] - 1);
      if (mt_store_get(store, S(k), snap, &v, NULL) != MT_OK) atomic_fetch_add(&failures, 1);
      mt_free(v);
    }
    key_of(k, t, next[t]);
    if (mt_store_get(store, S(k), snap, &v, NULL) != MT_NOTFOUND) atomic_fetch_add(&failures, 1);
    mt_free(v);
  }
}

static void *reader(void *arg) {
  (void)arg;
  while (atomic_load(&writers_done) < W) read_once();
  read_once();
  return NULL;
}

static void everything_at_once(void **state) {
  strcpy(dir, "/tmp/mt_conc_life_XXXXXX");
  assert_non_null(mkdtemp(dir));
  mt_store_options o;
  mt_store_options_init(&o);
  o.memtable_bytes = 16 << 10;
  o.max_runs = 2;
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  pthread_t w[W], r[R], f;
  for (int i = 0; i < W; i++) pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
  for (int i = 0; i < R; i++) pthread_create(&r[i], NULL, reader, NULL);
  pthread_create(&f, NULL, flusher, NULL);
  for (int i = 0; i < W; i++) pthread_join(w[i], NULL);
  for (int i = 0; i < R; i++) pthread_join(r[i], NULL);
  pthread_join(f, NULL);
  assert_int_equal(atomic_load(&failures), 0);
  struct mt_store_stats st;
  assert_int_equal(mt_store_stats(store, &st), MT_OK);
  assert_true(st.flushes > 10);
  assert_true(st.merges > 0);
  assert_int_equal(st.flush_errors, 0);
  assert_int_equal(mt_store_close(store), MT_OK);
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  read_once();
  assert_int_equal(atomic_load(&failures), 0);
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, store, MT_SEQ_MAX), MT_OK);
  int n = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) n++;
  mt_iter_free(it);
  assert_int_equal(n, W * PER_WRITER);
  assert_int_equal(mt_store_close(store), MT_OK);
  rm_rf(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(everything_at_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
