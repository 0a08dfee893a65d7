/**
 * Cheap nft transactions for lease renewals. A fresh `nft` process costs
 * 2.5-16 ms; a long-lived `nft -j -i` fed one line per transaction costs
 * well under a millisecond (measured: docs/fencing.md). The sentinel after
 * each transaction is `describe ct mark`, whose output never changes.
 *
 * `nft -i` is an interactive shell: it loads `$HOME/.nft.history` at start,
 * adds every line to an in-memory history and saves it all when its input
 * ends (the agent exiting). Renewals are distinct lines (the timeout
 * changes), so a long-lived child would grow without bound, each line
 * costing more than the last, and every later start would load the file
 * (measured: a 32 MB file from test runs made each transaction 1-3 ms and
 * a start 0.9 s). So the child gets a home that does not exist, and is
 * replaced every RETIRE_AFTER transactions.
 */
import { describeFailure, type CommandRunner } from './command.js';
import { LineSession, type LineSessionOptions, type SessionAnswer } from './line-session.js';

export type NftExecResult = SessionAnswer;

/** Runs one nft transaction (one line, statements separated by `;`). */
export interface NftExecutor {
  exec(command: string): Promise<NftExecResult>;
  /** nft processes killed (a command timed out) that have not exited yet: they may still commit what they were given. */
  lingering(): number;
  close(): void;
}

const SENTINEL_COMMAND = 'describe ct mark';
/** A home directory that cannot exist: nft's history is neither read nor written. */
export const NFT_HOME = '/nonexistent/hapair-nft';
/** Transactions per child (two history lines each); about 0.05 ms a line at this size, measured. */
const RETIRE_AFTER = 1000;
const SENTINEL_OUTPUT = 'ct expression, datatype mark (packet mark) (basetype integer), 32 bits\n';

/**
 * What `nft -j -i` would print for `written` (framed commands) on a host
 * with no tables: nothing for a change, an empty listing for a `list`
 * (the stand-in runner answers so).
 */
export function nftAnswersOnEmptyHost(written: string): string {
  return written
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (line === SENTINEL_COMMAND ? SENTINEL_OUTPUT : line.startsWith('list ') ? '{"nftables": []}\n' : ''))
    .join('');
}

function isError(output: string): boolean {
  return /^Error:/m.test(output);
}

export interface NftSessionOptions extends LineSessionOptions {
  readonly nftPath?: string;
  /** Transactions before the child is replaced (tests use a small number). */
  readonly retireAfter?: number;
}

export class InteractiveNft extends LineSession implements NftExecutor {
  constructor(runner: CommandRunner, options: NftSessionOptions = {}) {
    super(
      runner,
      {
        name: 'nft -i',
        // -j: listings come back as JSON; commands are still read in nft's own syntax.
        argv: [options.nftPath ?? 'nft', '-j', '-i'],
        env: { HOME: NFT_HOME },
        retireAfter: options.retireAfter ?? RETIRE_AFTER,
        frame: (command) => `${command}\n${SENTINEL_COMMAND}\n`,
        take: (buffer) => {
          const end = buffer.indexOf(SENTINEL_OUTPUT);
          if (end < 0) return null;
          const output = buffer.slice(0, end);
          return { answer: { ok: !isError(output), output }, rest: buffer.slice(end + SENTINEL_OUTPUT.length) };
        },
      },
      options,
    );
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

  /** Each run is answered once its process has exited (or could not be started). */
  lingering(): number {
    return 0;
  }

  close(): void {}
}

/** True when nft refused a command because an element, set or table is missing. */
export function isNotFound(output: string): boolean {
  return /No such file or directory/.test(output);
}
