/**
 * GET /v1/events: server-sent events. Each client gets the cluster events as
 * they happen plus a heartbeat comment, so proxies keep the connection and
 * clients notice a dead one. Bounded twice: the number of open streams, and
 * the bytes a slow client may leave unread before it is cut off (it reconnects
 * and re-reads /v1/status, which is how it catches up anyway).
 */
import type { ServerResponse } from 'node:http';
import type { ClusterEvent, ClusterService } from './cluster-service.js';

export interface EventStreamLimits {
  readonly maxStreams: number;
  readonly heartbeatMs: number;
  /** Unsent bytes queued for one client beyond which it is disconnected. */
  readonly maxBufferedBytes: number;
  /** Client reconnect delay suggested in the `retry:` field. */
  readonly retryMs: number;
}

export const DEFAULT_EVENT_STREAM_LIMITS: EventStreamLimits = {
  maxStreams: 32,
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  retryMs: 2000,
};

interface OpenStream {
  readonly res: ServerResponse;
  close(reason: string): void;
}

export class EventStreams {
  private readonly open = new Set<OpenStream>();
  private nextId = 1;

  constructor(
    private readonly service: ClusterService,
    readonly limits: EventStreamLimits,
  ) {}

  get size(): number {
    return this.open.size;
  }

  hasRoom(): boolean {
    return this.open.size < this.limits.maxStreams;
  }

  /** Takes over `res` (already hijacked from fastify) until either side closes. */
  start(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let closed = false;
    let unsubscribe = (): void => {};
    const finish = (goodbye: string | null): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      this.open.delete(stream);
      if (res.writableEnded || res.destroyed) return;
      if (goodbye === null) res.destroy();
      else res.end(`event: close\ndata: ${JSON.stringify({ reason: goodbye })}\n\n`);
    };
    const stream: OpenStream = { res, close: (reason) => finish(reason) };
    const write = (chunk: string): void => {
      if (closed || res.destroyed) return;
      res.write(chunk);
      // A client that does not read is cut off rather than buffered without bound.
      if (res.writableLength > this.limits.maxBufferedBytes) finish(null);
    };
    const heartbeat = setInterval(() => write(`: heartbeat ${new Date().toISOString()}\n\n`), this.limits.heartbeatMs);
    heartbeat.unref();
    this.open.add(stream);
    res.on('close', () => finish(null));
    write(`retry: ${this.limits.retryMs}\n: connected to ${this.service.nodeId}\n\n`);
    unsubscribe = this.service.subscribeEvents((event: ClusterEvent) => {
      write(`id: ${this.nextId++}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    });
  }

  /** Ends every stream (server shutdown): clients see `event: close` and the end of the body. */
  closeAll(reason: string): void {
    for (const s of [...this.open]) s.close(reason);
  }
}
