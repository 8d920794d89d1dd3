/* trace.c -- operation logs: load (and validate) a trace, replay it against
 * a rep, and write a synthetic one from a mix.
 *
 * Format (docs/bench.md): text, one operation per line, fields separated by
 * blanks; empty lines and lines starting with '#' are ignored.
 *   put <hexkey> <vlen>    add a new version with a vlen-byte value
 *   del <hexkey>           add a tombstone
 *   get <hexkey>           newest version of the key
 *   scan <hexkey> <n>      seek to the key, then read n entries
 * hexkey: 2..2*MAX_KEY hex digits (case-insensitive), i.e. 1..4096 key bytes.
 * Replay gives puts and dels sequence numbers 1, 2, 3... in file order.
 *
 * Thread safety: a loaded trace is read-only; any number of threads may
 * replay it.
 *
 * Invariants:
 *  1. Every key of a loaded trace decodes to 1..MAX_KEY bytes and lies
 *     inside keybuf at off[i], len[i].
 *  2. max_vlen bounds every put's value length.
 */
#define _POSIX_C_SOURCE 200809L
#include "wl_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#define MAX_KEY 4096
#define MAX_VLEN (16u << 20)

enum { OP_PUT, OP_DEL, OP_GET, OP_SCAN };

struct mtw_trace {
  uint8_t *op;
  uint32_t *len, *arg; /* key length; vlen (put) or n (scan) */
  uint64_t *off;
  uint8_t *keybuf;
  uint64_t n, cap, keybytes, keycap;
  uint32_t max_vlen;
};

void mtw_trace_free(mtw_trace *t) {
  if (!t) return;
  free(t->op);
  free(t->len);
  free(t->arg);
  free(t->off);
  free(t->keybuf);
  free(t);
}

uint64_t mtw_trace_ops(const mtw_trace *t) { return t->n; }

static bool grow(mtw_trace *t, size_t klen) {
  if (t->n == t->cap) {
    uint64_t c = t->cap ? t->cap * 2 : 1024;
    uint8_t *op = realloc(t->op, c);
    if (op) t->op = op;
    uint32_t *len = realloc(t->len, c * sizeof *len);
    if (len) t->len = len;
    uint32_t *arg = realloc(t->arg, c * sizeof *arg);
    if (arg) t->arg = arg;
    uint64_t *off = realloc(t->off, c * sizeof *off);
    if (off) t->off = off;
    if (!op || !len || !arg || !off) return false;
    t->cap = c;
  }
  if (t->keybytes + klen > t->keycap) {
    uint64_t c = t->keycap ? t->keycap * 2 : 65536;
    while (c < t->keybytes + klen) c *= 2;
    uint8_t *k = realloc(t->keybuf, c);
    if (!k) return false;
    t->keybuf = k;
    t->keycap = c;
  }
  return true;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parses one non-comment line into t; NULL or a static reason. */
static const char *parse_line(mtw_trace *t, char *line) {
  char *save = NULL, *op = strtok_r(line, " \t\r\n", &save);
  char *hex = strtok_r(NULL, " \t\r\n", &save), *num = strtok_r(NULL, " \t\r\n", &save);
  char *extra = strtok_r(NULL, " \t\r\n", &save);
  int kind;
  if (!strcmp(op, "put")) kind = OP_PUT;
  else if (!strcmp(op, "del")) kind = OP_DEL;
  else if (!strcmp(op, "get")) kind = OP_GET;
  else if (!strcmp(op, "scan")) kind = OP_SCAN;
  else return "unknown operation (put, del, get, scan)";
  bool wants_num = kind == OP_PUT || kind == OP_SCAN;
  if (!hex) return "missing <hexkey>";
  if (wants_num ? !num || extra : num != NULL) return wants_num ? "want 2 fields after the op"
                                                                : "want 1 field after the op";
  size_t hl = strlen(hex);
  if (hl % 2 || hl == 0 || hl / 2 > MAX_KEY) return "hexkey: want an even number of hex digits, 2..8192";
  unsigned long long arg = 0;
  if (wants_num) {
    char *end;
    errno = 0;
    arg = strtoull(num, &end, 10);
    if (errno || *end || num[0] == '-' || arg > MAX_VLEN) return "bad number (0..16777216)";
  }
  if (!grow(t, hl / 2)) return "out of memory";
  uint8_t *k = t->keybuf + t->keybytes;
  for (size_t j = 0; j < hl / 2; j++) {
    int hi = hexval(hex[2 * j]), lo = hexval(hex[2 * j + 1]);
    if (hi < 0 || lo < 0) return "hexkey: not a hex digit";
    k[j] = (uint8_t)(hi << 4 | lo);
  }
  t->op[t->n] = (uint8_t)kind;
  t->len[t->n] = (uint32_t)(hl / 2);
  t->off[t->n] = t->keybytes;
  t->arg[t->n] = (uint32_t)arg;
  if (kind == OP_PUT && arg > t->max_vlen) t->max_vlen = (uint32_t)arg;
  t->keybytes += hl / 2;
  t->n++;
  return NULL;
}

int mtw_trace_load(mtw_trace **out, const char *path, char *err, size_t cap) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, cap, "%s: %s", path, strerror(errno));
    return -1;
  }
  mtw_trace *t = calloc(1, sizeof *t);
  char *line = NULL;
  size_t lcap = 0;
  uint64_t lineno = 0;
  int rc = t ? 0 : -1;
  if (!t) snprintf(err, cap, "%s: out of memory", path);
  while (!rc && getline(&line, &lcap, f) >= 0) {
    lineno++;
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '#' || *p == '\n' || *p == '\r' || !*p) continue;
    const char *why = parse_line(t, p);
    if (why) {
      snprintf(err, cap, "%s:%llu: %s", path, (unsigned long long)lineno, why);
      rc = -1;
    }
  }
  if (!rc && ferror(f)) {
    snprintf(err, cap, "%s: read error", path);
    rc = -1;
  }
  if (!rc && t->n == 0) {
    snprintf(err, cap, "%s: no operations", path);
    rc = -1;
  }
  free(line);
  fclose(f);
  if (rc) {
    mtw_trace_free(t);
    return -1;
  }
  *out = t;
  return 0;
}

