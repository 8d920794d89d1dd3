/* trace.c -- operation logs: load (and validate) a trace, replay it against
 * a rep, and write a synthetic one from a mix.
 *
 * Two formats (docs/bench.md), told apart by the first operation of the
 * file; both are text, one operation per line, fields separated by blanks;
 * empty lines and lines starting with '#' are ignored.
 * mtbench's own:
 *   put <hexkey> <vlen>    add a new version with a vlen-byte value
 *   del <hexkey>           add a tombstone
 *   get <hexkey>           newest version of the key
 *   scan <hexkey> <n>      seek to the key, then read n entries
 * hexkey: 2..2*MAX_KEY hex digits (case-insensitive), i.e. 1..4096 key bytes.
 * The Brandeis SSD lab's LSMMemoryProfiling harness (its workload.txt, made
 * by KV-WorkloadGenerator's load_gen; read as its run_workload.cc reads it):
 *   I <key> <value>        insert: add a version with that value
 *   U <key> <value>        update: the same
 *   D <key>                point delete: add a tombstone
 *   Q <key>  (or P <key>)  point query: newest version of the key
 *   S <start> <end>        range scan: seek to start, read while key < end
 *   SC <start> <count>     scan count entries from the first key >= start
 * keys and values are the tokens' bytes as they stand (1..4096-byte keys,
 * values up to 16 MiB); R (range delete) and M (merge) have no memtable
 * operation and are rejected.
 * Replay gives puts and dels sequence numbers 1, 2, 3... in file order.
 *
 * Every get's answer on a fresh memtable follows from the trace itself: the
 * loader tracks each key's last write (a hash set over the key bytes) and
 * stores the status the get must return; the replay checks it.
 *
 * Thread safety: a loaded trace is read-only; any number of threads may
 * replay it.
 *
 * Invariants:
 *  1. Every key of a loaded trace is 1..MAX_KEY bytes and lies inside
 *     keybuf at off[i], len[i]; a lab put's value (arg[i] bytes) and a
 *     range's end key (arg[i] bytes) follow it there.
 *  2. max_vlen bounds every mtbench-format put's value length.
 *  3. arg[i] of a get is MT_OK, MT_DELETED or MT_NOTFOUND: what the get
 *     must return after ops 0..i-1 on an empty memtable.
 */
#define _POSIX_C_SOURCE 200809L
#include "wl_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#define MAX_KEY 4096
#define MAX_VLEN (16u << 20)

enum { OP_PUT, OP_DEL, OP_GET, OP_SCAN, OP_RANGE, OP_COUNT };
enum { FMT_UNKNOWN, FMT_MTBENCH, FMT_LAB };

struct mtw_trace {
  uint8_t *op;
  uint32_t *len, *arg; /* key length; vlen (put), n (scan, count), end key
                          length (range) or expected status (get) */
  uint64_t *off;
  uint8_t *keybuf;
  uint64_t n, cap, keybytes, keycap;
  uint32_t max_vlen;
  int format; /* FMT_*: puts of FMT_LAB carry their value bytes */
};

/* The loader's set of keys written so far: open addressing over keybuf
 * offsets, state 1 = newest write is a put, 2 = a delete. */
typedef struct key_set {
  uint64_t *off;
  uint32_t *len; /* 0: empty slot */
  uint8_t *state;
  uint64_t cap, used;
} key_set;

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

/* Room for one more op with `bytes` bytes of key (and value or end key). */
static bool grow(mtw_trace *t, size_t bytes) {
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
  if (t->keybytes + bytes > t->keycap) {
    uint64_t c = t->keycap ? t->keycap * 2 : 65536;
    while (c < t->keybytes + bytes) c *= 2;
    uint8_t *k = realloc(t->keybuf, c);
    if (!k) return false;
    t->keybuf = k;
    t->keycap = c;
  }
  return true;
}

static uint64_t key_hash(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return wl_mix(h);
}

/* The slot of key (off, len) in s: its own, or the empty one it would take. */
static uint64_t set_slot(const key_set *s, const mtw_trace *t, uint64_t off, uint32_t len) {
  const uint8_t *k = t->keybuf + off;
  uint64_t i = key_hash(k, len) & (s->cap - 1);
  while (s->len[i] && (s->len[i] != len || memcmp(t->keybuf + s->off[i], k, len)))
    i = (i + 1) & (s->cap - 1);
  return i;
}

static bool set_grow(key_set *s, const mtw_trace *t) {
  if (s->cap && (s->used + 1) * 2 <= s->cap) return true;
  key_set b = {NULL, NULL, NULL, s->cap ? s->cap * 2 : 4096, s->used};
  b.off = malloc(b.cap * sizeof *b.off);
  b.len = calloc(b.cap, sizeof *b.len);
  b.state = malloc(b.cap);
  if (!b.off || !b.len || !b.state) {
    free(b.off);
    free(b.len);
    free(b.state);
    return false;
  }
  for (uint64_t i = 0; i < s->cap; i++) {
    if (!s->len[i]) continue;
    uint64_t j = set_slot(&b, t, s->off[i], s->len[i]);
    b.off[j] = s->off[i];
    b.len[j] = s->len[i];
    b.state[j] = s->state[i];
  }
  free(s->off);
  free(s->len);
  free(s->state);
  *s = b;
  return true;
}

