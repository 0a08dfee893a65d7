/**
 * Backup export files: JSON or YAML carrying a backup's content and the
 * SHA-256 of its canonical JSON, checked on import. A file from another
 * cluster (or a single node) imports the same way; its origin is recorded.
 */
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { canonicalJson, sha256Hex } from './canonical.js';
import { BackupFileSchema, type BackupFile } from './commands.js';
import type { Backup } from './state.js';

export const BACKUP_FILE_VERSION = 1;

/** Bytes of an export file accepted for parsing (a ruleset plus settings fit well within it). */
export const BACKUP_FILE_MAX_BYTES = 4 * 1024 * 1024;

export type BackupFileFormat = 'json' | 'yaml';

export function backupChecksum(content: BackupFile['content']): string {
  return sha256Hex(canonicalJson(content));
}

/** The portable form of a stored backup; `cluster` names where it was taken. */
export function toBackupFile(backup: Backup, cluster: string | null): BackupFile {
  return {
    id: backup.id,
    cluster,
    at: backup.at,
    author: backup.author,
    comment: backup.comment,
    sha256: backup.sha256,
    index: backup.index,
    content: backup.content,
  };
}

export function formatBackupFile(file: BackupFile, format: BackupFileFormat): string {
  const document = { hapairBackup: BACKUP_FILE_VERSION, ...file };
  return format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : stringifyYaml(document, { lineWidth: 0 });
}

export type ParsedBackupFile =
  | { readonly ok: true; readonly file: BackupFile }
  | { readonly ok: false; readonly code: 'BACKUP_INVALID' | 'CHECKSUM_MISMATCH'; readonly message: string };

/** Parses an export file (JSON is YAML, so one parser reads both) and checks its checksum. */
export function parseBackupFile(text: string): ParsedBackupFile {
  if (Buffer.byteLength(text, 'utf8') > BACKUP_FILE_MAX_BYTES) {
    return { ok: false, code: 'BACKUP_INVALID', message: `backup file is larger than ${BACKUP_FILE_MAX_BYTES} bytes` };
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (cause) {
    return { ok: false, code: 'BACKUP_INVALID', message: `backup file is not JSON or YAML: ${(cause as Error).message}` };
  }
  if (typeof raw !== 'object' || raw === null || !('hapairBackup' in raw)) {
    return { ok: false, code: 'BACKUP_INVALID', message: 'not a hapair backup file (no hapairBackup key)' };
  }
  const { hapairBackup, ...rest } = raw as Record<string, unknown>;
  if (hapairBackup !== BACKUP_FILE_VERSION) {
    return {
      ok: false,
      code: 'BACKUP_INVALID',
      message: `backup file version ${JSON.stringify(hapairBackup)} is not supported (this node reads version ${BACKUP_FILE_VERSION})`,
    };
  }
  if (!Value.Check(BackupFileSchema, rest)) {
    const first = Value.Errors(BackupFileSchema, rest).First();
    const key = first === undefined ? '' : first.path.replace(/^\//, '').replaceAll('/', '.');
    return { ok: false, code: 'BACKUP_INVALID', message: `backup file: ${key}: ${first?.message.toLowerCase() ?? 'invalid'}` };
  }
  const file = rest as BackupFile;
  const actual = backupChecksum(file.content);
  if (actual !== file.sha256) {
    return {
      ok: false,
      code: 'CHECKSUM_MISMATCH',
      message: `backup ${file.id}: content does not match its checksum (file says ${file.sha256}, content is ${actual}); the file was changed or damaged`,
    };
  }
  return { ok: true, file };
}
