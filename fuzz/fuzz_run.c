/* fuzz_run.c -- libFuzzer target: arbitrary bytes as a sorted-run file,
 * opened through the verifying reader (mt_run_open_buffer).  Whatever the
 * bytes say, open must either refuse them or hand back a run whose every
 * read stays inside the buffer: a walk forward and backward, seeks and
 * point reads at the keys it holds and around them. */
#include "run.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a private copy: reads past the end land in ASan's redzone */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  mt_run *r;
  if (mt_run_open_buffer(&r, copy, size, "fuzz", NULL) == MT_OK) {
    const mt_run_props *p = mt_run_props_of(r);
    mt_iter *it;
    if (mt_run_iter_new(&it, r) == MT_OK) {
      uint64_t n = 0, back = 0, bytes = 0;
      for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) {
        mt_slice k = mt_iter_key(it), v = mt_iter_value(it);
        bytes += k.len + v.len;
        n++;
      }
      for (mt_iter_seek_to_last(it); mt_iter_valid(it); mt_iter_prev(it)) back++;
      if (n != p->count || back != p->count) abort(); /* open verified the count */
      mt_iter *probe;
      if (mt_run_iter_new(&probe, r) == MT_OK) {
        for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) {
          mt_slice k = mt_iter_key(it);
          mt_slice v;
          if (mt_run_get(r, k, MT_SEQ_MAX, &v, NULL) == MT_NOTFOUND) abort(); /* bloom: no false negative */
          mt_iter_seek(probe, k);
          if (!mt_iter_valid(probe)) abort();
          mt_iter_seek_for_prev(probe, k);
          if (!mt_iter_valid(probe)) abort();
          mt_slice shorter = {k.data, k.len ? k.len - 1 : 0};
          mt_iter_seek(probe, shorter);
          mt_iter_seek_for_prev(probe, shorter);
          mt_run_get(r, shorter, mt_iter_seq(it), NULL, NULL);
        }
        mt_iter_free(probe);
      }
      (void)bytes;
      mt_iter_free(it);
    }
    mt_run_unref(r);
  }
  free(copy);
  return 0;
}
