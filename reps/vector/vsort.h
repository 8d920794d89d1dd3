/* vsort.h -- the vector rep's sorting kernels, kept apart from the rep so
 * they can be read (and reasoned about) on their own.  Everything is static;
 * vector.c is the one includer.
 *
 *  - vs_radix: stable LSD radix sort of (window, handle) pairs on the 64-bit
 *    window, 8 bits a pass, skipping every pass whose digit is the same for
 *    all pairs (so 2 passes, not 8, when windows differ in two bytes).
 *  - vs_msort: bottom-up merge sort of 32-bit handles under a comparator
 *    callback, insertion sort on runs of VS_SMALL first: O(n log n)
 *    comparisons whatever the input (no quicksort worst case).
 *
 * No allocation here: callers pass the scratch buffers. */
#ifndef MT_VECTOR_VSORT_H
#define MT_VECTOR_VSORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct vs_pair {
  uint64_t w; /* the sort window: 8 key bytes, big-endian */
  uint32_t h; /* the entry handle */
  uint32_t pad;
} vs_pair;

/* Sorts a[0..n) by w, stably; t is scratch for n pairs. */
static void vs_radix(vs_pair *a, vs_pair *t, size_t n) {
  static _Thread_local size_t cnt[8][256];
  if (n < 2) return;
  memset(cnt, 0, sizeof cnt);
  for (size_t i = 0; i < n; i++) {
    uint64_t w = a[i].w;
    for (int d = 0; d < 8; d++) cnt[d][(w >> (8 * d)) & 255]++;
  }
  vs_pair *src = a, *dst = t;
  for (int d = 0; d < 8; d++) {
    size_t *c = cnt[d];
    if (c[(src[0].w >> (8 * d)) & 255] == n) continue; /* one value: the pass moves nothing */
    size_t sum = 0;
    for (int b = 0; b < 256; b++) {
      size_t k = c[b];
      c[b] = sum;
      sum += k;
    }
    for (size_t i = 0; i < n; i++) dst[c[(src[i].w >> (8 * d)) & 255]++] = src[i];
    vs_pair *x = src;
    src = dst;
    dst = x;
  }
  if (src != a) memcpy(a, src, n * sizeof *a);
}

typedef int (*vs_cmp)(const void *ctx, uint32_t a, uint32_t b);

#define VS_SMALL 16

static void vs_insertion(uint32_t *a, size_t n, vs_cmp cmp, const void *ctx) {
  for (size_t i = 1; i < n; i++) {
    uint32_t x = a[i];
    size_t j = i;
    while (j > 0 && cmp(ctx, a[j - 1], x) > 0) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = x;
  }
}

/* Sorts a[0..n) under cmp; t is scratch for n handles. */
static void vs_msort(uint32_t *a, uint32_t *t, size_t n, vs_cmp cmp, const void *ctx) {
  for (size_t i = 0; i < n; i += VS_SMALL) vs_insertion(a + i, n - i < VS_SMALL ? n - i : VS_SMALL, cmp, ctx);
  uint32_t *src = a, *dst = t;
  for (size_t w = VS_SMALL; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, k = lo;
      if (mid < hi && cmp(ctx, src[mid - 1], src[mid]) <= 0) { /* already in order */
        memcpy(dst + lo, src + lo, (hi - lo) * sizeof *src);
        continue;
      }
      while (i < mid && j < hi) dst[k++] = cmp(ctx, src[j], src[i]) < 0 ? src[j++] : src[i++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    uint32_t *x = src;
    src = dst;
    dst = x;
  }
  if (src != a) memcpy(a, src, n * sizeof *a);
}

#endif
