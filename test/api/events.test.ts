/**
 * GET /v1/events: server-sent events over a real socket — events arrive,
 * heartbeats arrive, the stream ends when the client goes away (listener
 * released) and when the server closes (clients see the end).
 */
import t from 'tap';
import type { ClusterEvent } from '../../src/api/cluster-service.js';
import { startApi, TOKENS } from './harness.js';

const DEADLINE_MS = 10_000;

class SseReader {
  text = '';
  done = false;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** Reads until `predicate(text)` holds or the stream ends; fails the test past the deadline. */
  async until(predicate: (text: string) => boolean): Promise<boolean> {
    const deadline = Date.now() + DEADLINE_MS;
    while (!predicate(this.text)) {
      if (this.done) return false;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), left)));
      const chunk = await Promise.race([this.reader.read(), timeout]);
      clearTimeout(timer);
      if (chunk === 'timeout') return false;
      if (chunk.done) this.done = true;
      else this.text += this.decoder.decode(chunk.value, { stream: true });
    }
    return true;
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }
}

async function poll(what: () => boolean): Promise<boolean> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!what()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

async function open(url: string, signal?: AbortSignal): Promise<{ res: Response; sse: SseReader }> {
  const res = await fetch(`${url}/v1/events`, { headers: { authorization: `Bearer ${TOKENS.viewer}` }, signal });
  if (res.body === null) throw new Error('no body');
  return { res, sse: new SseReader(res.body) };
}

t.test('events are delivered as SSE with ids, types and JSON data; heartbeats flow', async (t) => {
  const h = await startApi(t, { events: { heartbeatMs: 50 } });
  const abort = new AbortController();
  const { res, sse } = await open(h.url, abort.signal);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  t.equal(res.headers.get('cache-control'), 'no-cache, no-transform');
  t.ok(await sse.until((x) => x.includes(': connected to fw1\n\n')), 'a greeting comment');
  t.match(sse.text, /^retry: 2000\n/);
  t.ok(await poll(() => h.service.listeners.size === 1), 'the stream subscribed');

  const role: ClusterEvent = { type: 'role', at: '2026-11-25T10:00:00.000Z', active: 'fw2', previous: 'fw1', epoch: 5, reason: 'failover' };
  const cond: ClusterEvent = {
    type: 'condition',
    at: '2026-11-25T10:00:01.000Z',
    raised: true,
    condition: { code: 'DEGRADED', severity: 'critical', message: 'fw1 is down; the pair runs on fw2 alone' },
  };
  h.service.emit(role);
  h.service.emit(cond);
  t.ok(await sse.until((x) => x.includes('event: condition\n')), 'both events arrive');
  const frames = sse.text.split('\n\n').filter((f) => f.includes('event: '));
  t.same(frames.slice(0, 2), [`id: 1\nevent: role\ndata: ${JSON.stringify(role)}`, `id: 2\nevent: condition\ndata: ${JSON.stringify(cond)}`]);

  t.ok(await sse.until((x) => /\n: heartbeat \d{4}-\d\d-\d\dT/.test(x)), 'a heartbeat comment arrives');

  const metrics = await h.call('GET', '/metrics');
  t.match(metrics.text, /^hapair_api_event_streams 1$/m);

  abort.abort();
  await sse.cancel();
  t.ok(await poll(() => h.service.listeners.size === 0), 'a client that leaves releases its subscription');
  const after = await h.call('GET', '/metrics');
  t.match(after.text, /^hapair_api_event_streams 0$/m);
});

t.test('closing the server ends open streams cleanly', async (t) => {
  const h = await startApi(t, { events: { heartbeatMs: 60_000 } });
  const { sse } = await open(h.url);
  t.ok(await sse.until((x) => x.includes(': connected')));
  t.ok(await poll(() => h.service.listeners.size === 1));
  const closed = h.app.close();
  t.ok(await sse.until(() => false) === false && sse.done, 'the body ends');
  t.match(sse.text, /event: close\ndata: \{"reason":"server shutting down"\}\n\n$/);
  await closed;
  t.equal(h.service.listeners.size, 0);
});

t.test('the number of streams is bounded; events need a viewer token', async (t) => {
  const h = await startApi(t, { events: { maxStreams: 1 } });
  const abort = new AbortController();
  const first = await open(h.url, abort.signal);
  t.ok(await first.sse.until((x) => x.includes(': connected')));
  const second = await h.call('GET', '/v1/events', { token: 'viewer' });
  t.equal(second.status, 429);
  t.same(second.body, { code: 'LIMIT_EXCEEDED', message: 'too many open event streams (at most 1)' });
  const anonymous = await h.call('GET', '/v1/events', { token: null });
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body?.['code'], 'UNAUTHENTICATED');
  abort.abort();
  await first.sse.cancel();
  t.ok(await poll(() => h.service.listeners.size === 0));
});