/* Op t->n - 1 was just parsed: a write updates its key's state, a get
 * gets the status it must return.  false on ENOMEM. */
static bool track(key_set *s, mtw_trace *t) {
  uint64_t i = t->n - 1;
  int op = t->op[i];
  if (op != OP_PUT && op != OP_DEL && op != OP_GET) return true;
  if (!set_grow(s, t)) return false;
  uint64_t j = set_slot(s, t, t->off[i], t->len[i]);
  if (op == OP_GET) {
    t->arg[i] = !s->len[j] ? MT_NOTFOUND : s->state[j] == 1 ? MT_OK : MT_DELETED;
    return true;
  }
  if (!s->len[j]) {
    s->off[j] = t->off[i];
    s->len[j] = t->len[i];
    s->used++;
  }
  s->state[j] = op == OP_PUT ? 1 : 2;
  return true;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Appends op `kind` with key k (klen bytes) and `extra` bytes after it
 * (a lab put's value, a range's end key); arg as given. */
static const char *append(mtw_trace *t, int kind, const void *k, size_t klen, const void *extra,
                          size_t xlen, uint32_t arg) {
  if (!grow(t, klen + xlen)) return "out of memory";
  memcpy(t->keybuf + t->keybytes, k, klen);
  if (xlen) memcpy(t->keybuf + t->keybytes + klen, extra, xlen);
  t->op[t->n] = (uint8_t)kind;
  t->len[t->n] = (uint32_t)klen;
  t->off[t->n] = t->keybytes;
  t->arg[t->n] = arg;
  t->keybytes += klen + xlen;
  t->n++;
  return NULL;
}

static const char *parse_count(const char *num, uint64_t max, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(num, &end, 10);
  if (errno || end == num || *end || num[0] == '-' || v > max) return "bad number";
  *out = (uint32_t)v;
  return NULL;
}

/* One line of mtbench's format (fields already split). */
static const char *parse_mtbench(mtw_trace *t, char *op, char *hex, char *num, char *extra) {
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
  uint32_t arg = 0;
  if (wants_num && parse_count(num, MAX_VLEN, &arg)) return "bad number (0..16777216)";
  for (size_t j = 0; j < hl / 2; j++) { /* decode in place: hex[j] is read before written */
    int hi = hexval(hex[2 * j]), lo = hexval(hex[2 * j + 1]);
    if (hi < 0 || lo < 0) return "hexkey: not a hex digit";
    hex[j] = (char)(hi << 4 | lo);
  }
  if (kind == OP_PUT && arg > t->max_vlen) t->max_vlen = arg;
  return append(t, kind, hex, hl / 2, NULL, 0, arg);
}

/* One line of the lab's format (fields already split). */
static const char *parse_lab(mtw_trace *t, char *op, char *a, char *b, char *extra) {
  int kind, nargs = 2;
  if (!strcmp(op, "I") || !strcmp(op, "U")) kind = OP_PUT;
  else if (!strcmp(op, "D")) kind = OP_DEL, nargs = 1;
  else if (!strcmp(op, "Q") || !strcmp(op, "P")) kind = OP_GET, nargs = 1;
  else if (!strcmp(op, "S")) kind = OP_RANGE;
  else if (!strcmp(op, "SC")) kind = OP_COUNT;
  else if (!strcmp(op, "R")) return "R (range delete) has no memtable operation; not supported";
  else if (!strcmp(op, "M")) return "M (merge) has no memtable operation; not supported";
  else return "unknown operation (the lab format's I, U, D, Q, P, S, SC)";
  if (!a || (nargs == 2 && !b) || (nargs == 1 ? b != NULL : extra != NULL))
    return kind == OP_PUT   ? "want <key> <value>"
           : kind == OP_RANGE ? "want <start> <end>"
           : kind == OP_COUNT ? "want <start> <count>"
                              : "want one <key>";
  size_t klen = strlen(a);
  if (klen > MAX_KEY) return "key longer than 4096 bytes";
  if (kind == OP_PUT || kind == OP_RANGE) {
    size_t xlen = strlen(b);
    if (kind == OP_PUT ? xlen > MAX_VLEN : xlen > MAX_KEY)
      return kind == OP_PUT ? "value longer than 16 MiB" : "end key longer than 4096 bytes";
    return append(t, kind, a, klen, b, xlen, (uint32_t)xlen);
  }
  uint32_t count = 0;
  if (kind == OP_COUNT && parse_count(b, UINT32_MAX, &count))
    return "bad count (0..4294967295)";
  return append(t, kind, a, klen, NULL, 0, count);
}

static bool is_lab_op(const char *op) {
  static const char *const ops[] = {"I", "U", "D", "Q", "P", "S", "SC", "R", "M"};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(op, ops[i])) return true;
  return false;
}

