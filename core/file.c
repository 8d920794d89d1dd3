/* file.c -- POSIX implementation of the file layer (file.h), with the
 * fault hooks tests use.
 *
 * Invariants:
 *  1. f->size is the number of bytes known to be in the file at the append
 *     point: after a failed append it still counts the bytes a short write
 *     did put there, so a caller can truncate back to a known length.
 *  2. Every failure sets mt_last_error() to "<op> <path>: <strerror>".
 *  3. The hook pointer is published with a release store and read with an
 *     acquire load, so a hook sees the struct it was installed with.
 */
#include "file.h"

#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A log file (mt_file_create_log) appends by copying into one shared
 * mapping of the file from offset 0, grown ahead of the append point
 * (posix_fallocate, then mremap): once copied, the bytes are in the page
 * cache -- in the OS, as after write(2) -- so they survive a crash of the
 * process, and fdatasync makes them durable like written ones.  Space is
 * allocated before a byte is copied into it, so ENOSPC fails an append
 * cleanly, and a page never needs a block when it is first written (which
 * would raise SIGBUS on a full disk).  The file is cut to its data when it
 * is closed; after a crash the rest of it reads as zeros (or, in a reused
 * log, as records of an older segment), which the WAL reader takes for the
 * end.  A reused log (mt_file_log_reuse) writes over pages mapped and
 * written before: on a VM the first write to a page costs microseconds, a
 * copy into a page written before costs nanoseconds.  Its old bytes never
 * directly follow the data: LOG_ZEROS zero bytes are written after every
 * append before the append's own bytes -- more than a WAL record header
 * (11) plus a block's zero padding (< 11) -- so a reader meets zeros where
 * the data ends, then only records of another segment. */
enum { LOG_STEP = 1 << 20, LOG_CHUNK = 64 << 10, LOG_ZEROS = 32 };

struct mt_file {
  int fd;
  uint64_t size;
  char *path;
  bool log;        /* appends go through the mapping */
  uint8_t *map;    /* the mapping of [0, map_len), or NULL */
  size_t map_len;  /* a multiple of LOG_STEP; the file is at least as long */
  uint64_t ready;  /* pages below this offset were made writable */
};

static _Atomic(const mt_file_fault *) fault_hook;

void mt_file_set_fault(const mt_file_fault *f) {
  atomic_store_explicit(&fault_hook, f, memory_order_release);
}

static int injected(mt_file_op op, const char *path, size_t *len) {
  const mt_file_fault *h = atomic_load_explicit(&fault_hook, memory_order_acquire);
  if (!h || !h->before) return 0;
  size_t dummy = 0;
  return h->before(h->ctx, op, path, len ? len : &dummy);
}

static int io_error(const char *op, const char *path, int err) {
  return mt_set_error(MT_EIO, "%s %s: %s", op, path, strerror(err));
}

static int file_new(mt_file **out, const char *path, int fd) {
  mt_file *f = mt_calloc(1, sizeof *f);
  char *p = f ? mt_strdup(path) : NULL;
  if (!p) {
    mt_free(f);
    close(fd);
    return MT_ENOMEM;
  }
  f->fd = fd;
  f->path = p;
  *out = f;
  return MT_OK;
}

static int open_path(mt_file **out, const char *path, int flags, const char *op) {
  *out = NULL;
  int err = injected(MT_FOP_OPEN, path, NULL);
  if (err) return io_error(op, path, err);
  int fd;
  do fd = open(path, flags | O_CLOEXEC, 0644);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT && !(flags & O_CREAT))
      return mt_set_error(MT_NOTFOUND, "%s %s: %s", op, path, strerror(errno));
    return io_error(op, path, errno);
  }
  return file_new(out, path, fd);
}

int mt_file_create(mt_file **out, const char *path) {
  return open_path(out, path, O_WRONLY | O_CREAT | O_TRUNC, "create");
}

int mt_file_create_log(mt_file **out, const char *path) {
  int rc = open_path(out, path, O_RDWR | O_CREAT | O_TRUNC, "create");
  if (!rc) (*out)->log = true;
  return rc;
}

/* Grows the mapping (and the file's allocated space) to cover `end`:
 * by a quarter at least, in LOG_STEP multiples. */
