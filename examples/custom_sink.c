/* custom_sink.c -- flushing a frozen memtable into a sink of your own: here
 * a tab-separated file with one line per entry, abandoned on error. */
#include <memtable/memtable.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct tsv_sink {
  const char *path;
  FILE *f;
  uint64_t lines;
} tsv_sink;

static int tsv_begin(void *ctx, uint64_t memtable_id, uint64_t count) {
  tsv_sink *s = ctx;
  s->f = fopen(s->path, "w");
  if (!s->f) return MT_EIO;
  fprintf(s->f, "# memtable %llu, %llu entries\n", (unsigned long long)memtable_id,
          (unsigned long long)count);
  return MT_OK;
}

static int tsv_add(void *ctx, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value) {
  tsv_sink *s = ctx;
  int n = fprintf(s->f, "%.*s\t%llu\t%s\t%zu\n", (int)key.len, (const char *)key.data,
                  (unsigned long long)seq, kind == MT_PUT ? "put" : "delete", value.len);
  s->lines++;
  return n < 0 ? MT_EIO : MT_OK;
}

static int tsv_finish(void *ctx, int status) {
  tsv_sink *s = ctx;
  int rc = s->f && fclose(s->f) == 0 ? MT_OK : MT_EIO;
  s->f = NULL;
  if (status < 0 || rc < 0) remove(s->path); /* abandon what was written */
  return rc;
}

int main(int argc, char **argv) {
  const char *spec = argc > 1 ? argv[1] : "skiplist";
  mt_memtable *m;
  if (mt_memtable_new(&m, spec, NULL) != MT_OK) {
    fprintf(stderr, "new: %s\n", mt_last_error());
    return 1;
  }
  char key[32];
  for (int i = 0; i < 1000; i++) {
    int len = snprintf(key, sizeof key, "user%04d", (i * 37) % 1000);
    mt_memtable_add(m, (uint64_t)i + 1, i % 10 ? MT_PUT : MT_DELETE, (mt_slice){key, (size_t)len},
                    (mt_slice){"payload", 7});
  }
  static const mt_flush_sink sink = {tsv_begin, tsv_add, tsv_finish};
  tsv_sink s = {"custom_sink.tsv", NULL, 0};
  int rc = mt_memtable_flush(m, &sink, &s);
  printf("flush before freeze: %s (%s)\n", mt_strerror(rc), mt_last_error());
  mt_memtable_freeze(m);
  rc = mt_memtable_flush(m, &sink, &s);
  printf("flush: %s, %llu lines in %s, state %d\n", mt_strerror(rc), (unsigned long long)s.lines,
         s.path, (int)mt_memtable_state(m));
  mt_memtable_unref(m);
  remove(s.path);
  return rc == MT_OK && s.lines == 1000 ? 0 : 1;
}
