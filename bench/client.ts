/**
 * The load client, run as its own process so that client work does not
 * share an event loop with any system under test. Prints one JSON line.
 *   tsx bench/client.ts '{"kind":"etcd","url":"http://127.0.0.1:2379", ...plan}'
 */
import { etcdPutBody } from './lib/etcd.js';
import { benchNote } from './lib/hapair.js';
import { runLoad, type LoadPlan } from './lib/load.js';

interface ClientArgs extends LoadPlan {
  readonly kind: 'etcd' | 'hapair';
  readonly url: string;
  readonly token?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ClientArgs;
const VALUE = 'x'.repeat(64);

async function check(res: Response, i: number): Promise<void> {
  if (!res.ok) throw new Error(`proposal ${i}: HTTP ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

const send = async (i: number): Promise<void> => {
  switch (args.kind) {
    case 'etcd':
      return check(await fetch(`${args.url}/v3/kv/put`, { method: 'POST', body: etcdPutBody(i, VALUE) }), i);
    case 'hapair':
      return check(
        await fetch(`${args.url}/v1/notes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${args.token ?? ''}` },
          body: JSON.stringify({ text: benchNote(i) }),
        }),
        i,
      );
  }
};

const result = await runLoad(args, send);
process.stdout.write(`${JSON.stringify(result)}\n`);
