/* fuzz_recovery.c -- libFuzzer target: arbitrary bytes as the only WAL
 * segment of a store directory, opened under each recovery mode.  Open may
 * fail (with a message) or succeed; what it recovers must iterate cleanly. */
#include <memtable/memtable.h>

#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void rm_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  for (int mode = MT_RECOVER_TOLERATE_TAIL; mode <= MT_RECOVER_SKIP_CORRUPT; mode++) {
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s/mt-fuzz-rec-%d", base, (int)getpid());
    rm_dir(dir);
    if (mkdir(dir, 0700) != 0) return 0;
    snprintf(path, sizeof path, "%s/wal-000000000001.log", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    mt_store_options o;
    mt_store_options_init(&o);
    o.recovery = (mt_recovery)mode;
    mt_store *s;
    int rc = mt_store_open(&s, dir, &o);
    if (rc == MT_OK) {
      mt_iter *it;
      if (mt_store_iter(&it, s, mt_store_last_seq(s)) == MT_OK) {
        for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) (void)mt_iter_key(it);
        mt_iter_free(it);
      }
      mt_store_close(s);
    } else if (!*mt_last_error()) {
      abort();
    }
    rm_dir(dir);
  }
  return 0;
}
