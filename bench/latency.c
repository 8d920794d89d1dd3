/* latency.c -- the per-thread latency recorders of latency.h and their
 * merge: total histograms per op type and a sparse time series of
 * interval histograms.
 *
 * Thread safety: see latency.h.  The set's mutex guards only its recorder
 * list and its t0 (written once, by the first open); a recorder is written
 * by one thread and read by the harness after that thread was joined.
 *
 * Invariants (besides latency.h's):
 *  1. ihist[op][b] != 0 only for op in imask and ilo[op] <= b <= ihi[op];
 *     flush() zeroes exactly that range, so the interval histogram is all
 *     zero between intervals.
 *  2. heads[i].off + heads[i].n <= nbkts, and the buckets of one head are
 *     in increasing bucket order.
 *  3. A recorder that ran out of memory while flushing sets lost; its
 *     totals stay exact, its time series misses those intervals (the
 *     summary says so through mtw_lat_summary.npoints only -- documented).
 */
#define _POSIX_C_SOURCE 200809L
#include "latency.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SUB_BITS 5                   /* 32 linear sub-buckets per octave */
#define EXACT (2u << SUB_BITS)       /* values below are their own bucket */
#define MAX_BITS 40                  /* values >= 2^40 ns share the last bucket */
/* the top bucket: msb MAX_BITS - 1, e = msb - SUB_BITS, sub-bucket 63 */
#define NBUCKETS (((MAX_BITS - 1 - SUB_BITS) << SUB_BITS) + EXACT)

typedef struct iv_head { /* one op's histogram in one interval */
  uint32_t interval;
  uint8_t op;
  uint32_t n;    /* buckets */
  uint64_t off;  /* into bkts */
  uint64_t max;  /* ns */
} iv_head;

typedef struct iv_bucket {
  uint16_t b;
  uint32_t count;
} iv_bucket;

struct wl_lat {
  struct wl_lat *next;
  uint64_t t0, iv_ns;
  uint64_t count[WL_OP_KINDS], sum[WL_OP_KINDS], min[WL_OP_KINDS], max[WL_OP_KINDS];
  uint64_t hist[WL_OP_KINDS][NBUCKETS];
  /* the current interval */
  uint64_t cur, cur_end;
  unsigned imask;
  uint16_t ilo[WL_OP_KINDS], ihi[WL_OP_KINDS];
  uint64_t imax[WL_OP_KINDS];
  uint32_t ihist[WL_OP_KINDS][NBUCKETS];
  /* flushed intervals */
  iv_head *heads;
  size_t nheads, capheads;
  iv_bucket *bkts;
  size_t nbkts, capbkts;
  bool lost;
};

typedef struct wl_lat_set {
  pthread_mutex_t mu;
  wl_lat *head;
  uint64_t t0; /* 0 until the first open */
  uint64_t iv_ns;
  uint32_t interval_ms;
} wl_lat_set;

const double mtw_lat_q[MTW_LAT_NQ] = {0.5, 0.9, 0.99, 0.999, 0.9999, 1.0};
const char *const mtw_lat_qname[MTW_LAT_NQ] = {"p50", "p90", "p99", "p99.9", "p99.99", "max"};

const char *wl_op_name(wl_op op) {
  static const char *const names[WL_OP_KINDS] = {"insert", "read", "update",
                                                 "delete", "scan", "rmw"};
  return (unsigned)op < WL_OP_KINDS ? names[op] : "?";
}

unsigned wl_lat_bucket(uint64_t v) {
  if (v < EXACT) return (unsigned)v;
  if (v >> MAX_BITS) return NBUCKETS - 1;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned e = msb - SUB_BITS;          /* >= 1: v >> e is in [32, 64) */
  return (e << SUB_BITS) + (unsigned)(v >> e);
}

uint64_t wl_lat_bucket_low(unsigned b, uint64_t *width) {
  if (b < EXACT) {
    *width = 1;
    return b;
  }
  unsigned e = (b >> SUB_BITS) - 1;
  uint64_t sub = b - (e << SUB_BITS);
  *width = (uint64_t)1 << e;
  return sub << e;
}

/* ---- recording ---------------------------------------------------------------- */

int mtw_lat_begin(mtw_result *out, uint32_t interval_ms) {
  wl_lat_set *s = calloc(1, sizeof *s);
  if (!s || pthread_mutex_init(&s->mu, NULL)) {
    free(s);
    out->lat = NULL;
    return -1;
  }
  s->interval_ms = interval_ms ? interval_ms : 10;
  s->iv_ns = (uint64_t)s->interval_ms * 1000000u;
  out->lat = s;
  return 0;
}

