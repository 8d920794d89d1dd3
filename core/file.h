/* file.h -- the one small file layer under the WAL and the store.
 *
 * Every byte the store reads or writes, every fsync, rename, unlink and
 * directory listing goes through here, so that tests can make any of them
 * fail (ENOSPC, a short write, a failing fsync or close) and can learn how
 * much of each file was durable when a simulated power loss strikes.
 *
 * Errors: every function returns MT_OK or MT_EIO (MT_ENOMEM for memory)
 * and names the operation, the path and the errno text in mt_last_error().
 *
 * Thread safety: an mt_file is used by one thread at a time (the WAL
 * leader).  The fault hook is read with an acquire load on every call; a
 * test installs it before starting threads and the hook itself must be
 * thread-safe if threads share it.
 */
#ifndef MT_CORE_FILE_H
#define MT_CORE_FILE_H

#include <memtable/memtable.h>

#include <stdint.h>

typedef struct mt_file mt_file;

typedef enum mt_file_op {
  MT_FOP_OPEN = 1, /* open/create; len is unused */
  MT_FOP_READ,
  MT_FOP_WRITE,    /* *len may be lowered: that many bytes are written first */
  MT_FOP_SYNC,     /* fdatasync of a file */
  MT_FOP_TRUNCATE,
  MT_FOP_CLOSE,    /* the descriptor is closed either way, as close(2) does */
  MT_FOP_DIRSYNC,  /* fsync of a directory */
  MT_FOP_RENAME,
  MT_FOP_REMOVE,
} mt_file_op;

/* Test hooks.  before() runs ahead of each operation: it returns 0 to let
 * the operation run, or an errno value to fail it.  For MT_FOP_WRITE it may
 * lower *len: the first *len bytes are written, then the errno (if any)
 * fails the call -- a short write followed by ENOSPC.  A lowered *len with
 * a 0 return is a plain short write(2), which the layer retries.
 * synced() runs after each successful file sync with the file's size:
 * what a power loss would keep. */
typedef struct mt_file_fault {
  int (*before)(void *ctx, mt_file_op op, const char *path, size_t *len);
  void (*synced)(void *ctx, const char *path, uint64_t size);
  void *ctx;
} mt_file_fault;

/* Installs the hooks (the struct must outlive its use); NULL removes them. */
void mt_file_set_fault(const mt_file_fault *f);

/* Creates (or truncates) path for appending. */
int mt_file_create(mt_file **out, const char *path);
/* Opens path for sequential reading; MT_NOTFOUND if it does not exist. */
int mt_file_open_read(mt_file **out, const char *path);
/* Creates (or truncates) a log: a file of many small appends, each a copy
 * into a shared mapping of preallocated space (file.c says how), which
 * is in the OS when the call returns, as after write(2).  Its size on disk
 * runs ahead of mt_file_size (zeros) until it is closed, when it is cut. */
int mt_file_create_log(mt_file **out, const char *path);
/* Moves a log's append point back to 0 to write it again from the start
 * (over its old bytes, with its mapping kept); MT_EINVAL if f is no log. */
int mt_file_log_reuse(mt_file *f);
/* Appends all n bytes (retrying short writes) or fails with MT_EIO. */
int mt_file_append(mt_file *f, const void *buf, size_t n);
/* Reads up to n bytes at the current position; *got 0 at end of file. */
int mt_file_read(mt_file *f, void *buf, size_t n, size_t *got);
int mt_file_sync(mt_file *f);                 /* fdatasync */
/* Starts writing back [off, off + len), without waiting (sync_file_range
 * WRITE), so a later mt_file_sync has less to wait for.  A hint: no fault
 * point, errors are ignored (the sync reports them). */
void mt_file_start_writeback(mt_file *f, uint64_t off, size_t len);
int mt_file_truncate(mt_file *f, uint64_t size); /* also moves the append point */
uint64_t mt_file_size(const mt_file *f);      /* bytes appended or read so far */
const char *mt_file_path(const mt_file *f);
/* Renames the open file's path to `to` (the descriptor stays valid). */
int mt_file_rename(mt_file *f, const char *to);
/* Closes and frees f (NULL is fine); MT_EIO if close(2) failed. */
int mt_file_close(mt_file *f);

/* Maps a whole file read-only (MT_NOTFOUND if it does not exist); an
 * empty file gives *data NULL and *len 0.  The hooks see MT_FOP_OPEN and
 * MT_FOP_READ (with the file's size). */
int mt_file_map(const char *path, const void **data, size_t *len);
void mt_file_unmap(const void *data, size_t len);

int mt_dir_sync(const char *dir);
int mt_dir_create(const char *dir); /* mkdir -p of one level; OK if it exists */
int mt_path_rename(const char *from, const char *to);
int mt_path_remove(const char *path); /* OK if it does not exist */

/* Calls fn for every entry name in dir except "." and ".."; a negative
 * return from fn stops the walk and is returned. */
int mt_dir_list(const char *dir, int (*fn)(void *ctx, const char *name), void *ctx);

#endif
