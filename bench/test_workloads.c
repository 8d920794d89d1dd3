/* test_workloads.c -- checks that the workloads generate the standard
 * workload's exact keys and values (golden bytes taken from
 * shared/anchors/workload.h, which the project does not include), that the
 * key pickers and the zipfian skew behave, and that mix specs and trace
 * files are parsed and rejected as documented.  Prints "N passed, N failed".
 *
 * Thread safety: single-threaded.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_check.h"
#include "wl_internal.h"

#include <stdlib.h>
#include <unistd.h>


static void hex(char *out, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static void check_key(int kind, uint64_t i, const char *want) {
  uint8_t k[16];
  char got[33];
  wl_make_key(k, kind, i, 16, 10000);
  hex(got, k, 16);
  CHECK(!strcmp(got, want), "kind %d key %llu: got %s want %s", kind, (unsigned long long)i,
        got, want);
}

static void test_keys_and_values(void) {
  check_key(KEYS_RANDOM, 0, "0000000000001d6f6fe1c3c3f47be772");
  check_key(KEYS_RANDOM, 1, "00000000000009a11045a7fb10b3fc77");
  check_key(KEYS_RANDOM, 999999, "00000000000007cda5aec32d543c878d");
  check_key(KEYS_MISSING, 7, "00000000000011874be1fae947721662");
  check_key(KEYS_SEQ, 5, "00000000000000000000000000000005");
  uint8_t k64[64], k16[16];
  wl_make_key(k64, KEYS_RANDOM, 42, 64, 10000);
  wl_make_key(k16, KEYS_RANDOM, 42, 16, 10000);
  CHECK(!memcmp(k64, k16, 16), "a 64-byte key starts with the 16-byte key");

  mtw_config c;
  mtw_config_default(&c);
  c.num = 1000;
  mtw_ctx *ctx;
  char err[256];
  CHECK(mtw_ctx_new(&ctx, "skiplist", &c, err, sizeof err) == 0, "%s", err);
  if (ctx) {
    CHECK(!memcmp(wl_value(ctx, 3), "jklmnopqrstu", 12), "value 3 is the anchors' value 3");
    mtw_ctx_free(ctx);
  }
  CHECK(mtw_ctx_new(&ctx, "no_such_rep", &c, err, sizeof err) != 0 && strstr(err, "no_such_rep"),
        "an unknown rep fails with its name: %s", err);
}

static void test_picks(void) {
  uint32_t *p = wl_picks(MTW_UNIFORM, 0, 1, 1000000, 7);
  CHECK(p && p[0] == 374487, "readrandom's first pick is mix(7) %% N (got %u)", p ? p[0] : 0);
  free(p);
  enum { N = 100000 };
  static uint32_t count[N];
  for (int d = 0; d < 2; d++) {
    memset(count, 0, sizeof count);
    p = wl_picks(d ? MTW_ZIPF : MTW_UNIFORM, 0.99, N, N, 1);
    uint32_t top = 0;
    for (int i = 0; i < N && p; i++) {
      if (p[i] >= N) {
        CHECK(0, "pick %u out of range", p[i]);
        break;
      }
      if (++count[p[i]] > top) top = count[p[i]];
    }
    free(p);
    if (d) CHECK(top > N / 25, "zipf 0.99: the hottest key gets > 4%% of picks (got %u)", top);
    else CHECK(top < N / 1000, "uniform: no key gets 0.1%% of picks (got %u)", top);
  }
  p = wl_picks(MTW_SEQ, 0, 10, 4, 0);
  CHECK(p && p[0] == 0 && p[3] == 3 && p[4] == 0 && p[9] == 1, "seq picks cycle in order");
  free(p);
}

static void test_mix(void) {
  mtw_mix m;
  char err[256];
  CHECK(mtw_parse_mix("read:70,write:25,scan:5", &m, err, sizeof err) == 0 && m.read == 70 &&
            m.write == 25 && m.scan == 5,
        "parse the default mix");
  CHECK(mtw_parse_mix("write:100", &m, err, sizeof err) == 0 && m.read == 0 && m.write == 100,
        "missing kinds are 0");
  CHECK(mtw_parse_mix("read:70,write:20", &m, err, sizeof err) != 0 && strstr(err, "90"),
        "a mix must sum to 100: %s", err);
  CHECK(mtw_parse_mix("read:70,frob:30", &m, err, sizeof err) != 0 && strstr(err, "frob"),
        "unknown kinds are named: %s", err);
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

static void test_trace(void) {
  char path[] = "/tmp/mtbench_test_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0, "mkstemp");
  if (fd < 0) return;
  close(fd);
  mtw_trace *t;
  char err[512];
  write_file(path, "# comment\n\nput 00ff10 100\nget 00FF10\n  scan 00 5\ndel 00ff10\n");
  CHECK(mtw_trace_load(&t, path, err, sizeof err) == 0 && mtw_trace_ops(t) == 4, "%s", err);
  mtw_trace_free(t);
  const char *bad[][2] = {{"put 0a1 5\n", ":1: hexkey"},
                          {"get 0a\nfrob 0a\n", ":2: unknown operation"},
                          {"put 0a\n", ":1: want 2 fields"},
                          {"get 0a 7\n", ":1: want 1 field"},
                          {"scan 0a -1\n", ":1: bad number"},
                          {"get zz\n", ":1: hexkey: not a hex digit"},
                          {"# nothing\n", "no operations"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file(path, bad[i][0]);
    err[0] = 0;
    CHECK(mtw_trace_load(&t, path, err, sizeof err) != 0 && strstr(err, bad[i][1]),
          "trace \"%s\" rejected with \"%s\": got \"%s\"", bad[i][0], bad[i][1], err);
  }
  /* a written trace loads back with the asked number of ops, and replays */
  mtw_config c;
  mtw_config_default(&c);
  c.num = 500;
  CHECK(mtw_trace_write(path, &c, err, sizeof err) == 0, "%s", err);
  CHECK(mtw_trace_load(&t, path, err, sizeof err) == 0 && mtw_trace_ops(t) == 500, "%s", err);
  mtw_trace_free(t);
  c.trace = path;
  mtw_ctx *ctx;
  if (mtw_ctx_new(&ctx, "skiplist", &c, err, sizeof err) == 0) {
    mtw_result r;
    CHECK(mtw_run(ctx, mtw_find("trace"), &r) == 0 && r.ops == 500, "replay: %s", r.error);
    mtw_result_free(&r);
    mtw_ctx_free(ctx);
  }
  unlink(path);
}