/* Replays the context's trace on a new memtable; an op is one trace line. */
int wl_trace(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  (void)w;
  if (!ctx->trace) {
    if (!ctx->cfg.trace) return wl_fail(out, "no trace given (--trace=FILE)");
    char err[256];
    if (mtw_trace_load(&ctx->trace, ctx->cfg.trace, err, sizeof err))
      return wl_fail(out, "%s", err);
  }
  const mtw_trace *t = ctx->trace;
  if (!wl_values_reserve(ctx, t->max_vlen)) return wl_fail(out, "out of memory");
  wl_drop_fixture(ctx);
  mt_memtable *m;
  mt_iter *it = NULL;
  if (wl_memtable(ctx, &m, out)) return -1;
  int rc = mt_iter_new(&it, m);
  if (rc != MT_OK) {
    mt_memtable_unref(m);
    return wl_fail_mt(out, "mt_iter_new", rc);
  }
  uint64_t seq = 0, gets = 0, found = 0, i = 0;
  double t0 = wl_now();
  for (; i < t->n; i++) {
    mt_slice key = wl_slice(t->keybuf + t->off[i], t->len[i]);
    switch (t->op[i]) {
    case OP_PUT:
      seq++;
      rc = mt_memtable_add(m, seq, MT_PUT, key, wl_slice(wl_value(ctx, seq), t->arg[i]));
      break;
    case OP_DEL:
      seq++;
      rc = mt_memtable_add(m, seq, MT_DELETE, key, wl_slice(NULL, 0));
      break;
    case OP_GET:
      gets++;
      found += mt_memtable_get(m, key, MT_SEQ_MAX, NULL, NULL) == MT_OK;
      break;
    default:
      mt_iter_seek(it, key);
      for (uint32_t k = 0; k < t->arg[i] && mt_iter_valid(it); k++) mt_iter_next(it);
      break;
    }
    if (rc != MT_OK) break;
    if (wl_capped(ctx, i, t0)) {
      i++;
      break;
    }
  }
  out->seconds = wl_now() - t0;
  out->ops = i;
  out->want = t->n;
  wl_set_bytes(out, m, seq);
  wl_counter(out, "entries", (double)seq);
  wl_counter(out, "get_hit_ratio", gets ? (double)found / (double)gets : 0);
  int irc = mt_iter_status(it);
  mt_iter_free(it);
  mt_memtable_unref(m);
  if (rc != MT_OK) return wl_fail_mt(out, "mt_memtable_add", rc);
  if (irc != MT_OK) return wl_fail_mt(out, "scan", irc);
  return 0;
}

static void put_hex(FILE *f, const uint8_t *k, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t j = 0; j < n; j++) {
    fputc(digits[k[j] >> 4], f);
    fputc(digits[k[j] & 15], f);
  }
}

int mtw_trace_write(const char *path, const mtw_config *c, char *err, size_t cap) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, cap, "%s: %s", path, strerror(errno));
    return -1;
  }
  uint32_t *pick = wl_picks(c->dist, c->zipf_theta, c->num, c->num, 0x55);
  uint8_t *key = malloc(c->key_size);
  if (!pick || !key) {
    free(pick);
    free(key);
    fclose(f);
    snprintf(err, cap, "out of memory");
    return -1;
  }
  fprintf(f, "# mtbench trace: %llu ops, mix read:%d,write:%d,scan:%d, %s keys\n",
          (unsigned long long)c->num, c->mix.read, c->mix.write, c->mix.scan,
          c->dist == MTW_ZIPF ? "zipfian" : c->dist == MTW_SEQ ? "sequential" : "uniform");
  for (uint64_t i = 0; i < c->num; i++) {
    wl_make_key(key, KEYS_RANDOM, pick[i], c->key_size, c->prefixes);
    int r = (int)(wl_mix(i ^ 0x6d6978ULL) % 100);
    const char *op = r < c->mix.read ? "get" : r < c->mix.read + c->mix.write ? "put" : "scan";
    fputs(op, f);
    fputc(' ', f);
    put_hex(f, key, c->key_size);
    if (op[0] == 'p') fprintf(f, " %zu", c->value_size);
    else if (op[0] == 's') fprintf(f, " %d", c->scan_len);
    fputc('\n', f);
  }
  free(pick);
  free(key);
  if (fclose(f)) {
    snprintf(err, cap, "%s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}
