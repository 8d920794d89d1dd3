/* fuzz_spec.c -- libFuzzer target: arbitrary bytes as a spec string.  Any
 * outcome but a crash, hang, leak or sanitizer report is fine; a spec that
 * parses must print a canonical form that parses to itself. */
#include <memtable/memtable.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *spec = malloc(size + 1);
  if (!spec) return 0;
  memcpy(spec, data, size);
  spec[size] = '\0';
  mt_memtable *m;
  if (mt_memtable_new(&m, spec, NULL) == MT_OK) {
    mt_memtable *again;
    if (mt_memtable_new(&again, mt_memtable_spec(m), NULL) != MT_OK) abort();
    if (strcmp(mt_memtable_spec(m), mt_memtable_spec(again)) != 0) abort();
    mt_memtable_unref(again);
    mt_memtable_unref(m);
  } else if (!*mt_last_error()) {
    abort(); /* every rejection says why */
  }
  free(spec);
  return 0;
}
