/* test_run_format.c -- the sorted-run file (core/run.h, docs/run-format.md):
 * round trip against a model (point reads at many snapshots, forward and
 * backward iteration, seek and seek_for_prev from every key and between
 * keys), the bloom filter never denies a present key, and every single
 * flipped byte or truncation of a file is caught at open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/run.h"
#include "support.h"

enum { NKEYS = 600, MAXV = 4 };

typedef struct ver {
  uint64_t seq;
  mt_kind kind;
  int val;
} ver;

static int nver[NKEYS];
static ver vers[NKEYS][MAXV]; /* newest first */
static char path[64];

static void key_of(char *b, int k) { snprintf(b, 16, "k%05d", k * 2); } /* odd numbers fall between */

static mt_slice val_of(char *b, int v) {
  int n = snprintf(b, 200, "value-%d-", v);
  for (int i = 0; i < v % 150; i++) b[n++] = (char)('a' + i % 26);
  return (mt_slice){b, (size_t)n};
}

/* Writes the model as a run; keys in order, versions newest first. */
static void write_model(unsigned seed) {
  uint64_t seq = 1;
  memset(nver, 0, sizeof nver);
  for (int round = 0; round < MAXV; round++)
    for (int k = 0; k < NKEYS; k++) {
      if (round && rand_r(&seed) % 3) continue;
      nver[k]++; /* every key has 1..MAXV versions */
    }
  /* assign seqs: per key, oldest first; interleave rounds so seqs mix */
  int left[NKEYS];
  memcpy(left, nver, sizeof left);
  for (int round = 0; round < MAXV; round++)
    for (int k = 0; k < NKEYS; k++)
      if (left[k] > 0) {
        int i = --left[k]; /* index from the newest: fill oldest first */
        vers[k][i] = (ver){seq++, (rand_r(&seed) % 5) ? MT_PUT : MT_DELETE, rand_r(&seed) % 1000};
      }
  mt_run_writer *w;
  mt_run_info info = {"bytewise", 7, 0, 0};
  assert_int_equal(mt_run_writer_open(&w, path, &info), MT_OK);
  char kb[16], vb[256];
  for (int k = 0; k < NKEYS; k++)
    for (int i = 0; i < nver[k]; i++) {
      key_of(kb, k);
      mt_slice v = vers[k][i].kind == MT_PUT ? val_of(vb, vers[k][i].val) : (mt_slice){NULL, 0};
      assert_int_equal(mt_run_writer_add(w, S(kb), vers[k][i].seq, vers[k][i].kind, v), MT_OK);
    }
  assert_int_equal(mt_run_writer_finish(w), MT_OK);
  assert_int_equal(mt_run_writer_sync(w), MT_OK);
  assert_int_equal(mt_run_writer_close(w, false), MT_OK);
}

static int setup(void **state) {
  snprintf(path, sizeof path, "/tmp/mt_run_%d.sst", (int)getpid());
  return 0;
}
static int teardown(void **state) {
  unlink(path);
  return 0;
}

static void round_trip(void **state) {
  write_model(11);
  mt_run *r;
  assert_int_equal(mt_run_open(&r, path, NULL), MT_OK);
  const mt_run_props *p = mt_run_props_of(r);
  assert_int_equal(p->number, 7);
  assert_int_equal(p->min_seq, 1);
  uint64_t total = 0;
  for (int k = 0; k < NKEYS; k++) total += (uint64_t)nver[k];
  assert_int_equal(p->count, total);
  assert_int_equal(p->max_seq, total);
  char kb[16], vb[256];
  /* point reads at several snapshots */
  for (int k = 0; k < NKEYS; k++) {
    key_of(kb, k);
    assert_true(mt_run_may_contain(r, S(kb)));
    for (uint64_t snap = 0; snap <= total + 1; snap += total / 7 + 1) {
      int want = MT_NOTFOUND, wv = -1;
      for (int i = 0; i < nver[k]; i++)
        if (vers[k][i].seq <= snap) {
          want = vers[k][i].kind == MT_PUT ? MT_OK : MT_DELETED;
          wv = vers[k][i].val;
          break;
        }
      mt_slice v;
      assert_int_equal(mt_run_get(r, S(kb), snap, &v, NULL), want);
      if (want == MT_OK) {
        mt_slice e = val_of(vb, wv);
        assert_int_equal(v.len, e.len);
        assert_memory_equal(v.data, e.data, e.len);
      }
    }
    char between[16];
    snprintf(between, sizeof between, "k%05d", k * 2 + 1);
    assert_int_equal(mt_run_get(r, S(between), MT_SEQ_MAX, NULL, NULL), MT_NOTFOUND);
  }
  /* the bloom filter rejects most absent keys */
  int passed = 0;
  for (int i = 0; i < 10000; i++) {
    char b[24];
    snprintf(b, sizeof b, "absent%d", i);
    passed += mt_run_may_contain(r, S(b));
  }
  assert_true(passed < 300); /* ~1% expected at 10 bits per key */
  /* forward and backward iteration see every version in internal order */
  mt_iter *it;
  assert_int_equal(mt_run_iter_new(&it, r), MT_OK);
  uint64_t n = 0;
  int k = 0, i = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), n++) {
    while (i >= nver[k]) k++, i = 0;
    key_of(kb, k);
    assert_int_equal(mt_iter_key(it).len, strlen(kb));
    assert_memory_equal(mt_iter_key(it).data, kb, strlen(kb));
    assert_int_equal(mt_iter_seq(it), vers[k][i].seq);
    assert_int_equal(mt_iter_kind(it), vers[k][i].kind);
    i++;
  }
  assert_int_equal(n, total);
  n = 0;
  for (mt_iter_seek_to_last(it); mt_iter_valid(it); mt_iter_prev(it)) n++;
  assert_int_equal(n, total);
  /* seek lands on the newest version of the key; between keys, on the next */
  for (k = 0; k < NKEYS; k++) {
    key_of(kb, k);
    mt_iter_seek(it, S(kb));
    assert_true(mt_iter_valid(it));
    assert_int_equal(mt_iter_seq(it), vers[k][0].seq);
    mt_iter_seek_for_prev(it, S(kb));
    assert_true(mt_iter_valid(it));
    assert_int_equal(mt_iter_seq(it), vers[k][nver[k] - 1].seq); /* oldest version */
    char between[16];
    snprintf(between, sizeof between, "k%05d", k * 2 + 1);
    mt_iter_seek(it, S(between));
    if (k + 1 < NKEYS) assert_int_equal(mt_iter_seq(it), vers[k + 1][0].seq);
    else assert_false(mt_iter_valid(it));
    mt_iter_seek_for_prev(it, S(between));
    assert_int_equal(mt_iter_seq(it), vers[k][nver[k] - 1].seq);
  }
  mt_iter_seek_for_prev(it, S("a"));
  assert_false(mt_iter_valid(it));
  mt_iter_seek(it, S("z"));
  assert_false(mt_iter_valid(it));
  mt_iter_free(it);
  mt_run_unref(r);
}

