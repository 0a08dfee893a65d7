/**
 * Cheap nft transactions for lease renewals. A fresh `nft` process costs
 * 2.5-16 ms; a long-lived `nft -i` fed one line per transaction costs about
 * 0.4 ms (measured: docs/fencing.md). `nft -i` prints nothing on success, so
 * each command is followed by a sentinel command whose fixed output marks
 * the end of the answer; stdout and stderr share one pipe so an error is
 * always read before its sentinel.
 */
import { assert } from '../../util/assert.js';
import type { CommandRunner, LongRunningChild } from './command.js';
import { describeFailure } from './command.js';

export interface NftExecResult {
  readonly ok: boolean;
  /** What nft printed for the command: the listing, or the error text. */
  readonly output: string;
}

/** Runs one nft transaction (one line, statements separated by `;`). */
export interface NftExecutor {
  exec(command: string): Promise<NftExecResult>;
  close(): void;
}

const SENTINEL_COMMAND = 'describe ct mark';
const SENTINEL_OUTPUT = 'ct expression, datatype mark (packet mark) (basetype integer), 32 bits\n';

function isError(output: string): boolean {
  return /^Error:/m.test(output);
}

interface Pending {
  readonly resolve: (result: NftExecResult) => void;
  readonly timer: NodeJS.Timeout;
}

export interface NftSessionOptions {
  readonly nftPath?: string;
  /** Commands waiting for an answer; more are refused. */
  readonly maxPending?: number;
  /** A command not answered within this long kills the child (it is restarted on the next command). */
  readonly answerTimeoutMs?: number;
}

export class InteractiveNft implements NftExecutor {
  private child: LongRunningChild | null = null;
  private buffer = '';
  private readonly pending: Pending[] = [];
  private readonly nftPath: string;
  private readonly maxPending: number;
  private readonly answerTimeoutMs: number;
  /** Times the child was (re)started: a restart storm shows in status. */
  starts = 0;

  constructor(
    private readonly runner: CommandRunner,
    options: NftSessionOptions = {},
  ) {
    this.nftPath = options.nftPath ?? 'nft';
    this.maxPending = options.maxPending ?? 64;
    this.answerTimeoutMs = options.answerTimeoutMs ?? 2000;
  }

  exec(command: string): Promise<NftExecResult> {
    assert(!command.includes('\n'), 'nft -i takes one transaction per line');
    if (this.pending.length >= this.maxPending) {
      return Promise.resolve({ ok: false, output: `nft: ${this.pending.length} commands already waiting` });
    }
    const child = this.ensureChild();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.fail(`nft -i did not answer within ${this.answerTimeoutMs} ms`), this.answerTimeoutMs);
      this.pending.push({ resolve, timer });
      child.write(`${command}\n${SENTINEL_COMMAND}\n`);
    });
  }

  close(): void {
    this.fail('nft session closed');
  }

  private ensureChild(): LongRunningChild {
    if (this.child !== null) return this.child;
    // -j: listings come back as JSON; commands are still read in nft's own syntax.
    const child = this.runner.startMerged([this.nftPath, '-j', '-i']);
    this.starts++;
    this.child = child;
    this.buffer = '';
    child.onOutput((chunk) => {
      if (this.child !== child) return;
      this.buffer += chunk;
      this.drain();
    });
    child.onExit((code, signal) => {
      if (this.child !== child) return;
      this.fail(`nft -i exited (${signal ?? `code ${code}`})`);
    });
    return child;
  }

  private drain(): void {
    for (;;) {
      const end = this.buffer.indexOf(SENTINEL_OUTPUT);
      if (end < 0) break;
      const output = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + SENTINEL_OUTPUT.length);
      const head = this.pending.shift();
      if (head === undefined) continue;
      clearTimeout(head.timer);
      head.resolve({ ok: !isError(output), output });
    }
    // Output with no sentinel in sight grows only if nft misbehaves: bound it.
    if (this.buffer.length > 1_000_000) this.fail('nft -i printed too much without an answer');
  }

  /** Fails every waiting command and drops the child; the next command starts a new one. */
  private fail(reason: string): void {
    const child = this.child;
    this.child = null;
    this.buffer = '';
    child?.kill();
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, output: reason });
    }
  }
}

/** One `nft -f -` process per transaction: slower, no state; the fallback. */
export class OneShotNft implements NftExecutor {
  constructor(
    private readonly runner: CommandRunner,
    private readonly nftPath = 'nft',
    private readonly timeoutMs = 5000,
  ) {}

  async exec(command: string): Promise<NftExecResult> {
    const argv = [this.nftPath, '-f', '-'];
    const result = await this.runner.run(argv, { input: `${command}\n`, timeoutMs: this.timeoutMs });
    const output = result.stdout + result.stderr;
    if (result.code === 0) return { ok: true, output };
    return { ok: false, output: output.trim() === '' ? describeFailure(argv, result) : output };
  }

  close(): void {}
}

/** True when nft refused a command because an element, set or table is missing. */
export function isNotFound(output: string): boolean {
  return /No such file or directory/.test(output);
}
