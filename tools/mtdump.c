/* mtdump -- prints the records of WAL segments and the entries of sorted
 * runs, or checks them.
 *
 *   mtdump [--check] [--number=N] PATH...
 *
 * PATH is a segment file, a run file (*.sst) or a store directory (its
 * run-*.sst files, then its wal-*.log files, in order).  A run is opened
 * through the library's verifying reader (every checksum and the order of
 * every entry, bytewise: a run written under another comparator reports
 * its order as damage); its properties are printed as a "run" line and
 * every entry as
 *   file #index seq kind key value-size
 * In a segment every entry is printed as
 *   file offset seq kind key value-size
 * and every damage as "DAMAGE file offset: what".  With --check only the
 * damage and a summary are printed, and the exit status is 1 when any
 * checksum, length, fragment or payload is damaged (2 on usage or I/O
 * errors).  The segment number (part of every checksum) comes from the
 * file name, else from --number, else from the file's first record. */
#include "run.h"
#include "wal.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct dump {
  bool check;
  bool have_number;
  uint64_t number;
  uint64_t runs, records, entries, damaged;
  const char *file;
  uint64_t off;
} dump;

static void print_key(mt_slice k) {
  const unsigned char *p = k.data;
  size_t n = k.len < 48 ? k.len : 48;
  for (size_t i = 0; i < n; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') putchar(p[i]);
    else printf("\\x%02x", p[i]);
  }
  if (n < k.len) printf("...(%zu bytes)", k.len);
}

static int print_entry(void *ctx, const mt_wal_entry *e) {
  dump *d = ctx;
  d->entries++;
  if (d->check) return 0;
  printf("%s %" PRIu64 " %" PRIu64 " %s ", d->file, d->off, e->seq, e->kind == MT_PUT ? "PUT" : "DEL");
  print_key(e->key);
  printf(" %zu\n", e->kind == MT_PUT ? e->value.len : (size_t)0);
  return 0;
}

/* The number field of the file's first physical record. */
static bool first_number(const char *path, uint64_t *out) {
  int fd = open(path, O_RDONLY);
  uint8_t h[MT_WAL_HEADER];
  bool ok = fd >= 0 && read(fd, h, sizeof h) == (ssize_t)sizeof h;
  if (fd >= 0) close(fd);
  if (ok) {
    uint32_t n;
    memcpy(&n, h + 7, 4);
    *out = n;
  }
  return ok;
}

static int dump_run(dump *d, const char *path) {
  mt_run *r;
  int rc = mt_run_open(&r, path, NULL);
  if (rc == MT_ECORRUPT || rc == MT_EINVAL) {
    printf("DAMAGE %s\n", mt_last_error());
    d->damaged++;
    return 1;
  }
  if (rc) {
    fprintf(stderr, "mtdump: %s\n", mt_last_error());
    return 2;
  }
  const mt_run_props *p = mt_run_props_of(r);
  d->runs++;
  if (!d->check) {
    printf("%s run number=%" PRIu64 " entries=%" PRIu64 " seqs=%" PRIu64 "..%" PRIu64 " comparator='%.*s' bytes=%" PRIu64,
           path, p->number, p->count, p->min_seq, p->max_seq, (int)p->cmp_name.len, (const char *)p->cmp_name.data,
           mt_run_file_bytes(r));
    if (p->last_input) printf(" replaces=%" PRIu64 "..%" PRIu64, p->first_input, p->last_input);
    putchar('\n');
  }
  mt_iter *it;
  rc = mt_run_iter_new(&it, r);
  if (rc) {
    mt_run_unref(r);
    fprintf(stderr, "mtdump: %s\n", mt_last_error());
    return 2;
  }
  uint64_t i = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), i++) {
    d->entries++;
    if (d->check) continue;
    printf("%s #%" PRIu64 " %" PRIu64 " %s ", path, i, mt_iter_seq(it), mt_iter_kind(it) == MT_PUT ? "PUT" : "DEL");
    print_key(mt_iter_key(it));
    printf(" %zu\n", mt_iter_value(it).len);
  }
  mt_iter_free(it);
  mt_run_unref(r);
  return 0;
}

