/**
 * The load client, run as its own process so that client work does not
 * share an event loop with any system under test. Prints one JSON line.
 *   tsx bench/client.ts '{"kind":"etcd","url":"http://127.0.0.1:2379", ...plan}'
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { etcdPutBody } from './lib/etcd.js';
import { benchNote } from './lib/hapair.js';
import { runLoad, type LoadPlan, type SequentialRecord } from './lib/load.js';

interface ClientArgs extends LoadPlan {
  readonly kind: 'etcd' | 'hapair';
  /** The bench's round, for the record's file name. */
  readonly round?: number;
  readonly url: string;
  readonly token?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ClientArgs;
const VALUE = 'x'.repeat(64);
const REQUEST_TIMEOUT_MS = 30_000;
// node:http with a keep-alive agent rather than fetch: the client shares the
// two cores with the system under test, and fetch cost three times the CPU
// per request (0.6 against 0.2 ms, measured here); the same client drives
// every system.
const agent = new Agent({ keepAlive: true, maxSockets: args.inFlight + 1 });
const base = new URL(args.url);

function post(path: string, body: string, headers: Record<string, string>, i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, path, method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', reject);
        if (status >= 200 && status < 300) {
          // Read to the end (the socket is then reused), keeping nothing.
          res.on('end', () => resolve());
          res.resume();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(new Error(`proposal ${i}: HTTP ${status} ${Buffer.concat(chunks).toString()}`)));
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`proposal ${i}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const send = (i: number): Promise<void> => {
  switch (args.kind) {
    case 'etcd':
      return post('/v3/kv/put', etcdPutBody(i, VALUE), { 'content-type': 'application/json' }, i);
    case 'hapair':
      return post('/v1/notes', JSON.stringify({ text: benchNote(i) }), { 'content-type': 'application/json', authorization: `Bearer ${args.token ?? ''}` }, i);
  }
};

// BENCH_RECORD_DIR=dir keeps every sequential proposal (dir/raft-<system>-r<round>.json, overwritten each run).
const recordDir = process.env.BENCH_RECORD_DIR ?? '';
// Made before the load, so that a bad path fails at once rather than after it.
if (recordDir !== '') mkdirSync(recordDir, { recursive: true });
const record: SequentialRecord[] | undefined = recordDir === '' ? undefined : [];
const result = await runLoad(args, send, record);
if (record !== undefined) writeFileSync(join(recordDir, `raft-${args.kind}-r${args.round ?? 1}.json`), JSON.stringify(record));
agent.destroy();
process.stdout.write(`${JSON.stringify(result)}\n`);
