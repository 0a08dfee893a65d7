/**
 * Operating errors of the storage layer. Each names the data path so an
 * operator reading a failed start knows which directory to look at.
 */

/** The store exists but its content is not a valid Raft state. It is never repaired or reset silently. */
export class StorageCorruptError extends Error {
  override name = 'StorageCorruptError';
  constructor(
    readonly path: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`Raft store at ${path} is corrupt: ${problem}. Refusing to start; the data was left untouched.`, options);
  }
}

/** Another process (or another open in this one) holds the store's lock. */
export class StorageLockedError extends Error {
  override name = 'StorageLockedError';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`Raft store at ${path} is locked: another process (or another open store in this process) is using this data dir`, options);
  }
}

/** The store could not be opened for a reason other than corruption or the lock (permissions, I/O). */
export class StorageOpenError extends Error {
  override name = 'StorageOpenError';
  constructor(
    readonly path: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot open Raft store at ${path}: ${detail}`, options);
  }
}

/** A write failed (disk full, I/O error, store closed); nothing of the failed batch was applied. */
export class StorageWriteError extends Error {
  override name = 'StorageWriteError';
  constructor(
    readonly path: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`write to Raft store at ${path} failed: ${detail}`, options);
  }
}

/** "CODE: message" of an error and of its causes (level wraps the native error as `cause`). */
export function errorDetail(error: unknown, depth = 0): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const own = typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  return error.cause === undefined || depth >= 3 ? own : `${own} (${errorDetail(error.cause, depth + 1)})`;
}

/** The first `code` string found on an error or its causes. */
export function errorCode(error: unknown, depth = 0): string | null {
  if (!(error instanceof Error) || depth > 3) return null;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code !== 'LEVEL_DATABASE_NOT_OPEN') return code;
  return errorCode(error.cause, depth + 1) ?? (typeof code === 'string' ? code : null);
}
