/**
 * The words djb's error_str prints for an errno, so our messages read as multilog's
 * ("unable to lock directory ./main: temporary failure"). Takes Node's error codes.
 */
const TEXT: Record<string, string> = {
  EINTR: "interrupted system call",
  ENOMEM: "out of memory",
  ENOENT: "file does not exist",
  ETXTBSY: "text busy",
  EIO: "input/output error",
  EEXIST: "file already exists",
  ETIMEDOUT: "timed out",
  EINPROGRESS: "operation in progress",
  EAGAIN: "temporary failure",
  EWOULDBLOCK: "temporary failure",
  EPIPE: "broken pipe",
  EPERM: "permission denied",
  EACCES: "access denied",
  ENXIO: "device not configured",
  E2BIG: "argument list too long",
  ENOEXEC: "exec format error",
  EBADF: "file descriptor not open",
  ECHILD: "no child processes",
  EDEADLK: "operation would cause deadlock",
  EFAULT: "bad address",
  ENOTBLK: "not a block device",
  EBUSY: "device busy",
  EXDEV: "cross-device link",
  ENODEV: "device does not support operation",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EINVAL: "invalid argument",
  ENFILE: "system cannot open more files",
  EMFILE: "process cannot open more files",
  ENOTTY: "not a tty",
  EFBIG: "file too big",
  ENOSPC: "out of disk space",
  ESPIPE: "unseekable descriptor",
  EROFS: "read-only file system",
  EMLINK: "too many links",
  EDOM: "input out of range",
  ERANGE: "output out of range",
  ENAMETOOLONG: "file name too long",
  ELOOP: "symbolic link loop",
  ENOTEMPTY: "directory not empty",
  EDQUOT: "disk quota exceeded",
  ESTALE: "stale NFS file handle",
  ENOSYS: "operation not supported",
  EOPNOTSUPP: "operation not supported",
};

export function djbErrorText(err: unknown): string {
  const code = (err as { code?: string } | null)?.code;
  if (code && TEXT[code]) return TEXT[code];
  return code ? "unknown error" : String((err as Error)?.message ?? err);
}
