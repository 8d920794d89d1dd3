/* example_rep_register.c -- registers examples/sorted_array_rep.c before
 * main() runs, so test_conformance_example puts the example rep through the
 * whole conformance suite: all a rep author does to get it. */
#include <memtable/rep.h>
#include <stdio.h>
#include <stdlib.h>

extern const mt_rep_ops example_sorted_array_rep;

__attribute__((constructor)) static void register_example(void) {
  if (mt_rep_register(&example_sorted_array_rep) != MT_OK) {
    fprintf(stderr, "register: %s\n", mt_last_error());
    exit(1);
  }
}
