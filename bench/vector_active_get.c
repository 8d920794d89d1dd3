/* vector_active_get.c -- gets on an ACTIVE (never frozen) memtable, the case
 * where RocksDB's VectorRep copies and sorts the whole table on every Get.
 *
 * Fills N entries of the standard workload (WORKLOAD.md: 16-byte keys,
 * 100-byte values, seq i + 1), then times N gets of present keys in random
 * order without freezing.  The first get pays the lazy sort of everything
 * added so far; the figure is reported with it ("all") and without it
 * ("steady").  A second phase interleaves one add with one get (a
 * read-while-writing mix) and reports ns per get+add pair, then N gets again
 * (the runs the mix left get folded into one).  Last, for scale on
 * a noisy machine, the same N gets after freeze (the anchors' readrandom).
 *
 * Build by hand (no CMake target):
 *   gcc -O2 -std=c11 -Iinclude bench/vector_active_get.c build-vector/libmemtable.a \
 *       $(pkg-config --libs libxxhash) -lpthread -lm -o /tmp/vector_active_get
 *   /tmp/vector_active_get [spec] [N]        (default: vector 1000000) */
#define _POSIX_C_SOURCE 200809L
#include <memtable/memtable.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser, as workload.h */
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
static void be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static void key_of(uint8_t k[16], uint64_t i) {
  be64(k, mix(i) % 10000);
  be64(k + 8, mix(i ^ 0x5bd1e995ULL));
}
static void value_of(uint8_t *v, uint64_t i) {
  uint64_t x = mix(i);
  for (size_t k = 0; k < 100; k++) v[k] = (uint8_t)('a' + (x + k) % 26);
}
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add(mt_memtable *m, uint64_t i) {
  uint8_t k[16], v[100];
  key_of(k, i);
  value_of(v, i);
  int rc = mt_memtable_add(m, i + 1, MT_PUT, (mt_slice){k, 16}, (mt_slice){v, 100});
  if (rc) {
    fprintf(stderr, "add %llu: %s %s\n", (unsigned long long)i, mt_strerror(rc), mt_last_error());
    exit(1);
  }
}

static int get(mt_memtable *m, uint64_t i) {
  uint8_t k[16];
  key_of(k, i);
  mt_slice v;
  return mt_memtable_get(m, (mt_slice){k, 16}, MT_SEQ_MAX, &v, NULL) == MT_OK;
}

int main(int argc, char **argv) {
  const char *spec = argc > 1 ? argv[1] : "vector";
  uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
  mt_memtable *m;
  if (mt_memtable_new(&m, spec, NULL) != MT_OK) {
    fprintf(stderr, "%s: %s\n", spec, mt_last_error());
    return 1;
  }
  double t0 = now();
  for (uint64_t i = 0; i < n; i++) add(m, i);
  double t1 = now();
  uint64_t hits = get(m, mix(7) % n);
  double t2 = now();
  for (uint64_t i = 1; i < n; i++) hits += get(m, mix(i + 7) % n);
  double t3 = now();
  if (hits != n) fprintf(stderr, "found %llu of %llu\n", (unsigned long long)hits, (unsigned long long)n);
  printf("%s N=%llu state=%s\n", spec, (unsigned long long)n,
         mt_memtable_state(m) == MT_ACTIVE ? "active" : "frozen");
  printf("fill              %8.1f ns/add\n", (t1 - t0) * 1e9 / (double)n);
  printf("first get         %8.1f ms (sorts what was added)\n", (t2 - t1) * 1e3);
  printf("get, steady       %8.1f ns/get\n", (t3 - t2) * 1e9 / (double)(n - 1));
  printf("get, all          %8.1f ns/get (first get included)\n", (t3 - t1) * 1e9 / (double)n);
  /* read while writing: one add, one get of an older key */
  uint64_t pairs = n / 10;
  hits = 0;
  double t4 = now();
  for (uint64_t i = 0; i < pairs; i++) {
    add(m, n + i);
    hits += get(m, mix(i + 11) % (n + i + 1));
  }
  double t5 = now();
  if (hits != pairs) fprintf(stderr, "mixed: found %llu of %llu\n", (unsigned long long)hits, (unsigned long long)pairs);
  printf("add+get, mixed    %8.1f ns/pair over %llu pairs\n", (t5 - t4) * 1e9 / (double)pairs,
         (unsigned long long)pairs);
  /* reads again, still active: the runs the mix left are folded into one */
  hits = 0;
  double t8 = now();
  for (uint64_t i = 0; i < n; i++) hits += get(m, mix(i + 5) % n);
  double t9 = now();
  printf("get after the mix %8.1f ns/get (active; folds the runs once)\n", (t9 - t8) * 1e9 / (double)n);
  printf("memory            %8.1f B/entry\n", (double)mt_memtable_memory_usage(m) / (double)(n + pairs));
  mt_memtable_freeze(m);
  hits = 0;
  double t6 = now();
  for (uint64_t i = 1; i < n; i++) hits += get(m, mix(i + 7) % n);
  double t7 = now();
  printf("get, frozen       %8.1f ns/get (reference: same keys after freeze)\n",
         (t7 - t6) * 1e9 / (double)(n - 1));
  mt_memtable_unref(m);
  return 0;
}
