/* test_smoke.c -- the shortest path through the API on the default rep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <memtable/memtable.h>
#include <stdio.h>
#include <string.h>
#include "support.h"

static void add_get_iterate(void **state) {
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, NULL, NULL), MT_OK);
  char k[32], v[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(k, sizeof k, "key%05d", (i * 7919) % 1000);
    snprintf(v, sizeof v, "v%d", i);
    assert_int_equal(mt_memtable_add(m, (uint64_t)i + 1, MT_PUT, S(k), S(v)), MT_OK);
  }
  mt_slice val;
  uint64_t seq;
  assert_int_equal(mt_memtable_get(m, S("key00007"), MT_SEQ_MAX, &val, &seq), MT_OK);
  assert_int_equal(mt_memtable_get(m, S("nokey"), MT_SEQ_MAX, &val, &seq), MT_NOTFOUND);
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  int n = 0;
  char prev[32] = "";
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), n++) {
    mt_slice key = mt_iter_key(it);
    snprintf(k, sizeof k, "%.*s", (int)key.len, (const char *)key.data);
    assert_true(strcmp(prev, k) < 0);
    strcpy(prev, k);
  }
  assert_int_equal(n, 1000);
  mt_iter_free(it);
  assert_string_equal(mt_memtable_spec(m), "skiplist:max_height=12,branching=4");
  mt_memtable_unref(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(add_get_iterate)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
