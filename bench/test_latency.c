/* test_latency.c -- checks the latency recorders of latency.h: bucket
 * bounds (every value inside its bucket, buckets at most 1/32 wide),
 * percentiles of known inputs within the documented 1.6%, exact max, mean
 * and counts, the merge of recorders filled by several threads, the time
 * series (intervals, ops, p99, max), record_n, the NULL no-ops, that
 * every workload records one latency per op, and that a workload's time
 * series starts at its timed ops, not at an untimed load before them.
 * Also prints what recording costs per op on this machine (the overhead
 * quoted in docs/bench.md).
 * Prints "N passed, N failed".
 *
 * Thread safety: test_merge starts threads that each own one recorder of
 * one result; they are joined before the summary is read.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_check.h"
#include "wl_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>


static bool near(double got, double want, double rel) {
  return fabs(got - want) <= rel * want + 0.5;
}

static void test_buckets(void) {
  unsigned prev = 0;
  int bad_in = 0, bad_width = 0, bad_order = 0;
  for (uint64_t v = 0; v < (1ull << 41); v = v < 5000 ? v + 1 : v + v / 7 + 1) {
    unsigned b = wl_lat_bucket(v);
    uint64_t width, low = wl_lat_bucket_low(b, &width);
    if (v < (1ull << 40) && (v < low || v >= low + width)) bad_in++;
    if (v >= 64 && v < (1ull << 40) && width * 32 > low) bad_width++;
    if (b < prev) bad_order++;
    prev = b;
  }
  CHECK(bad_in == 0, "%d values outside their bucket", bad_in);
  CHECK(bad_width == 0, "%d buckets wider than 1/32 of their low end", bad_width);
  CHECK(bad_order == 0, "%d times a larger value had a smaller bucket", bad_order);
  CHECK(wl_lat_bucket(63) == 63 && wl_lat_bucket(64) == 64 && wl_lat_bucket(65) == 64 &&
            wl_lat_bucket(66) == 65,
        "0..63 exact, then 2-wide buckets from 64");
}

/* Values 1..n, each once, in a scrambled order: quantile q is q * n. */
static void test_known(void) {
  mtw_result r;
  memset(&r, 0, sizeof r);
  CHECK(mtw_lat_begin(&r, 10) == 0, "begin");
  wl_lat *l = wl_lat_open(&r);
  CHECK(l != NULL, "open");
  const uint64_t n = 100000;
  uint64_t base = wl_ns();
  for (uint64_t i = 0; i < n; i++) {
    uint64_t v = (i * 7919) % n + 1; /* 7919 is prime: a permutation of 1..n */
    wl_lat_record(l, WL_OP_READ, base, base + v);
  }
  wl_lat_record(l, WL_OP_INSERT, base, base + 5000);
  mtw_lat_summary s;
  CHECK(mtw_lat_summarize(&r, &s) == 0, "summarize");
  const mtw_lat_stats *st = &s.op[WL_OP_READ];
  CHECK(st->count == n, "count %llu", (unsigned long long)st->count);
  CHECK(near(st->mean, (n + 1) / 2.0, 1e-9), "mean %.3f", st->mean);
  for (int q = 0; q < MTW_LAT_NQ - 1; q++)
    CHECK(near(st->q[q], mtw_lat_q[q] * (double)n, 1.0 / 64), "%s: %.1f want %.1f",
          mtw_lat_qname[q], st->q[q], mtw_lat_q[q] * (double)n);
  CHECK(st->q[MTW_LAT_NQ - 1] == (double)n, "max %.0f", st->q[MTW_LAT_NQ - 1]);
  CHECK(s.op[WL_OP_INSERT].count == 1 && s.op[WL_OP_INSERT].q[0] == 5000 &&
            s.op[WL_OP_INSERT].q[5] == 5000,
        "one insert of 5000 ns: p50 %.0f max %.0f", s.op[WL_OP_INSERT].q[0],
        s.op[WL_OP_INSERT].q[5]);
  CHECK(s.all.count == n + 1 && s.op[WL_OP_SCAN].count == 0, "all merges every op");
  mtw_lat_summary_free(&s);
  mtw_result_free(&r);
  CHECK(r.lat == NULL, "freed");
}

typedef struct merge_arg {
  mtw_result *r;
  uint64_t from, to, base;
  pthread_t tid;
} merge_arg;

static void *merge_thread(void *p) {
  merge_arg *a = p;
  wl_lat *l = wl_lat_open(a->r);
  for (uint64_t v = a->from; v < a->to; v++) wl_lat_record(l, WL_OP_UPDATE, a->base, a->base + v);
  return NULL;
}

/* Four threads record a quarter of 1..n each; the summary equals one
 * recorder's over all of them. */
