/**
 * A long-lived command-line tool fed one command per line (`nft -i`,
 * `ip -batch -`): a fresh process costs milliseconds, a line in a running
 * one a fraction of one. Such tools print nothing on success, so each
 * command is followed by a sentinel command whose known output marks the
 * end of the answer; stdout and stderr share one pipe so an error is always
 * read before its sentinel. A child that exits or stops answering fails
 * every waiting command and is started again by the next one.
 *
 * A command that fails because its child was killed is answered only once
 * that child has exited: a killed `nft -i` may still be inside the system
 * call that commits a lease, and the driver counts the lease's end from the
 * answer (docs/fencing.md). A child that has not exited a second after the
 * kill is given up on: the answer says so (`lingering`), and `lingering()`
 * counts such children until they exit.
 */
import { assert } from '../../util/assert.js';
import type { CommandRunner, LongRunningChild } from './command.js';

export interface SessionAnswer {
  readonly ok: boolean;
  /** What the tool printed for the command: a listing, or the error text. */
  readonly output: string;
  /** The command's child was killed and had not exited when this failure was answered: it may still carry the command out. */
  readonly lingering?: true;
}

/** How one tool is framed. */
export interface SessionProtocol {
  /** For messages: `nft -i`. */
  readonly name: string;
  readonly argv: readonly string[];
  /** Added to the child's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * A child that has answered this many commands is replaced by a fresh one
   * once nothing is waiting (a tool that keeps state per line, such as
   * `nft -i`'s in-memory history, would otherwise grow for the agent's life).
   */
  readonly retireAfter?: number;
  /** The command's line and its sentinel's. */
  frame(command: string): string;
  /** One complete answer off the front of `buffer` and what is left after it, or null while none is complete. */
  take(buffer: string): { readonly answer: SessionAnswer; readonly rest: string } | null;
}

export interface LineSessionOptions {
  /** Commands waiting for an answer; more are refused. */
  readonly maxPending?: number;
  /** A command not answered within this long kills the child (it is restarted on the next command). */
  readonly answerTimeoutMs?: number;
}

interface Pending {
  readonly resolve: (answer: SessionAnswer) => void;
  readonly timer: NodeJS.Timeout;
}

/** A retired child that has not exited at the end of its input by then is killed. */
const RETIRE_GRACE_MS = 2000;

/** A killed child that has not exited by then is given up on, and its waiting commands are answered all the same. */
const EXIT_WAIT_MS = 1000;

/** Output with no answer in sight grows only if the tool misbehaves: bounded. */
const MAX_BUFFER_CHARS = 1_000_000;

export class LineSession {
  private child: LongRunningChild | null = null;
  /** Settles when `child` has exited (its output read). */
  private childExited: Promise<void> = Promise.resolve();
  private closed = false;
  /** Commands the current child has answered. */
  private answered = 0;
  private buffer = '';
  private readonly pending: Pending[] = [];
  private readonly maxPending: number;
  private readonly answerTimeoutMs: number;
  /** Killed children that have not exited yet. */
  private lingeringChildren = 0;
  /** Times the child was (re)started: a restart storm shows in status. */
  starts = 0;
  /** Of those, children replaced after `retireAfter` commands. */
  retired = 0;

  constructor(
    private readonly runner: CommandRunner,
    private readonly protocol: SessionProtocol,
    options: LineSessionOptions = {},
  ) {
    this.maxPending = options.maxPending ?? 64;
    this.answerTimeoutMs = options.answerTimeoutMs ?? 2000;
  }

  exec(command: string): Promise<SessionAnswer> {
    assert(!command.includes('\n'), `${this.protocol.name} takes one command per line`);
    if (this.pending.length >= this.maxPending) {
      return Promise.resolve({ ok: false, output: `${this.protocol.name}: ${this.pending.length} commands already waiting` });
    }
    const child = this.ensureChild();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.fail(`${this.protocol.name} did not answer within ${this.answerTimeoutMs} ms`), this.answerTimeoutMs);
      this.pending.push({ resolve, timer });
      child.write(this.protocol.frame(command));
    });
  }

  /** Starts the child now, so the first real command does not wait for it. */
  warm(): void {
    this.ensureChild();
  }

  /** Children killed (a command timed out, the session closed) that have not exited yet: what they were given may still be done. */
  lingering(): number {
    return this.lingeringChildren;
  }

  close(): void {
    this.closed = true;
    this.fail(`${this.protocol.name} session closed`);
  }

  private ensureChild(): LongRunningChild {
    if (this.child !== null) return this.child;
    const child = this.runner.startMerged(this.protocol.argv, this.protocol.env);
    this.starts++;
    this.child = child;
    this.childExited = new Promise((resolve) => child.onExit(() => resolve()));
    this.answered = 0;
    this.buffer = '';
    child.onOutput((chunk) => {
      if (this.child !== child) return;
      this.buffer += chunk;
      this.drain();
    });
    child.onExit((code, signal) => {
      if (this.child !== child) return;
      // Some errors end the tool (iproute2 exits on an argument it cannot parse): keep what it said.
      const said = this.buffer.trim().split('\n')[0] ?? '';
      this.fail(`${this.protocol.name} exited (${signal ?? `code ${code}`})${said === '' ? '' : `: ${said}`}`);
    });
    return child;
  }

  private drain(): void {
    for (;;) {
      const next = this.protocol.take(this.buffer);
      if (next === null) break;
      this.buffer = next.rest;
      const head = this.pending.shift();
      if (head === undefined) continue;
      clearTimeout(head.timer);
      this.answered++;
      head.resolve(next.answer);
    }
    if (this.buffer.length > MAX_BUFFER_CHARS) this.fail(`${this.protocol.name} printed too much without an answer`);
    else this.retireIfDue();
  }

  /** Replaces a child past `retireAfter` while idle; the new one starts at once so the next command does not wait for it. */
  private retireIfDue(): void {
    const limit = this.protocol.retireAfter;
    if (limit === undefined || this.answered < limit || this.pending.length > 0 || this.child === null) return;
    const old = this.child;
    this.child = null;
    this.buffer = '';
    // It ends as when the agent exits (end of input), not by a signal.
    old.end();
    setTimeout(() => old.kill(), RETIRE_GRACE_MS).unref();
    this.retired++;
    // After the caller of this answer has gone on: starting a process blocks the event loop for a few ms.
    setImmediate(() => {
      if (this.child === null && !this.closed) this.ensureChild();
    });
  }

  /**
   * Drops the child and fails every waiting command once the child has
   * exited (at most EXIT_WAIT_MS after killing it); the next command starts
   * a new child.
   */
  private fail(reason: string): void {
    const child = this.child;
    const exited = this.childExited;
    this.child = null;
    this.buffer = '';
    const waiting = this.pending.splice(0);
    for (const p of waiting) clearTimeout(p.timer);
    const answer = (output: string, lingering: boolean): void =>
      waiting.forEach((p) => p.resolve(lingering ? { ok: false, output, lingering: true } : { ok: false, output }));
    if (child === null) {
      answer(reason, false);
      return;
    }
    child.kill();
    this.lingeringChildren++;
    void exited.then(() => this.lingeringChildren--);
    if (waiting.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`${reason}; it had not exited ${EXIT_WAIT_MS} ms after being killed`), EXIT_WAIT_MS);
    });
    void Promise.race([exited.then(() => null), givenUp]).then((late) => {
      clearTimeout(timer);
      answer(late ?? reason, late !== null);
    });
  }
}