static int dump_file(dump *d, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t blen = strlen(base);
  if (blen > 4 && !strcmp(base + blen - 4, ".sst")) return dump_run(d, path);
  uint64_t number;
  if (!mt_wal_parse_name(base, &number)) {
    if (d->have_number) number = d->number;
    else if (!first_number(path, &number)) {
      fprintf(stderr, "mtdump: %s: cannot read a first record to learn the segment number\n", path);
      return 2;
    }
  }
  mt_wal_reader *r;
  int rc = mt_wal_reader_open(&r, path, number);
  if (rc) {
    fprintf(stderr, "mtdump: %s\n", mt_last_error());
    return 2;
  }
  d->file = path;
  int status = 0;
  for (;;) {
    mt_slice p;
    rc = mt_wal_reader_next(r, &p, &d->off);
    if (rc == MT_NOTFOUND) break;
    if (rc == MT_ECORRUPT) {
      const mt_wal_damage *dm = mt_wal_reader_damage(r);
      printf("DAMAGE %s (valid records resume at %" PRIu64 ")\n", mt_last_error(), dm->resume);
      d->damaged++;
      status = 1;
      continue;
    }
    if (rc) {
      fprintf(stderr, "mtdump: %s\n", mt_last_error());
      status = 2;
      break;
    }
    d->records++;
    const uint8_t *b = p.data;
    mt_wal_header h;
    if (p.len && b[0] == MT_WAL_TAG_HEADER && mt_wal_decode_header(p, &h) == MT_OK) {
      if (!d->check)
        printf("%s %" PRIu64 " header number=%" PRIu64 " base_seq=%" PRIu64 " comparator='%.*s'%s%s\n", path,
               d->off, h.number, h.base_seq, (int)h.cmp_name.len, (const char *)h.cmp_name.data,
               h.flags & MT_WAL_FLAG_SUPERSEDES ? " supersedes-older" : "",
               h.flags & MT_WAL_FLAG_PREV_UNSYNCED ? " previous-unsynced" : "");
      continue;
    }
    if (mt_wal_decode_entries(p, print_entry, d, NULL, NULL) != MT_OK) {
      printf("DAMAGE %s: offset %" PRIu64 ": %s\n", path, d->off, mt_wal_damage_text(MT_WAL_DMG_PAYLOAD));
      d->damaged++;
      status = 1;
    }
  }
  mt_wal_reader_free(r);
  return status;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dump_dir(dump *d, const char *dir) {
  DIR *dd = opendir(dir);
  if (!dd) {
    perror(dir);
    return 2;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  uint64_t num;
  while ((e = readdir(dd))) {
    if (!mt_wal_parse_name(e->d_name, &num) && !mt_run_parse_name(e->d_name, &num)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      names = realloc(names, cap * sizeof *names);
      if (!names) return 2;
    }
    names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
    sprintf(names[n++], "%s/%s", dir, e->d_name);
  }
  closedir(dd);
  qsort(names, n, sizeof *names, cmp_names); /* runs, then segments; fixed-width numbers sort as text */
  int status = 0;
  for (size_t i = 0; i < n; i++) {
    int rc = dump_file(d, names[i]);
    if (rc > status) status = rc;
    free(names[i]);
  }
  free(names);
  return status;
}

int main(int argc, char **argv) {
  dump d = {0};
  int status = 0, paths = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--check")) {
      d.check = true;
    } else if (!strncmp(argv[i], "--number=", 9)) {
      d.have_number = true;
      d.number = strtoull(argv[i] + 9, NULL, 10);
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: mtdump [--check] [--number=N] FILE|DIR...\n");
      return 2;
    }
  }
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      status = 2;
      continue;
    }
    int rc = S_ISDIR(st.st_mode) ? dump_dir(&d, argv[i]) : dump_file(&d, argv[i]);
    if (rc > status) status = rc;
    paths++;
  }
  if (!paths) {
    fprintf(stderr, "usage: mtdump [--check] [--number=N] FILE|DIR...\n");
    return 2;
  }
  if (d.runs) printf("%" PRIu64 " runs, ", d.runs);
  printf("%" PRIu64 " records, %" PRIu64 " entries, %" PRIu64 " damaged\n", d.records, d.entries, d.damaged);
  return status;
}