static void test_merge(void) {
  const uint64_t n = 40000;
  mtw_result one, four;
  memset(&one, 0, sizeof one);
  memset(&four, 0, sizeof four);
  mtw_lat_begin(&one, 10);
  mtw_lat_begin(&four, 10);
  uint64_t base = wl_ns();
  wl_lat *l = wl_lat_open(&one);
  for (uint64_t v = 1; v <= n; v++) wl_lat_record(l, WL_OP_UPDATE, base, base + v);
  merge_arg a[4];
  for (int t = 0; t < 4; t++) {
    a[t] = (merge_arg){&four, 1 + (uint64_t)t * n / 4, 1 + (uint64_t)(t + 1) * n / 4, base, 0};
    pthread_create(&a[t].tid, NULL, merge_thread, &a[t]);
  }
  for (int t = 0; t < 4; t++) pthread_join(a[t].tid, NULL);
  mtw_lat_summary s1, s4;
  CHECK(mtw_lat_summarize(&one, &s1) == 0 && mtw_lat_summarize(&four, &s4) == 0, "summaries");
  CHECK(s4.op[WL_OP_UPDATE].count == n, "merged count %llu",
        (unsigned long long)s4.op[WL_OP_UPDATE].count);
  for (int q = 0; q < MTW_LAT_NQ; q++)
    CHECK(s1.op[WL_OP_UPDATE].q[q] == s4.op[WL_OP_UPDATE].q[q], "%s: one %.1f, merged %.1f",
          mtw_lat_qname[q], s1.op[WL_OP_UPDATE].q[q], s4.op[WL_OP_UPDATE].q[q]);
  CHECK(s1.op[WL_OP_UPDATE].mean == s4.op[WL_OP_UPDATE].mean, "means");
  mtw_lat_summary_free(&s1);
  mtw_lat_summary_free(&s4);
  mtw_result_free(&one);
  mtw_result_free(&four);
}

/* Ops whose ends fall in intervals 0, 2 and 5 (none in 1, 3, 4); interval
 * 2 holds 99 fast ops and one slow one, recorded by two recorders. */
static void test_timeseries(void) {
  mtw_result r;
  memset(&r, 0, sizeof r);
  mtw_lat_begin(&r, 10);
  wl_lat *a = wl_lat_open(&r), *b = wl_lat_open(&r);
  uint64_t t0 = wl_ns(); /* >= the set's t0, by less than an interval */
  const uint64_t ms = 1000000;
  for (int i = 0; i < 10; i++) wl_lat_record(a, WL_OP_INSERT, t0, t0 + 1 * ms); /* 1 ms each */
  for (int i = 0; i < 99; i++) wl_lat_record(a, WL_OP_READ, t0 + 20 * ms, t0 + 21 * ms + 200);
  wl_lat_record(b, WL_OP_READ, t0 + 17 * ms, t0 + 21 * ms); /* 4 ms */
  wl_lat_record_n(b, WL_OP_SCAN, t0 + 50 * ms, t0 + 50 * ms + 6400, 64);
  mtw_lat_summary s;
  CHECK(mtw_lat_summarize(&r, &s) == 0, "summarize");
  CHECK(s.npoints == 3, "%zu points, want 3 (intervals 0, 2 and 5)", s.npoints);
  if (s.npoints == 3) {
    CHECK(s.points[0].t_ms == 0 && s.points[0].op == WL_OP_INSERT && s.points[0].ops == 10,
          "interval 0: t %u op %d ops %llu", s.points[0].t_ms, s.points[0].op,
          (unsigned long long)s.points[0].ops);
    CHECK(near(s.points[0].p99, 1e6, 1.0 / 64) && s.points[0].max == 1e6, "p99 %.0f max %.0f",
          s.points[0].p99, s.points[0].max);
    CHECK(s.points[1].t_ms == 20 && s.points[1].op == WL_OP_READ && s.points[1].ops == 100,
          "interval 2: t %u ops %llu", s.points[1].t_ms, (unsigned long long)s.points[1].ops);
    CHECK(near(s.points[1].p50, 1e6 + 200, 1.0 / 64) && s.points[1].max == 4e6 &&
              near(s.points[1].p99, 1e6 + 200, 1.0 / 64),
          "interval 2 merged: p50 %.0f p99 %.0f max %.0f", s.points[1].p50, s.points[1].p99,
          s.points[1].max);
    CHECK(s.points[2].t_ms == 50 && s.points[2].op == WL_OP_SCAN && s.points[2].ops == 64 &&
              s.points[2].max == 100,
          "record_n: t %u ops %llu max %.0f", s.points[2].t_ms,
          (unsigned long long)s.points[2].ops, s.points[2].max);
  }
  CHECK(s.op[WL_OP_SCAN].count == 64 && s.op[WL_OP_SCAN].q[0] == 100, "record_n: 64 x 100 ns");
  CHECK(s.op[WL_OP_READ].q[5] == 4e6, "read max %.0f", s.op[WL_OP_READ].q[5]);
  mtw_lat_summary_free(&s);
  mtw_result_free(&r);
}

