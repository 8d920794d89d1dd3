/* store.c -- embedding a durable store: the rep comes from configuration
 * (argv[1] or MT_REP, default "skiplist"), writes go through the WAL, the
 * memtable freezes at memtable_bytes and flushes to sorted runs in the
 * background, and a reopen replays what the runs do not hold. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp in strict C11 */
#include <memtable/memtable.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int rc) {
  fprintf(stderr, "%s: %s: %s\n", what, mt_strerror(rc), mt_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *rep = argc > 1 ? argv[1] : getenv("MT_REP") ? getenv("MT_REP") : "skiplist";
  char dir[] = "/tmp/mt_example_XXXXXX";
  if (!mkdtemp(dir)) return 1;

  mt_store_options o;
  mt_store_options_init(&o);
  o.rep = rep;
  o.memtable_bytes = 256 << 10; /* small, so this example flushes a few runs */
  mt_store *s;
  int rc = mt_store_open(&s, dir, &o);
  if (rc) return fail("open", rc);

  char key[32], val[64];
  for (int i = 0; i < 20000; i++) {
    int kn = snprintf(key, sizeof key, "user:%05d", i);
    int vn = snprintf(val, sizeof val, "profile of user %d", i);
    if ((rc = mt_store_put(s, (mt_slice){key, (size_t)kn}, (mt_slice){val, (size_t)vn})))
      return fail("put", rc);
  }
  mt_batch *b;
  if ((rc = mt_batch_new(&b))) return fail("batch", rc);
  mt_batch_delete(b, (mt_slice){"user:00007", 10});
  mt_batch_put(b, (mt_slice){"user:00008", 10}, (mt_slice){"renamed", 7});
  if ((rc = mt_store_write(s, b))) return fail("write", rc); /* all or nothing */
  mt_batch_free(b);
  mt_store_close(s);

  /* reopen: runs plus the WAL's tail */
  if ((rc = mt_store_open(&s, dir, &o))) return fail("reopen", rc);
  void *v;
  size_t vlen;
  rc = mt_store_get(s, (mt_slice){"user:00008", 10}, mt_store_last_seq(s), &v, &vlen);
  if (rc != MT_OK || vlen != 7 || memcmp(v, "renamed", 7)) return fail("get user:00008", rc);
  mt_free(v);
  if (mt_store_get(s, (mt_slice){"user:00007", 10}, MT_SEQ_MAX, &v, &vlen) != MT_NOTFOUND)
    return fail("deleted user:00007 came back", MT_ECORRUPT);

  mt_iter *it; /* the user view: newest version per key, tombstones hidden */
  if ((rc = mt_store_iter(&it, s, mt_store_last_seq(s)))) return fail("iter", rc);
  int n = 0;
  for (mt_iter_seek(it, (mt_slice){"user:00005", 10}); mt_iter_valid(it) && n < 5; mt_iter_next(it), n++)
    printf("%.*s = %.*s\n", (int)mt_iter_key(it).len, (const char *)mt_iter_key(it).data,
           (int)mt_iter_value(it).len, (const char *)mt_iter_value(it).data);
  mt_iter_free(it);

  struct mt_store_stats st;
  mt_store_stats(s, &st);
  printf("rep %s: %llu flushes, %llu runs, %llu records replayed at reopen\n", rep,
         (unsigned long long)st.flushes, (unsigned long long)st.runs,
         (unsigned long long)st.recovered_records);
  mt_store_close(s);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