static int log_grow(mt_file *f, uint64_t end) {
  size_t len = f->map_len + (f->map_len / 4 > LOG_STEP ? f->map_len / 4 : LOG_STEP);
  if (len < end) len = (size_t)end;
  len = (len + LOG_STEP - 1) / LOG_STEP * LOG_STEP;
  int err = posix_fallocate(f->fd, (off_t)f->map_len, (off_t)(len - f->map_len));
  if (err) return io_error("fallocate", f->path, err);
  void *p = f->map ? mremap(f->map, f->map_len, len, MREMAP_MAYMOVE)
                   : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
  if (p == MAP_FAILED) return io_error("mmap", f->path, errno);
  f->map = p;
  f->map_len = len;
  return MT_OK;
}

/* Makes the pages up to `end` writable ahead of the copies, LOG_CHUNK bytes
 * per call, rather than with a write fault per page.  A page made ready
 * holds zeros and is dirty: a chunk, not the mapping, so a sync writes at
 * most a chunk of zeros beyond the data.  Advice: on an old kernel the
 * copies fault the pages in. */
static void log_ready(mt_file *f, uint64_t end) {
#ifdef MADV_POPULATE_WRITE
  while (f->ready < end) {
    size_t n = f->map_len - f->ready < LOG_CHUNK ? (size_t)(f->map_len - f->ready) : LOG_CHUNK;
    madvise(f->map + f->ready, n, MADV_POPULATE_WRITE);
    f->ready += n;
  }
#else
  f->ready = end;
#endif
}

/* Copies n bytes at the append point.  The LOG_ZEROS bytes after them are
 * zeroed first: a reused log's old bytes never directly follow the data. */
static int log_copy(mt_file *f, const uint8_t *p, size_t n) {
  uint64_t end = f->size + n + LOG_ZEROS;
  if (end > f->map_len) {
    int rc = log_grow(f, end);
    if (rc) return rc;
  }
  if (end > f->ready) log_ready(f, end);
  memset(f->map + f->size + n, 0, LOG_ZEROS);
  memcpy(f->map + f->size, p, n);
  f->size += n;
  return MT_OK;
}

/* A log file cut back to `size`: the bytes past it become zeros again. */
static int log_cut(mt_file *f, uint64_t size) {
  memset(f->map + size, 0, (size_t)(f->size - size));
  f->size = size;
  return MT_OK;
}

int mt_file_log_reuse(mt_file *f) {
  if (!f->log) return mt_set_error(MT_EINVAL, "%s is not a log", f->path);
  f->size = 0;
  return MT_OK;
}

int mt_file_open_read(mt_file **out, const char *path) {
  return open_path(out, path, O_RDONLY, "open");
}

static int write_all(mt_file *f, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_error("write", f->path, errno);
    }
    if (w == 0) return io_error("write", f->path, ENOSPC);
    f->size += (uint64_t)w;
    p += w;
    n -= (size_t)w;
  }
  return MT_OK;
}

int mt_file_append(mt_file *f, const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n) {
    size_t len = n;
    int err = injected(MT_FOP_WRITE, f->path, &len);
    if (len > n) len = n;
    int rc = f->log ? log_copy(f, p, len) : write_all(f, p, len);
    if (rc) return rc;
    if (err) return io_error("write", f->path, err);
    p += len;
    n -= len;
  }
  return MT_OK;
}

