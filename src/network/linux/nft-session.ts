/**
 * Cheap nft transactions for lease renewals. A fresh `nft` process costs
 * 2.5-16 ms; a long-lived `nft -j -i` fed one line per transaction costs
 * about 0.4 ms (measured: docs/fencing.md). The sentinel after each
 * transaction is `describe ct mark`, whose output never changes.
 */
import { describeFailure, type CommandRunner } from './command.js';
import { LineSession, type LineSessionOptions, type SessionAnswer } from './line-session.js';

export type NftExecResult = SessionAnswer;

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

export interface NftSessionOptions extends LineSessionOptions {
  readonly nftPath?: string;
}

export class InteractiveNft extends LineSession implements NftExecutor {
  constructor(runner: CommandRunner, options: NftSessionOptions = {}) {
    super(
      runner,
      {
        name: 'nft -i',
        // -j: listings come back as JSON; commands are still read in nft's own syntax.
        argv: [options.nftPath ?? 'nft', '-j', '-i'],
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

  close(): void {}
}

/** True when nft refused a command because an element, set or table is missing. */
export function isNotFound(output: string): boolean {
  return /No such file or directory/.test(output);
}
