/* fuzz_wal.c -- libFuzzer target: arbitrary bytes as a WAL segment, read
 * record by record through the reader (resuming after each damage, as skip
 * mode does) and every payload decoded.  The reader must never read or
 * allocate past what a block allows, whatever the bytes say. */
#include "wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int count_entry(void *ctx, const mt_wal_entry *e) {
  (*(uint64_t *)ctx) += e->key.len + e->value.len;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/mt-fuzz-wal-%d.log", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  mt_wal_reader *r;
  if (mt_wal_reader_open(&r, path, 1) == MT_OK) {
    mt_slice payload;
    uint64_t offset, bytes = 0;
    for (int n = 0; n < 100000; n++) {
      int rc = mt_wal_reader_next(r, &payload, &offset);
      if (rc == MT_NOTFOUND || rc == MT_EIO || rc == MT_ENOMEM) break;
      if (rc == MT_ECORRUPT) continue; /* resumes at damage.resume */
      if (payload.len > 1u << 30) abort();
      mt_wal_header h;
      uint32_t count;
      uint64_t last;
      if (mt_wal_decode_header(payload, &h) != MT_OK)
        mt_wal_decode_entries(payload, count_entry, &bytes, &count, &last);
    }
    if (mt_wal_reader_size(r) > size) abort(); /* never past the file */
    mt_wal_reader_free(r);
  }
  unlink(path);
  return 0;
}
