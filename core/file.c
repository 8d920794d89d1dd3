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

/* A log file (mt_file_create_log) appends by copying into a shared
 * mapping of a LOG_WINDOW-byte window of the file, allocated before it is
 * mapped: once copied, the bytes are in the page cache -- in
 * the OS, as after write(2) -- so they survive a crash of the process, and
 * fdatasync makes them durable like written ones.  Space is taken before
 * any byte is copied, so ENOSPC fails an append cleanly.
 * The file is cut back to its logical size when it is closed; after a
 * crash the rest of the window reads as zeros, which the WAL reader takes
 * for the end (wal_format.h: type 0 is never a record). */
enum { LOG_WINDOW = 1 << 20, LOG_CHUNK = 64 << 10 };

struct mt_file {
  int fd;
  uint64_t size;
  char *path;
  bool log;         /* appends go through the mapped window */
  uint8_t *map;     /* the window, or NULL */
  uint64_t map_off; /* file offset of map[0], a multiple of LOG_WINDOW */
  uint64_t ready;   /* the window's pages below this offset are writable */
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

/* Maps the window holding file offset `off`, allocating its blocks first:
 * ENOSPC fails here, before a byte is copied, and a page of the window
 * never needs a block when it is first written (which would raise SIGBUS
 * on a full disk). */
static int log_window(mt_file *f, uint64_t off) {
  if (f->map) munmap(f->map, LOG_WINDOW);
  f->map = NULL;
  uint64_t start = off - off % LOG_WINDOW;
  int err = posix_fallocate(f->fd, (off_t)start, LOG_WINDOW);
  if (err) return io_error("fallocate", f->path, err);
  void *p = mmap(NULL, LOG_WINDOW, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, (off_t)start);
  if (p == MAP_FAILED) return io_error("mmap", f->path, errno);
  f->map = p;
  f->map_off = f->ready = start;
  return MT_OK;
}

/* Makes the pages up to `end` writable ahead of the copies, LOG_CHUNK bytes
 * per call, rather than with a write fault per page (costly in a VM).  A
 * page made ready holds zeros and is dirty: a chunk, not the window, so a
 * sync writes at most a chunk of zeros beyond the data.  Advice: on an old
 * kernel the copies fault the pages in. */
static void log_ready(mt_file *f, uint64_t end) {
#ifdef MADV_POPULATE_WRITE
  while (f->ready < end) {
    size_t n = f->map_off + LOG_WINDOW - f->ready;
    if (n > LOG_CHUNK) n = LOG_CHUNK;
    madvise(f->map + (f->ready - f->map_off), n, MADV_POPULATE_WRITE);
    f->ready += n;
  }
#else
  (void)f;
  (void)end;
#endif
}

static int log_copy(mt_file *f, const uint8_t *p, size_t n) {
  while (n) {
    if (!f->map || f->size < f->map_off || f->size >= f->map_off + LOG_WINDOW) {
      int rc = log_window(f, f->size);
      if (rc) return rc;
    }
    size_t at = (size_t)(f->size - f->map_off), k = LOG_WINDOW - at;
    if (k > n) k = n;
    if (f->size + k > f->ready) log_ready(f, f->size + k);
    memcpy(f->map + at, p, k);
    f->size += k;
    p += k;
    n -= k;
  }
  return MT_OK;
}

/* A log file cut back to `size`: the bytes past it become zeros again. */
static int log_cut(mt_file *f, uint64_t size) {
  static const uint8_t zeros[4096];
  for (uint64_t at = size; at < f->size;) {
    size_t n = f->size - at < sizeof zeros ? (size_t)(f->size - at) : sizeof zeros;
    if (f->map && at >= f->map_off && at + n <= f->map_off + LOG_WINDOW) {
      memset(f->map + (at - f->map_off), 0, n);
    } else {
      ssize_t w = pwrite(f->fd, zeros, n, (off_t)at);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return io_error("write", f->path, w < 0 ? errno : ENOSPC);
      n = (size_t)w;
    }
    at += n;
  }
  f->size = size;
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

int mt_file_truncate(mt_file *f, uint64_t size) {
  int err = injected(MT_FOP_TRUNCATE, f->path, NULL);
  if (err) return io_error("ftruncate", f->path, err);
  if (f->log && size <= f->size) return log_cut(f, size); /* the window stays */
  if (f->log && f->map) munmap(f->map, LOG_WINDOW);
  if (f->log) f->map = NULL;
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
  if (f->map) munmap(f->map, LOG_WINDOW);
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
