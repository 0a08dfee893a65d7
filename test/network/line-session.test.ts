/**
 * LineSession without a real tool: a fake child that answers each line, so
 * the framing, the environment handed to the child, the replacement of a
 * child after `retireAfter` commands and the answers of a killed child are
 * checked without root.
 */
import t from 'tap';
import type { CommandRunner, LongRunningChild } from '../../src/network/linux/command.js';
import { LineSession, type SessionProtocol } from '../../src/network/linux/line-session.js';

interface FakeChild extends LongRunningChild {
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly lines: string[];
  ended: boolean;
  killed: boolean;
}

interface FakeOptions {
  /** A child that never answers (a hung tool). */
  readonly silent?: boolean;
  /** How long a killed child takes to exit; null: it never does (stuck in the kernel). */
  readonly exitAfterKillMs?: number | null;
}

/**
 * Each child answers `cmd` with `<pid>:cmd` and the sentinel `END` with
 * itself, a tick later; once killed it exits after `exitAfterKillMs`.
 */
function fakeRunner(options: FakeOptions = {}): { runner: CommandRunner; children: FakeChild[] } {
  const children: FakeChild[] = [];
  const runner: CommandRunner = {
    run: () => Promise.reject(new Error('not used')),
    startMerged: (_argv, env) => {
      const pid = children.length + 1;
      let output: (chunk: string) => void = () => undefined;
      const exits: ((code: number | null, signal: string | null) => void)[] = [];
      const child: FakeChild = {
        pid,
        env,
        lines: [],
        ended: false,
        killed: false,
        write: (text) => {
          for (const line of text.split('\n').filter((l) => l !== '')) {
            child.lines.push(line);
            if (options.silent !== true) setImmediate(() => output(line === 'END' ? 'END\n' : `${pid}:${line}\n`));
          }
          return true;
        },
        onOutput: (listener) => {
          output = listener;
        },
        onExit: (listener) => {
          exits.push(listener);
        },
        end: () => {
          child.ended = true;
        },
        kill: () => {
          child.killed = true;
          const after = options.exitAfterKillMs === undefined ? 0 : options.exitAfterKillMs;
          if (after !== null) setTimeout(() => exits.forEach((listener) => listener(null, 'SIGKILL')), after);
        },
      };
      children.push(child);
      return child;
    },
  };
  return { runner, children };
}

function protocol(extra: Partial<SessionProtocol> = {}): SessionProtocol {
  return {
    name: 'fake',
    argv: ['fake'],
    frame: (command) => `${command}\nEND\n`,
    take: (buffer) => {
      const end = buffer.indexOf('END\n');
      if (end < 0) return null;
      return { answer: { ok: true, output: buffer.slice(0, end).trim() }, rest: buffer.slice(end + 4) };
    },
    ...extra,
  };
}

t.test('the child gets the protocol\'s environment', async (t) => {
  const { runner, children } = fakeRunner();
  const session = new LineSession(runner, protocol({ env: { HOME: '/nonexistent/x' } }));
  t.teardown(() => session.close());
  t.same(await session.exec('a'), { ok: true, output: '1:a' });
  t.same(children[0]?.env, { HOME: '/nonexistent/x' });
});

t.test('a child that has answered retireAfter commands is replaced, ending by its input', async (t) => {
  const { runner, children } = fakeRunner();
  const session = new LineSession(runner, protocol({ retireAfter: 2 }));
  t.teardown(() => session.close());
  const answers: string[] = [];
  for (const c of ['a', 'b', 'c', 'd', 'e']) answers.push((await session.exec(c)).output);
  t.same(answers, ['1:a', '1:b', '2:c', '2:d', '3:e'], 'two commands per child, in order, none lost');
  t.equal(session.starts, 3);
  t.equal(session.retired, 2);
  t.same(
    children.map((c) => [c.ended, c.killed]),
    [
      [true, false],
      [true, false],
      [false, false],
    ],
    'the retired children had their input closed (no signal); the current one runs',
  );
  t.same(children[2]?.lines, ['e', 'END']);
});

t.test('the replacement starts soon after the retirement, not inside the answer that retired the old one', async (t) => {
  const { runner, children } = fakeRunner();
  const session = new LineSession(runner, protocol({ retireAfter: 1 }));
  t.teardown(() => session.close());
  await session.exec('a');
  t.equal(children.length, 1, 'the caller of the last answer goes on before any process is started');
  await new Promise((r) => setImmediate(r));
  t.equal(children.length, 2, 'then the next child starts, before any command needs it');
  t.same((await session.exec('b')).output, '2:b');
});

t.test('commands already waiting finish on the old child before it is retired', async (t) => {
  const { runner } = fakeRunner();
  const session = new LineSession(runner, protocol({ retireAfter: 2 }));
  t.teardown(() => session.close());
  const answers = await Promise.all(['a', 'b', 'c', 'd'].map((c) => session.exec(c)));
  t.same(
    answers.map((a) => a.output),
    ['1:a', '1:b', '1:c', '1:d'],
    'four pipelined commands: the child is not replaced while any waits',
  );
  t.equal(session.retired, 1, 'and is replaced once idle');
  t.same((await session.exec('e')).output, '2:e');
});

t.test('without retireAfter one child serves every command', async (t) => {
  const { runner } = fakeRunner();
  const session = new LineSession(runner, protocol());
  t.teardown(() => session.close());
  for (let i = 0; i < 50; i++) await session.exec(`c${i}`);
  t.equal(session.starts, 1);
  t.equal(session.retired, 0);
});

t.test('a command whose child was killed is answered once that child has exited, not before', async (t) => {
  const { runner, children } = fakeRunner({ silent: true, exitAfterKillMs: 300 });
  const session = new LineSession(runner, protocol(), { answerTimeoutMs: 50 });
  t.teardown(() => session.close());
  const started = performance.now();
  const answer = await session.exec('a');
  const tookMs = performance.now() - started;
  t.equal(children[0]?.killed, true, 'the hung child was killed');
  t.same(answer, { ok: false, output: 'fake did not answer within 50 ms' }, 'a plain failure: the child is gone');
  // Killed at 50 ms, exited 300 ms later: a killed nft may still be committing the command until it has exited.
  t.ok(tookMs >= 340, `answered after the child exited (${Math.round(tookMs)} ms)`);
  t.equal(session.lingering(), 0, 'nothing left running');
});

t.test('a killed child that does not exit is given up on after a second, and counted until it exits', async (t) => {
  const { runner } = fakeRunner({ silent: true, exitAfterKillMs: 1500 });
  const session = new LineSession(runner, protocol(), { answerTimeoutMs: 50 });
  t.teardown(() => session.close());
  const started = performance.now();
  const answer = await session.exec('a');
  const tookMs = performance.now() - started;
  t.same(answer, { ok: false, output: 'fake did not answer within 50 ms; it had not exited 1000 ms after being killed', lingering: true });
  t.ok(tookMs >= 1040 && tookMs < 1500, `answered when the wait ran out (${Math.round(tookMs)} ms)`);
  t.equal(session.lingering(), 1, 'the killed child still runs');
  await new Promise((r) => setTimeout(r, 1600 - tookMs));
  t.equal(session.lingering(), 0, 'and is no longer counted once it has exited');
});