wl_lat *wl_lat_open(mtw_result *out) {
  wl_lat_set *s = out ? out->lat : NULL;
  if (!s) return NULL;
  wl_lat *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  for (int op = 0; op < WL_OP_KINDS; op++) l->min[op] = UINT64_MAX;
  pthread_mutex_lock(&s->mu);
  if (!s->t0) s->t0 = wl_ns();
  l->t0 = s->t0;
  l->next = s->head;
  s->head = l;
  pthread_mutex_unlock(&s->mu);
  l->iv_ns = s->iv_ns;
  l->cur = 0;
  l->cur_end = l->t0 + l->iv_ns;
  return l;
}

static bool reserve(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap * 2 : 256;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return false;
  *p = q;
  *cap = c;
  return true;
}

/* Moves the current interval's histograms into heads/bkts and zeroes them. */
static void flush(wl_lat *l) {
  for (unsigned op = 0; l->imask; op++) {
    if (!(l->imask & (1u << op))) continue;
    l->imask &= ~(1u << op);
    uint32_t *h = l->ihist[op];
    unsigned lo = l->ilo[op], hi = l->ihi[op];
    bool ok = !l->lost &&
              reserve((void **)&l->heads, &l->capheads, l->nheads + 1, sizeof *l->heads) &&
              reserve((void **)&l->bkts, &l->capbkts, l->nbkts + (hi - lo + 1), sizeof *l->bkts);
    if (!ok) l->lost = true;
    iv_head *hd = ok ? &l->heads[l->nheads++] : NULL;
    if (hd) *hd = (iv_head){(uint32_t)l->cur, (uint8_t)op, 0, l->nbkts, l->imax[op]};
    for (unsigned b = lo; b <= hi; b++) {
      if (!h[b]) continue;
      if (hd) {
        l->bkts[l->nbkts++] = (iv_bucket){(uint16_t)b, h[b]};
        hd->n++;
      }
      h[b] = 0;
    }
    l->imax[op] = 0;
  }
}

static void advance(wl_lat *l, uint64_t end_ns) {
  flush(l);
  l->cur = (end_ns - l->t0) / l->iv_ns;
  l->cur_end = l->t0 + (l->cur + 1) * l->iv_ns;
}

static inline void put(wl_lat *l, unsigned op, uint64_t v, uint64_t n, uint64_t end_ns) {
  unsigned b = wl_lat_bucket(v);
  l->count[op] += n;
  l->hist[op][b] += n;
  if (v > l->max[op]) l->max[op] = v;
  if (v < l->min[op]) l->min[op] = v;
  if (end_ns >= l->cur_end) advance(l, end_ns);
  unsigned bit = 1u << op;
  if (!(l->imask & bit)) {
    l->imask |= bit;
    l->ilo[op] = l->ihi[op] = (uint16_t)b;
  } else if (b < l->ilo[op]) {
    l->ilo[op] = (uint16_t)b;
  } else if (b > l->ihi[op]) {
    l->ihi[op] = (uint16_t)b;
  }
  l->ihist[op][b] += (uint32_t)n;
  if (v > l->imax[op]) l->imax[op] = v;
}

void wl_lat_record(wl_lat *l, wl_op op, uint64_t start_ns, uint64_t end_ns) {
  if (!l || (unsigned)op >= WL_OP_KINDS) return;
  uint64_t v = end_ns > start_ns ? end_ns - start_ns : 0;
  l->sum[op] += v;
  put(l, (unsigned)op, v, 1, end_ns);
}

void wl_lat_record_n(wl_lat *l, wl_op op, uint64_t start_ns, uint64_t end_ns, uint64_t n) {
  if (!l || !n || (unsigned)op >= WL_OP_KINDS) return;
  uint64_t v = end_ns > start_ns ? end_ns - start_ns : 0;
  l->sum[op] += v;
  put(l, (unsigned)op, v / n, n, end_ns);
}

void mtw_result_free(mtw_result *out) {
  wl_lat_set *s = out ? out->lat : NULL;
  if (!s) return;
  for (wl_lat *l = s->head, *next; l; l = next) {
    next = l->next;
    free(l->heads);
    free(l->bkts);
    free(l);
  }
  pthread_mutex_destroy(&s->mu);
  free(s);
  out->lat = NULL;
}

/* ---- merging ------------------------------------------------------------------ */

/* The q-quantile of a dense histogram of count values within [mn, mx]. */
static double quantile(const uint64_t *h, uint64_t count, double q, uint64_t mn, uint64_t mx) {
  if (!count) return 0;
  if (q >= 1.0) return (double)mx;
  uint64_t rank = (uint64_t)ceil(q * (double)count), c = 0;
  if (rank < 1) rank = 1;
  for (unsigned b = 0; b < NBUCKETS; b++) {
    c += h[b];
    if (c < rank) continue;
    uint64_t width, low = wl_lat_bucket_low(b, &width);
    double mid = (double)low + (double)(width - 1) / 2.0;
    if (mid < (double)mn) mid = (double)mn;
    if (mid > (double)mx) mid = (double)mx;
    return mid;
  }
  return (double)mx;
}