static void empty_run(void **state) {
  mt_run_writer *w;
  mt_run_info info = {"bytewise", 1, 0, 0};
  assert_int_equal(mt_run_writer_open(&w, path, &info), MT_OK);
  assert_int_equal(mt_run_writer_finish(w), MT_OK);
  assert_int_equal(mt_run_writer_close(w, false), MT_OK);
  mt_run *r;
  assert_int_equal(mt_run_open(&r, path, NULL), MT_OK);
  mt_iter *it;
  assert_int_equal(mt_run_iter_new(&it, r), MT_OK);
  mt_iter_seek_to_first(it);
  assert_false(mt_iter_valid(it));
  mt_iter_seek_to_last(it);
  assert_false(mt_iter_valid(it));
  mt_iter_free(it);
  assert_int_equal(mt_run_get(r, S("x"), MT_SEQ_MAX, NULL, NULL), MT_NOTFOUND);
  mt_run_unref(r);
}

static uint8_t *slurp(size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*len);
  assert_int_equal(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

static void every_flipped_byte_is_caught(void **state) {
  /* a small run: a few blocks */
  mt_run_writer *w;
  mt_run_info info = {"bytewise", 3, 0, 0};
  assert_int_equal(mt_run_writer_open(&w, path, &info), MT_OK);
  char kb[16], vb[256];
  for (int k = 0; k < 120; k++) {
    key_of(kb, k);
    assert_int_equal(mt_run_writer_add(w, S(kb), 1000 - (uint64_t)k, MT_PUT, val_of(vb, k)), MT_OK);
  }
  assert_int_equal(mt_run_writer_finish(w), MT_OK);
  assert_int_equal(mt_run_writer_close(w, false), MT_OK);
  size_t len;
  uint8_t *b = slurp(&len);
  mt_run *r;
  assert_int_equal(mt_run_open_buffer(&r, b, len, "good", NULL), MT_OK);
  mt_run_unref(r);
  for (size_t i = 0; i < len; i++) {
    b[i] ^= 0x20;
    int rc = mt_run_open_buffer(&r, b, len, "flipped", NULL);
    if (rc == MT_OK) fail_msg("a flipped byte at offset %zu of %zu went unnoticed", i, len);
    assert_true(rc == MT_ECORRUPT);
    assert_non_null(strstr(mt_last_error(), "flipped"));
    b[i] ^= 0x20;
  }
  for (size_t cut = 0; cut < len; cut += 1 + cut / 8)
    assert_int_equal(mt_run_open_buffer(&r, b, cut, "short", NULL), MT_ECORRUPT);
  free(b);
}

/* Entries out of order are refused even with good checksums: the writer
 * trusts its caller, the reader does not. */
static void out_of_order_is_caught(void **state) {
  mt_run_writer *w;
  mt_run_info info = {"bytewise", 3, 0, 0};
  assert_int_equal(mt_run_writer_open(&w, path, &info), MT_OK);
  assert_int_equal(mt_run_writer_add(w, S("b"), 5, MT_PUT, S("1")), MT_OK);
  assert_int_equal(mt_run_writer_add(w, S("a"), 4, MT_PUT, S("1")), MT_OK);
  assert_int_equal(mt_run_writer_finish(w), MT_OK);
  assert_int_equal(mt_run_writer_close(w, false), MT_OK);
  mt_run *r;
  assert_int_equal(mt_run_open(&r, path, NULL), MT_ECORRUPT);
  assert_non_null(strstr(mt_last_error(), "internal order"));
  assert_int_equal(mt_run_open(&r, "/nonexistent/run-1.sst", NULL), MT_NOTFOUND);
}

static void names(void **state) {
  char b[MT_RUN_NAME_MAX];
  mt_run_name(b, sizeof b, 42);
  assert_string_equal(b, "run-000000000042.sst");
  uint64_t n;
  assert_true(mt_run_parse_name(b, &n));
  assert_int_equal(n, 42);
  assert_false(mt_run_parse_name("run-00000000004x.sst", &n));
  assert_false(mt_run_parse_name("run-000000000042.sst.tmp", &n));
  assert_false(mt_run_parse_name("wal-000000000042.log", &n));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(empty_run, setup, teardown),
      cmocka_unit_test_setup_teardown(every_flipped_byte_is_caught, setup, teardown),
      cmocka_unit_test_setup_teardown(out_of_order_is_caught, setup, teardown),
      cmocka_unit_test(names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
