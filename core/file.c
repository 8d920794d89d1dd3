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

struct mt_file {
  int fd;
  uint64_t size;
  char *path;
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
    int rc = write_all(f, p, len);
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
  if (h && h->synced && fstat(f->fd, &st) == 0) h->synced(h->ctx, f->path, (uint64_t)st.st_size);
  return MT_OK;
}

int mt_file_truncate(mt_file *f, uint64_t size) {
  int err = injected(MT_FOP_TRUNCATE, f->path, NULL);
  if (err) return io_error("ftruncate", f->path, err);
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
  int rc = close(f->fd) != 0 ? io_error("close", f->path, errno) : MT_OK;
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
