/**
 * A CommandRunner that runs nothing, as if on a host without addresses or
 * tables: every command succeeds at once (a JSON listing is empty), a
 * long-lived `nft -i` or `ip -batch` answers each command as the real tool
 * does when it succeeds, and any other long-lived child (a ready arping
 * shell) ends after the first thing written to it.
 *
 * For LinuxDriver.warmUp only: it lets the driver's takeover code run once
 * at start without touching the kernel.
 */
import type { CommandResult, CommandRunner, LongRunningChild } from './command.js';
import { ipQuietAnswers } from './ip-session.js';
import { nftAnswersOnEmptyHost } from './nft-session.js';

export class StandInRunner implements CommandRunner {
  /** Every command line it was given, in order (tests). */
  readonly seen: string[] = [];

  run(argv: readonly string[]): Promise<CommandResult> {
    this.seen.push(argv.join(' '));
    return Promise.resolve({ code: 0, stdout: argv.includes('-j') ? emptyListing(argv) : '', stderr: '', failure: null });
  }

  startMerged(argv: readonly string[]): LongRunningChild {
    this.seen.push(argv.join(' '));
    const answer = argv.includes('-batch') ? ipQuietAnswers : argv.includes('-i') ? nftAnswersOnEmptyHost : null;
    return new StandInChild(answer);
  }
}

class StandInChild implements LongRunningChild {
  readonly pid = undefined;
  private readonly output: ((chunk: string) => void)[] = [];
  private readonly exit: ((code: number | null, signal: string | null) => void)[] = [];
  private ended = false;

  /** `answer` turns what was written into what the tool prints; null: a child that ends once written to. */
  constructor(private readonly answer: ((written: string) => string) | null) {}

  write(text: string): boolean {
    if (this.ended) return false;
    const answer = this.answer;
    if (answer === null) this.end();
    else setImmediate(() => !this.ended && this.output.forEach((listener) => listener(answer(text))));
    return true;
  }

  onOutput(listener: (chunk: string) => void): void {
    this.output.push(listener);
  }

  onExit(listener: (code: number | null, signal: string | null) => void): void {
    this.exit.push(listener);
  }

  end(): void {
    this.finish(0, null);
  }

  kill(signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): void {
    this.finish(null, signal);
  }

  private finish(code: number | null, signal: string | null): void {
    if (this.ended) return;
    this.ended = true;
    setImmediate(() => this.exit.forEach((listener) => listener(code, signal)));
  }
}

/** An empty JSON listing in the shape the tool prints: nft's object, ip's array. */
function emptyListing(argv: readonly string[]): string {
  return argv.some((a) => a === 'nft' || a.endsWith('/nft')) ? '{"nftables": []}' : '[]';
}