static void test_off(void) {
  wl_lat_record(NULL, WL_OP_READ, 1, 2); /* no-ops, no crash */
  wl_lat_record_n(NULL, WL_OP_READ, 1, 2, 3);
  mtw_result r;
  memset(&r, 0, sizeof r);
  CHECK(wl_lat_open(&r) == NULL, "no set: no recorder");
  CHECK(wl_lat_now(NULL) == 0, "no recorder: no clock read");
  mtw_lat_summary s;
  CHECK(mtw_lat_summarize(&r, &s) == -1, "nothing recorded");
  mtw_result_free(&r);
  /* a recorder that recorded nothing: -1 and nothing allocated */
  mtw_lat_begin(&r, 10);
  CHECK(wl_lat_open(&r) != NULL, "a recorder");
  CHECK(mtw_lat_summarize(&r, &s) == -1 && s.points == NULL, "opened, nothing recorded");
  mtw_result_free(&r);
  /* cfg.no_latency: mtw_run gives no set */
  mtw_config c;
  mtw_config_default(&c);
  c.num = 1000;
  c.no_latency = 1;
  mtw_ctx *ctx;
  char err[256];
  if (mtw_ctx_new(&ctx, NULL, &c, err, sizeof err) == 0) {
    CHECK(mtw_run(ctx, mtw_find("fillrandom"), &r) == 0 && r.lat == NULL, "no_latency");
    mtw_result_free(&r);
    mtw_ctx_free(ctx);
  }
}

/* Every workload (but the trace replay) records at least one latency per
 * op it counts.  A workload with an untimed load (YCSB, deleteheavy: the
 * load_ops/s counter) opens its recorder after the load, so its time series
 * starts at the timed ops: with 1 ms intervals the first point is well
 * inside the load's length (an N = 20000 load takes 10-40 ms here). */
static void test_every_workload(void) {
  mtw_config c;
  mtw_config_default(&c);
  c.num = 20000;
  c.interval_ms = 1;
  mtw_ctx *ctx;
  char err[256];
  if (mtw_ctx_new(&ctx, NULL, &c, err, sizeof err)) {
    CHECK(0, "%s", err);
    return;
  }
  size_t n, loads = 0;
  const mtw_workload *w = mtw_workloads(&n);
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(w[i].group, "trace")) continue;
    mtw_result r;
    mtw_lat_summary s;
    int rc = mtw_run(ctx, &w[i], &r);
    bool got = rc == 0 && mtw_lat_summarize(&r, &s) == 0;
    CHECK(got && s.all.count >= r.ops && s.npoints > 0, "%s: %llu latencies for %llu ops",
          w[i].name, got ? (unsigned long long)s.all.count : 0ull, (unsigned long long)r.ops);
    double load_rate = 0;
    for (int k = 0; k < r.ncounters; k++)
      if (!strcmp(r.counters[k].name, "load_ops/s")) load_rate = r.counters[k].value;
    if (got && load_rate > 0) {
      double load_ms = (double)c.num / load_rate * 1e3;
      loads++;
      CHECK(s.points[0].t_ms <= load_ms / 2, "%s: first time series point at %u ms, load took "
            "%.1f ms", w[i].name, s.points[0].t_ms, load_ms);
    }
    if (got) mtw_lat_summary_free(&s);
    mtw_result_free(&r);
  }
  CHECK(loads >= 7, "%zu workloads with a timed-apart load (ycsb-a..f, deleteheavy)", loads);
  mtw_ctx_free(ctx);
}

/* What recording costs per op: a workload's timing loop with no
 * recorder, with the clock reads only, and with clock reads + records. */
static void report_overhead(void) {
  mtw_result r;
  memset(&r, 0, sizeof r);
  mtw_lat_begin(&r, 10);
  wl_lat *l = wl_lat_open(&r);
  const int n = 5000000;
  volatile uint64_t sink = 0;
  static const char *const what[3] = {"off", "clock reads only", "on"};
  for (int pass = 0; pass < 3; pass++) {
    wl_lat *lat = pass ? l : NULL;
    uint64_t start = wl_ns(), t = wl_lat_now(lat);
    for (int i = 0; i < n; i++) {
      sink += (uint64_t)i;
      uint64_t e = wl_lat_now(lat);
      if (pass == 2) wl_lat_record(lat, WL_OP_READ, t, e);
      else sink += e - t;
      t = e;
    }
    printf("latency recording %s: %.1f ns per op\n", what[pass],
           (double)(wl_ns() - start) / n);
  }
  mtw_result_free(&r);
}

int main(void) {
  test_buckets();
  test_known();
  test_merge();
  test_timeseries();
  test_off();
  test_every_workload();
  report_overhead();
  return test_check_report();
}