int mt_file_read(mt_file *f, void *buf, size_t n, size_t *got) {
  *got = 0;
  int err = injected(MT_FOP_READ, f->path, &n);
  if (err) return io_error("read", f->path, err);
  for (;;) {
    ssize_t r = read(f->fd, buf, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error("read", f->path, errno);
    *got = (size_t)r;
    f->size += (uint64_t)r;
    return MT_OK;
  }
}

int mt_file_sync(mt_file *f) {
  int err = injected(MT_FOP_SYNC, f->path, NULL);
  if (err) return io_error("fdatasync", f->path, err);
  if (fdatasync(f->fd) != 0) return io_error("fdatasync", f->path, errno);
  const mt_file_fault *h = atomic_load_explicit(&fault_hook, memory_order_acquire);
  struct stat st; /* the whole file is durable now, also one opened to read */
  if (h && h->synced && f->log) h->synced(h->ctx, f->path, f->size); /* then zeros */
  else if (h && h->synced && fstat(f->fd, &st) == 0) h->synced(h->ctx, f->path, (uint64_t)st.st_size);
  return MT_OK;
}

void mt_file_start_writeback(mt_file *f, uint64_t off, size_t len) {
#ifdef SYNC_FILE_RANGE_WRITE
  sync_file_range(f->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
#else
  (void)f, (void)off, (void)len;
#endif
}

int mt_file_truncate(mt_file *f, uint64_t size) {
  int err = injected(MT_FOP_TRUNCATE, f->path, NULL);
  if (err) return io_error("ftruncate", f->path, err);
  if (f->log && size > f->size) return io_error("ftruncate", f->path, EINVAL); /* only cut back */
  if (f->log) return log_cut(f, size); /* the mapping stays */
  if (ftruncate(f->fd, (off_t)size) != 0) return io_error("ftruncate", f->path, errno);
  if (lseek(f->fd, (off_t)size, SEEK_SET) < 0) return io_error("lseek", f->path, errno);
  f->size = size;
  return MT_OK;
}

uint64_t mt_file_size(const mt_file *f) { return f->size; }
const char *mt_file_path(const mt_file *f) { return f->path; }

int mt_file_close(mt_file *f) {
  if (!f) return MT_OK;
  int err = injected(MT_FOP_CLOSE, f->path, NULL);
  int rc = MT_OK;
  if (f->map) munmap(f->map, f->map_len);
  if (f->log && ftruncate(f->fd, (off_t)f->size) != 0) rc = io_error("ftruncate", f->path, errno);
  if (close(f->fd) != 0 && !rc) rc = io_error("close", f->path, errno);
  if (!rc && err) rc = io_error("close", f->path, err);
  mt_free(f->path);
  mt_free(f);
  return rc;
}

int mt_dir_sync(const char *dir) {
  int err = injected(MT_FOP_DIRSYNC, dir, NULL);
  if (err) return io_error("fsync directory", dir, err);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open directory", dir, errno);
  int rc = fsync(fd) != 0 ? io_error("fsync directory", dir, errno) : MT_OK;
  if (close(fd) != 0 && !rc) rc = io_error("close directory", dir, errno);
  return rc;
}

int mt_dir_create(const char *dir) {
  if (mkdir(dir, 0755) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(dir, &st) != 0) return io_error("stat", dir, errno);
    if (!S_ISDIR(st.st_mode)) return io_error("mkdir", dir, ENOTDIR);
    return MT_OK;
  }
  return io_error("mkdir", dir, errno);
}

int mt_path_rename(const char *from, const char *to) {
  int err = injected(MT_FOP_RENAME, from, NULL);
  if (err || rename(from, to) != 0) {
    return mt_set_error(MT_EIO, "rename %s to %s: %s", from, to, strerror(err ? err : errno));
  }
  return MT_OK;
}

int mt_file_rename(mt_file *f, const char *to) {
  char *p = mt_strdup(to);
  if (!p) return MT_ENOMEM;
  int rc = mt_path_rename(f->path, to);
  if (rc) {
    mt_free(p);
    return rc;
  }
  mt_free(f->path);
  f->path = p;
  return MT_OK;
}

int mt_path_remove(const char *path) {
  int err = injected(MT_FOP_REMOVE, path, NULL);
  if (err) return io_error("unlink", path, err);
  if (unlink(path) != 0 && errno != ENOENT) return io_error("unlink", path, errno);
  return MT_OK;
}

int mt_dir_list(const char *dir, int (*fn)(void *ctx, const char *name), void *ctx) {
  DIR *d = opendir(dir);
  if (!d) return io_error("opendir", dir, errno);
  int rc = MT_OK;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      if (errno) rc = io_error("readdir", dir, errno);
      break;
    }
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    rc = fn(ctx, e->d_name);
    if (rc < 0) break;
    rc = MT_OK;
  }
  closedir(d);
  return rc;
}

int mt_file_map(const char *path, const void **data, size_t *len) {
  *data = NULL;
  *len = 0;
  int err = injected(MT_FOP_OPEN, path, NULL);
  if (err) return io_error("open", path, err);
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT) return mt_set_error(MT_NOTFOUND, "open %s: %s", path, strerror(errno));
    return io_error("open", path, errno);
  }
  struct stat st;
  int rc = MT_OK;
  if (fstat(fd, &st)) {
    rc = io_error("stat", path, errno);
  } else if (st.st_size > 0) {
    size_t n = (size_t)st.st_size;
    err = injected(MT_FOP_READ, path, &n);
    if (err) {
      rc = io_error("read", path, err);
    } else {
      void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        rc = io_error("mmap", path, errno);
      } else {
        *data = p;
        *len = (size_t)st.st_size;
      }
    }
  }
  close(fd);
  return rc;
}

void mt_file_unmap(const void *data, size_t len) {
  if (data && len) munmap((void *)data, len);
}