static void stats_of(const uint64_t *h, uint64_t count, uint64_t sum, uint64_t mn, uint64_t mx,
                     mtw_lat_stats *st) {
  st->count = count;
  st->mean = count ? (double)sum / (double)count : 0;
  for (int i = 0; i < MTW_LAT_NQ; i++) st->q[i] = quantile(h, count, mtw_lat_q[i], mn, mx);
}

typedef struct head_ref {
  const wl_lat *l;
  const iv_head *h;
} head_ref;

static int cmp_head(const void *a, const void *b) {
  const iv_head *x = ((const head_ref *)a)->h, *y = ((const head_ref *)b)->h;
  if (x->interval != y->interval) return x->interval < y->interval ? -1 : 1;
  return (x->op > y->op) - (x->op < y->op);
}

int mtw_lat_summarize(mtw_result *r, mtw_lat_summary *s) {
  memset(s, 0, sizeof *s);
  wl_lat_set *set = r ? r->lat : NULL;
  if (!set || !set->head) return -1;
  s->interval_ms = set->interval_ms;
  uint64_t *h = calloc(NBUCKETS, sizeof *h), *all = calloc(NBUCKETS, sizeof *all);
  size_t nh = 0;
  for (wl_lat *l = set->head; l; l = l->next) {
    flush(l); /* the last interval */
    nh += l->nheads;
  }
  head_ref *refs = calloc(nh ? nh : 1, sizeof *refs);
  if (!h || !all || !refs) {
    free(h);
    free(all);
    free(refs);
    return -1;
  }
  uint64_t acount = 0, asum = 0, amin = UINT64_MAX, amax = 0;
  bool any = false;
  for (unsigned op = 0; op < WL_OP_KINDS; op++) {
    uint64_t count = 0, sum = 0, mn = UINT64_MAX, mx = 0;
    memset(h, 0, NBUCKETS * sizeof *h);
    for (const wl_lat *l = set->head; l; l = l->next) {
      if (!l->count[op]) continue;
      for (unsigned b = 0; b < NBUCKETS; b++) h[b] += l->hist[op][b];
      count += l->count[op];
      sum += l->sum[op];
      if (l->min[op] < mn) mn = l->min[op];
      if (l->max[op] > mx) mx = l->max[op];
    }
    if (!count) continue;
    any = true;
    stats_of(h, count, sum, mn, mx, &s->op[op]);
    for (unsigned b = 0; b < NBUCKETS; b++) all[b] += h[b];
    acount += count;
    asum += sum;
    if (mn < amin) amin = mn;
    if (mx > amax) amax = mx;
  }
  if (!any) { /* recorders opened, nothing recorded: no summary to free */
    free(h);
    free(all);
    free(refs);
    return -1;
  }
  stats_of(all, acount, asum, amin, amax, &s->all);
  /* the time series: every recorder's flushed intervals, merged by (interval, op) */
  size_t k = 0;
  for (const wl_lat *l = set->head; l; l = l->next)
    for (size_t i = 0; i < l->nheads; i++) refs[k++] = (head_ref){l, &l->heads[i]};
  qsort(refs, nh, sizeof *refs, cmp_head);
  size_t npts = 0;
  for (size_t i = 0; i < nh; i++)
    npts += i == 0 || cmp_head(&refs[i - 1], &refs[i]) != 0;
  s->points = calloc(npts ? npts : 1, sizeof *s->points);
  if (!s->points) {
    free(h);
    free(all);
    free(refs);
    return -1;
  }
  memset(h, 0, NBUCKETS * sizeof *h);
  for (size_t i = 0; i < nh;) {
    size_t j = i;
    uint64_t ops = 0, mx = 0;
    for (; j < nh && cmp_head(&refs[i], &refs[j]) == 0; j++) {
      const iv_head *hd = refs[j].h;
      const iv_bucket *bk = refs[j].l->bkts + hd->off;
      for (uint32_t x = 0; x < hd->n; x++) {
        h[bk[x].b] += bk[x].count;
        ops += bk[x].count;
      }
      if (hd->max > mx) mx = hd->max;
    }
    mtw_lat_point *p = &s->points[s->npoints++];
    p->t_ms = refs[i].h->interval * set->interval_ms;
    p->op = refs[i].h->op;
    p->ops = ops;
    p->p50 = quantile(h, ops, 0.5, 0, mx);
    p->p99 = quantile(h, ops, 0.99, 0, mx);
    p->max = (double)mx;
    memset(h, 0, NBUCKETS * sizeof *h);
    i = j;
  }
  free(h);
  free(all);
  free(refs);
  return 0;
}

void mtw_lat_summary_free(mtw_lat_summary *s) {
  free(s->points);
  s->points = NULL;
  s->npoints = 0;
}
