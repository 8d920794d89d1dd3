/* workloads_research_gen.c -- the key-choice generators behind the research
 * workloads (workloads_research.c), kept apart so that test_research.c can
 * check their distributions directly:
 *   - YCSB's zipfian generator (Gray et al., "Quickly generating
 *     billion-record synthetic databases", as in YCSB's ZipfianGenerator),
 *     with the zeta sum extended incrementally when the item count grows;
 *   - YCSB's ScrambledZipfianGenerator: a zipfian rank over 10^10 items,
 *     hashed with 64-bit FNV-1a (YCSB's Utils.fnvhash64, including its
 *     Math.abs) into [0, range), so that the popular items are spread over
 *     the key space rather than clustered at its start;
 *   - YCSB's SkewedLatestGenerator: last - zipfian(last + 1), so the most
 *     recently inserted record is the most popular (YCSB draws over `last`
 *     items, so never picks record 0, and keeps the eta of its first item
 *     count; this one draws over last + 1 and recomputes eta as it grows);
 *   - near-sorted orders: 0..n-1 with about K% of the positions displaced,
 *     each by at most L positions.
 *
 * Thread safety: no shared state; a wl_zipfian is used by one thread.
 *
 * Invariants:
 *  1. z->zetan = sum_{i=1}^{z->items} i^-theta (exact up to 2^20 terms, a
 *     midpoint-rule integral beyond: its error is below 1e-9 of the sum);
 *     z->eta matches z->items.
 *  2. wl_zipfian_next(z, n, u) is in [0, n); rank 0 is the most likely.
 *  3. wl_nearsorted returns a permutation of 0..n-1 where every moved
 *     element is at most l positions from its sorted place, and *displaced
 *     counts exactly the positions p with order[p] != p.
 */
#define _POSIX_C_SOURCE 200809L
#include "wl_internal.h"

#include <math.h>
#include <stdlib.h>

#define EXACT_TERMS (1u << 20)

/* sum_{i=from+1}^{to} i^-theta */
static double zeta_range(uint64_t from, uint64_t to, double theta) {
  double sum = 0;
  uint64_t i = from + 1;
  for (; i <= to && i <= EXACT_TERMS; i++) sum += pow((double)i, -theta);
  if (i <= to) { /* midpoint rule over [i - 0.5, to + 0.5] */
    double a = (double)i - 0.5, b = (double)to + 0.5, p = 1.0 - theta;
    sum += (pow(b, p) - pow(a, p)) / p;
  }
  return sum;
}

static void zipfian_eta(wl_zipfian *z) {
  z->eta = z->items < 2 ? 0
                        : (1.0 - pow(2.0 / (double)z->items, 1.0 - z->theta)) /
                              (1.0 - z->zeta2 / z->zetan);
}

void wl_zipfian_init(wl_zipfian *z, uint64_t items, double theta) {
  z->theta = theta;
  z->alpha = 1.0 / (1.0 - theta);
  z->zeta2 = 1.0 + pow(0.5, theta);
  z->items = items;
  /* YCSB's constant for its 10^10-item scrambled generator at 0.99. */
  if (items == WL_YCSB_ITEMS && theta == 0.99) z->zetan = 26.46902820178302;
  else z->zetan = zeta_range(0, items, theta);
  zipfian_eta(z);
}

uint64_t wl_zipfian_next(wl_zipfian *z, uint64_t n, double u) {
  if (n <= 1) return 0;
  if (n != z->items) {
    if (n > z->items) z->zetan += zeta_range(z->items, n, z->theta);
    else z->zetan = zeta_range(0, n, z->theta);
    z->items = n;
    zipfian_eta(z);
  }
  double uz = u * z->zetan;
  if (uz < 1.0) return 0;
  if (uz < z->zeta2) return 1;
  uint64_t r = (uint64_t)((double)n * pow(z->eta * u - z->eta + 1.0, z->alpha));
  return r < n ? r : n - 1;
}

uint64_t wl_fnv64(uint64_t v) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < 8; i++) {
    h ^= v & 0xff;
    h *= 1099511628211ULL;
    v >>= 8;
  }
  return h >> 63 ? ~h + 1 : h; /* Java's Math.abs on a long */
}

uint64_t wl_scrambled_next(wl_zipfian *z, uint64_t range, double u) {
  return range ? wl_fnv64(wl_zipfian_next(z, WL_YCSB_ITEMS, u)) % range : 0;
}

uint64_t wl_latest_next(wl_zipfian *z, uint64_t last, double u) {
  return last - wl_zipfian_next(z, last + 1, u);
}

uint32_t *wl_nearsorted(uint64_t n, double k_pct, uint64_t l, uint64_t seed,
                        uint64_t *displaced) {
  uint32_t *order = malloc((n ? n : 1) * sizeof *order);
  uint8_t *moved = calloc(n ? n : 1, 1);
  *displaced = 0;
  if (!order || !moved) {
    free(order);
    free(moved);
    return NULL;
  }
  for (uint64_t i = 0; i < n; i++) order[i] = (uint32_t)i;
  /* Swap disjoint pairs (i, i + d), d uniform in 1..l, until K% of the
   * positions have moved; a pair touching a moved position is skipped. */
  uint64_t want = (uint64_t)(k_pct / 100.0 * (double)n + 0.5);
  uint64_t tries = 0, budget = 64 * (want + 16), s = seed;
  while (l > 0 && *displaced + 2 <= want && tries++ < budget) {
    uint64_t i = wl_mix(s++) % n, d = 1 + wl_mix(s++) % l, j = i + d;
    if (j >= n || moved[i] || moved[j]) continue;
    uint32_t t = order[i];
    order[i] = order[j];
    order[j] = t;
    moved[i] = moved[j] = 1;
    *displaced += 2;
  }
  free(moved);
  return order;
}
