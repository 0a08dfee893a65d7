/**
 * Running system commands: the one seam between the linux driver and the
 * machine. The driver never spawns by itself; it asks a CommandRunner, so
 * tests can run every command inside a network namespace (a prefix of
 * `ip netns exec NS`) or record them without privileges.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export interface CommandResult {
  /** Exit code, or null when the process was killed (timeout) or could not start. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the command could not be started or was killed: a sentence for an error result. */
  readonly failure: string | null;
}

export interface RunOptions {
  /** Written to the command's standard input, which is then closed. */
  readonly input?: string;
  /** The command is killed (SIGKILL) after this long. */
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
  /** Aborting kills the command (SIGKILL); the result then carries a failure. */
  readonly signal?: AbortSignal;
  /** The signal for aborting and for the timeout (default SIGKILL); SIGTERM lets a wrapper such as timeout(1) stop its child. */
  readonly killSignal?: 'SIGTERM' | 'SIGKILL';
  /** Output kept per stream (default 1,000,000 characters); the rest is dropped. */
  readonly maxOutputChars?: number;
}

/** A child kept running with pipes (the long-lived `nft -i`). */
export interface LongRunningChild {
  write(text: string): boolean;
  onOutput(listener: (chunk: string) => void): void;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  /** Closes its input: a tool reading lines then exits by itself. */
  end(): void;
  /** SIGKILL unless told otherwise. */
  kill(signal?: 'SIGTERM' | 'SIGKILL'): void;
  readonly pid: number | undefined;
}

export interface CommandRunner {
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Starts a child whose stdout and stderr arrive merged, in the order it wrote them; `env` is added to the agent's. */
  startMerged(argv: readonly string[], env?: Readonly<Record<string, string>>): LongRunningChild;
}

/** Output beyond this is dropped: a misbehaving command must not grow the agent's heap. */
const MAX_OUTPUT_CHARS = 1_000_000;
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Runs commands on this machine, optionally behind a prefix (`['ip', 'netns',
 * 'exec', 'ns1']`) so that a whole driver can be pointed at a namespace.
 */
export class SystemRunner implements CommandRunner {
  constructor(private readonly prefix: readonly string[] = []) {}

  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return runProcess([...this.prefix, ...argv], options);
  }

  startMerged(argv: readonly string[], env?: Readonly<Record<string, string>>): LongRunningChild {
    // One pipe for both streams keeps an error message ordered before the
    // sentinel that follows it; the shell only redirects and then execs.
    const full = [...this.prefix, ...argv].map(shellQuote).join(' ');
    const child = spawn('/bin/sh', ['-c', `exec ${full} 2>&1`], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: env === undefined ? process.env : { ...process.env, ...env },
    });
    return wrapChild(child as unknown as ChildProcessWithoutNullStreams);
  }
}

function wrapChild(child: ChildProcessWithoutNullStreams): LongRunningChild {
  child.stdout.setEncoding('utf8');
  // A write to a dead child raises EPIPE on the stream; the exit listener reports it.
  child.stdin.on('error', () => undefined);
  return {
    pid: child.pid,
    write: (text) => child.stdin.writable && child.stdin.write(text),
    onOutput: (listener) => child.stdout.on('data', (chunk: string) => listener(chunk)),
    onExit: (listener) => {
      // 'close', not 'exit': the output the child wrote before it ended has been read by then.
      child.on('close', (code, signal) => listener(code, signal));
      // 'error' is also what a failed kill emits: only a child that never started has ended by it.
      child.on('error', () => {
        if (child.pid === undefined) listener(null, 'spawn-error');
      });
    },
    end: () => {
      child.stdin.end();
    },
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

function runProcess(argv: readonly string[], options: RunOptions): Promise<CommandResult> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.resolve({ code: null, stdout: '', stderr: '', failure: 'empty command' });
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let failure: string | null = null;
    let settled = false;
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env === undefined ? process.env : { ...process.env, ...options.env },
    });
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const killSignal = options.killSignal ?? 'SIGKILL';
    const timer = setTimeout(() => {
      failure = `${command} did not finish within ${timeoutMs} ms and was killed`;
      child.kill(killSignal);
    }, timeoutMs);
    const abort = (): void => {
      failure = `${command} was stopped`;
      child.kill(killSignal);
    };
    if (options.signal?.aborted === true) abort();
    else options.signal?.addEventListener('abort', abort, { once: true });
    const finish = (code: number | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
      resolve({ code, stdout, stderr, failure });
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    const maxChars = options.maxOutputChars ?? MAX_OUTPUT_CHARS;
    child.stdout.on('data', (chunk: string) => {
      if (stdout.length < maxChars) stdout += chunk;
    });
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < maxChars) stderr += chunk;
    });
    child.on('error', (error) => {
      // A failed kill emits 'error' too; the result waits for the process to end ('close').
      if (child.pid !== undefined) return;
      failure = `cannot run ${command}: ${error.message}`;
      finish(null);
    });
    child.on('close', (code) => finish(code));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Quotes one argument for /bin/sh. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The first error line of a failed command, for a one-line error result. */
export function describeFailure(argv: readonly string[], result: CommandResult): string {
  if (result.failure !== null) return result.failure;
  const text = (result.stderr.trim() || result.stdout.trim()).split('\n')[0] ?? '';
  return `${argv.join(' ')} exited ${result.code}${text === '' ? '' : `: ${text}`}`;
}

/** Where an executable is on PATH (plus the sbin directories root's PATH may lack), or null. */
export async function findExecutable(
  name: string,
  path: string = process.env['PATH'] ?? '',
  fallbackDirs: readonly string[] = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'],
): Promise<string | null> {
  const dirs = [...path.split(delimiter).filter((d) => d !== ''), ...fallbackDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