/* Every workload runs clean on the default rep at a small N. */
static void test_every_workload(void) {
  mtw_config c;
  mtw_config_default(&c);
  c.num = 3000;
  mtw_ctx *ctx;
  char err[256];
  if (mtw_ctx_new(&ctx, NULL, &c, err, sizeof err)) {
    CHECK(0, "%s", err);
    return;
  }
  size_t n;
  const mtw_workload *w = mtw_workloads(&n);
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(w[i].group, "trace")) continue;
    mtw_result r;
    int rc = mtw_run(ctx, &w[i], &r);
    CHECK(rc == 0 && r.ops > 0 && r.ops == r.want && r.seconds > 0, "%s: %s", w[i].name,
          r.error);
    mtw_result_free(&r);
  }
  mtw_ctx_free(ctx);
  /* --anchor-gen fills make the same keys: the reads that follow find them */
  c.anchor_gen = 1;
  if (mtw_ctx_new(&ctx, NULL, &c, err, sizeof err)) return;
  const char *names[] = {"fillseq", "fillrandom_Nthreads", "fillrandom", "readrandom"};
  for (size_t i = 0; i < 4; i++) {
    mtw_result r;
    int rc = mtw_run(ctx, mtw_find(names[i]), &r);
    CHECK(rc == 0 && r.ops == r.want, "anchor-gen %s: %s", names[i], r.error);
    mtw_result_free(&r);
  }
  mtw_ctx_free(ctx);
}

int main(void) {
  test_keys_and_values();
  test_picks();
  test_mix();
  test_trace();
  test_every_workload();
  return test_check_report();
}
