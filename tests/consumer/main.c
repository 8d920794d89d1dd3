/* A program outside the tree, built against an installed memtable. */
#include <memtable/memtable.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  mt_memtable *m;
  if (mt_memtable_new(&m, "skiplist:max_height=8", NULL) != MT_OK) {
    fprintf(stderr, "new: %s\n", mt_last_error());
    return 1;
  }
  mt_slice k = {"k", 1}, v = {"value", 5}, out;
  if (mt_memtable_add(m, 1, MT_PUT, k, v) != MT_OK ||
      mt_memtable_get(m, k, MT_SEQ_MAX, &out, NULL) != MT_OK || out.len != 5 ||
      memcmp(out.data, "value", 5) != 0) {
    fprintf(stderr, "add/get failed: %s\n", mt_last_error());
    return 1;
  }
  printf("consumer ok: %s\n", mt_memtable_spec(m));
  mt_memtable_unref(m);
  return 0;
}
