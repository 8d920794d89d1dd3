/* custom_rep.c -- registering a rep of your own and choosing it by spec.
 * The rep itself is in sorted_array_rep.c; no get slot, so core answers
 * gets with a seek, and no parameters, so its spec is just its name. */
#include <memtable/rep.h>
#include <stdio.h>
#include <string.h>

extern const mt_rep_ops example_sorted_array_rep;

int main(void) {
  if (mt_rep_register(&example_sorted_array_rep) != MT_OK) {
    fprintf(stderr, "register: %s\n", mt_last_error());
    return 1;
  }
  const char *names[16];
  size_t n = mt_rep_names(names, 16);
  printf("registered reps:");
  for (size_t i = 0; i < n && i < 16; i++) printf(" %s", names[i]);
  printf("\n");

  mt_memtable *m;
  if (mt_memtable_new(&m, "sorted_array", NULL) != MT_OK) {
    fprintf(stderr, "new: %s\n", mt_last_error());
    return 1;
  }
  const char *fruit[] = {"pear", "apple", "fig", "banana"};
  for (int i = 0; i < 4; i++) {
    mt_slice k = {fruit[i], strlen(fruit[i])}, v = {"1", 1};
    mt_memtable_add(m, (uint64_t)i + 1, MT_PUT, k, v);
  }
  mt_iter *it;
  mt_iter_new(&it, m);
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it))
    printf("%.*s@%llu\n", (int)mt_iter_key(it).len, (const char *)mt_iter_key(it).data,
           (unsigned long long)mt_iter_seq(it));
  mt_iter_free(it);
  printf("spec %s, %zu bytes, check %s\n", mt_memtable_spec(m), mt_memtable_memory_usage(m),
         mt_strerror(mt_memtable_check(m)));
  mt_memtable_unref(m);
  return 0;
}