/* Parses one non-comment line into t; NULL or a static reason. */
static const char *parse_line(mtw_trace *t, char *line) {
  char *save = NULL, *op = strtok_r(line, " \t\r\n", &save);
  char *a = strtok_r(NULL, " \t\r\n", &save), *b = strtok_r(NULL, " \t\r\n", &save);
  char *extra = strtok_r(NULL, " \t\r\n", &save);
  if (t->format == FMT_UNKNOWN) {
    if (is_lab_op(op)) t->format = FMT_LAB;
    else if (!strcmp(op, "put") || !strcmp(op, "del") || !strcmp(op, "get") ||
             !strcmp(op, "scan"))
      t->format = FMT_MTBENCH;
    else return "unknown operation (put, del, get, scan; or the lab format's I, U, D, Q, S, SC)";
  }
  return t->format == FMT_LAB ? parse_lab(t, op, a, b, extra) : parse_mtbench(t, op, a, b, extra);
}

int mtw_trace_load(mtw_trace **out, const char *path, char *err, size_t cap) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, cap, "%s: %s", path, strerror(errno));
    return -1;
  }
  mtw_trace *t = calloc(1, sizeof *t);
  key_set set = {NULL, NULL, NULL, 0, 0};
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
    if (!why && !track(&set, t)) why = "out of memory";
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
  free(set.off);
  free(set.len);
  free(set.state);
  free(line);
  fclose(f);
  if (rc) {
    mtw_trace_free(t);
    return -1;
  }
  *out = t;
  return 0;
}

/* bytewise with the shorter key first on a tie: the memtable's default order */
static int key_cmp(mt_slice a, const uint8_t *b, size_t blen) {
  int c = memcmp(a.data, b, a.len < blen ? a.len : blen);
  return c ? c : (a.len > blen) - (a.len < blen);
}

/* Replays the context's trace on a new memtable; an op is one trace line.
 * Every get must return the status the loader worked out (invariant 3). */
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
  uint64_t seq = 0, gets = 0, found = 0, i = 0, scanned = 0;
  int got = MT_OK; /* a get's status, when it differs from the expected one */
  bool wrong = false;
  static const wl_op op_of[] = {[OP_PUT] = WL_OP_INSERT, [OP_DEL] = WL_OP_DELETE,
                                [OP_GET] = WL_OP_READ,   [OP_SCAN] = WL_OP_SCAN,
                                [OP_RANGE] = WL_OP_SCAN, [OP_COUNT] = WL_OP_SCAN};
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t tl = wl_lat_now(lat);
  for (; i < t->n; i++) {
    const uint8_t *kp = t->keybuf + t->off[i];
    mt_slice key = wl_slice(kp, t->len[i]);
    switch (t->op[i]) {
    case OP_PUT: /* the lab's value follows its key; ours comes from the table */
      seq++;
      rc = mt_memtable_add(m, seq, MT_PUT, key,
                           wl_slice(t->format == FMT_LAB ? kp + t->len[i] : wl_value(ctx, seq),
                                    t->arg[i]));
      break;
    case OP_DEL:
      seq++;
      rc = mt_memtable_add(m, seq, MT_DELETE, key, wl_slice(NULL, 0));
      break;
    case OP_GET:
      gets++;
      got = mt_memtable_get(m, key, MT_SEQ_MAX, NULL, NULL);
      found += got == MT_OK;
      wrong = got != (int)t->arg[i];
      break;
    case OP_SCAN:
      mt_iter_seek(it, key);
      for (uint32_t k = 0; k < t->arg[i] && mt_iter_valid(it); k++, scanned++) mt_iter_next(it);
      break;
    case OP_RANGE: /* the lab's S: entries from start while key < end */
      for (mt_iter_seek(it, key); mt_iter_valid(it); mt_iter_next(it), scanned++)
        if (key_cmp(mt_iter_key(it), kp + t->len[i], t->arg[i]) >= 0) break;
      break;
    default: /* OP_COUNT, the lab's SC: count entries from start */
      mt_iter_seek(it, key);
      for (uint32_t k = 1; k < t->arg[i] && mt_iter_valid(it); k++, scanned++) mt_iter_next(it);
      break;
    }
    wl_lat_lap(lat, op_of[t->op[i]], &tl);
    if (rc != MT_OK || wrong) break;
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
  wl_counter(out, "scanned", (double)scanned);
  int irc = mt_iter_status(it);
  mt_iter_free(it);
  mt_memtable_unref(m);
  if (rc != MT_OK) return wl_fail_mt(out, "mt_memtable_add", rc);
  if (irc != MT_OK) return wl_fail_mt(out, "scan", irc);
  if (wrong)
    return wl_fail(out, "trace op %llu: get returned %s, want %s", (unsigned long long)i + 1,
                   mt_strerror(got), mt_strerror((int)t->arg[i]));
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
