/**
 * VIP addresses through one long-lived `ip -force -batch -`: a fresh `ip`
 * process costs 2-8 ms (more on a loaded host), which a takeover and a
 * release would otherwise wait for; a line in a running one costs a
 * fraction of a millisecond. iproute2 prints nothing on success, so each
 * command is followed by `link show dev hapair-none0`, a device that does
 * not exist: its two fixed error lines end the answer (`-force` keeps the
 * batch going after an error).
 */
import type { CommandRunner } from './command.js';
import { LineSession, type LineSessionOptions } from './line-session.js';

const SENTINEL_DEVICE = 'hapair-none0';
const SENTINEL_END = new RegExp(`Device "${SENTINEL_DEVICE}" does not exist\\.\\nCommand failed -:\\d+\\n`);
const SENTINEL_LINE = `link show dev ${SENTINEL_DEVICE}`;
const FAILED = /^Command failed -:\d+$/m;
const FAILED_LINES = /^Command failed -:\d+\n?/gm;

export class InteractiveIp extends LineSession {
  constructor(runner: CommandRunner, ipPath = 'ip', options: LineSessionOptions = {}) {
    super(
      runner,
      {
        name: 'ip -batch',
        argv: [ipPath, '-force', '-batch', '-'],
        frame: (command) => `${command}\n${SENTINEL_LINE}\n`,
        take: (buffer) => {
          const end = SENTINEL_END.exec(buffer);
          if (end === null) return null;
          const raw = buffer.slice(0, end.index);
          return {
            answer: { ok: !FAILED.test(raw), output: raw.replace(FAILED_LINES, '').trim() },
            rest: buffer.slice(end.index + end[0].length),
          };
        },
      },
      options,
    );
  }
}

/**
 * One `ip` command line for the batch: the options a single `ip` call takes
 * first (`-6`) are not read there, and the address already names its family.
 */
export function batchLine(args: readonly string[]): string {
  return args.filter((a) => a !== '-6' && a !== '-4').join(' ');
}

/** What `ip -force -batch -` prints for `written` (framed commands) when each succeeds (the stand-in runner answers so). */
export function ipQuietAnswers(written: string): string {
  const n = written.split('\n').filter((line) => line === SENTINEL_LINE).length;
  return `Device "${SENTINEL_DEVICE}" does not exist.\nCommand failed -:1\n`.repeat(n);
}
