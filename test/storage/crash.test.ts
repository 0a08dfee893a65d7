/**
 * SIGKILL a writer in the middle of heavy synced writes, several times over
 * the same directory, and check after each kill that every acknowledged
 * entry and snapshot survived and that the log is a clean contiguous prefix
 * of the deterministic content (load() itself rejects gaps and garbage).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { LevelDbStorage } from '../../src/storage/leveldb-storage.js';
import { entryAt, snapshotAt } from './fixtures/log-content.js';
import { tempDir } from './helpers.js';

const ROUNDS = 5;
const MIN_ACKS_BEFORE_KILL = 150;
const MAX_ACKS_BEFORE_KILL = 450;
/** A round that has not reached its kill point by then is stuck. */
const ROUND_DEADLINE_MS = 15_000;

const WRITER = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** mulberry32: the kill points are reproducible from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface RoundResult {
  acks: number;
  lastAcked: number;
  lastSnapshotAcked: number;
}

/** Runs the writer until it has acknowledged `killAfterAcks` batches, then SIGKILLs it. */
function runAndKill(t: Test, dir: string, killAfterAcks: number): Promise<RoundResult> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', WRITER, dir], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const result: RoundResult = { acks: 0, lastAcked: 0, lastSnapshotAcked: 0 };
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer made only ${result.acks} acks within ${ROUND_DEADLINE_MS} ms; stderr: ${stderr}`));
    }, ROUND_DEADLINE_MS);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      if (killed) return;
      const [kind, value] = line.split(' ');
      const index = Number(value);
      if (kind === 'a') {
        result.acks++;
        result.lastAcked = index;
      } else if (kind === 's') {
        result.lastSnapshotAcked = index;
      }
      if (result.acks >= killAfterAcks) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (killed && signal === 'SIGKILL') resolve(result);
      else reject(new Error(`writer exited on its own (code ${code}, signal ${signal}) after ${result.acks} acks; stderr: ${stderr}`));
    });
  });
}

t.test('every acknowledged write survives SIGKILL and the log stays a clean prefix', async (t) => {
  const seed = Number(process.env['HAPAIR_CRASH_SEED'] ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (rerun with HAPAIR_CRASH_SEED=${seed})`);
  const random = prng(seed);
  const dir = tempDir(t, 'hapair-crash-');
  let everAcked = 0;
  let everSnapshotAcked = 0;

  for (let round = 1; round <= ROUNDS; round++) {
    const killAfter = MIN_ACKS_BEFORE_KILL + Math.floor(random() * (MAX_ACKS_BEFORE_KILL - MIN_ACKS_BEFORE_KILL));
    const result = await runAndKill(t, dir, killAfter);
    everAcked = Math.max(everAcked, result.lastAcked);
    everSnapshotAcked = Math.max(everSnapshotAcked, result.lastSnapshotAcked);

    const store = await LevelDbStorage.open(dir);
    const state = await store.load(null);
    await store.close();
    const snapshotIndex = state.snapshot?.meta.index ?? 0;
    const last = state.entries[state.entries.length - 1]?.index ?? snapshotIndex;
    const context = `round ${round}, killed after ${result.acks} acks (last acked ${result.lastAcked})`;

    t.ok(last >= everAcked, `${context}: log reaches ${last}, at least the acknowledged ${everAcked}`);
    t.ok(snapshotIndex >= everSnapshotAcked, `${context}: snapshot at ${snapshotIndex} is at least the acknowledged ${everSnapshotAcked}`);
    if (state.snapshot !== null) t.same(state.snapshot, snapshotAt(snapshotIndex), `${context}: snapshot content`);
    let mismatches = 0;
    for (const entry of state.entries) {
      if (JSON.stringify(entry, bytesAsArray) !== JSON.stringify(entryAt(entry.index), bytesAsArray)) mismatches++;
    }
    t.equal(mismatches, 0, `${context}: all ${state.entries.length} stored entries hold exactly their content`);
    t.equal(state.entries[0]?.index ?? snapshotIndex + 1, snapshotIndex + 1, `${context}: log starts right after the snapshot`);
    t.equal(state.hardState.term >= (state.entries[state.entries.length - 1]?.term ?? 0), true, `${context}: hard state keeps up with the log`);
  }
});

function bytesAsArray(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? Array.from(value) : value;
}
