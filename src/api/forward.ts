/**
 * Writes that reach a follower are replayed to the leader with the caller's
 * own token (the leader authenticates and audits the caller, not us), and the
 * leader's answer is passed back unchanged. One hop only: a request that was
 * already forwarded is never forwarded again, so two nodes that disagree about
 * the leader cannot bounce a request between them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LeaderApi } from './cluster-service.js';
import { ServiceError } from './errors.js';
import { describeFetchError } from './fetch-error.js';

export const FORWARDED_BY_HEADER = 'x-hapair-forwarded-by';
export const FORWARDED_TO_HEADER = 'x-hapair-forwarded-to';

/** Request headers worth replaying; everything else (hop-by-hop, host, length) is recomputed. */
const REQUEST_HEADERS = ['authorization', 'content-type', 'if-match', 'accept'] as const;
/** Response headers passed back to the client. */
const RESPONSE_HEADERS = ['content-type', 'etag', 'content-disposition', 'retry-after', 'www-authenticate'] as const;

export interface ForwardOptions {
  readonly timeoutMs: number;
  /** Injected for tests and for TLS setups that need their own agent. */
  readonly fetch: typeof fetch;
}

export async function forwardToLeader(
  request: FastifyRequest,
  reply: FastifyReply,
  self: string,
  leader: LeaderApi,
  options: ForwardOptions,
): Promise<void> {
  const headers: Record<string, string> = { [FORWARDED_BY_HEADER]: self };
  for (const name of REQUEST_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const body = encodeBody(request.body);
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  let res: Response;
  let payload: Buffer;
  // Not AbortSignal.timeout: its timer outlives the request (a minute by
  // default), and a client pointed at a standby would keep one per request.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new DOMException(`no answer within ${options.timeoutMs} ms`, 'TimeoutError')), options.timeoutMs);
  try {
    res = await options.fetch(`${leader.url}${request.url}`, {
      method: request.method,
      headers,
      body,
      signal: abort.signal,
      redirect: 'manual',
    });
    payload = Buffer.from(await res.arrayBuffer());
  } catch (cause) {
    throw new ServiceError(
      'NOT_LEADER',
      `${self} is not the leader and could not forward the request to the leader ${leader.id} at ${leader.url} ` +
        `(${describeFetchError(cause)}); if the request may have reached ${leader.id}, read the state before retrying`,
      { cause },
    );
  } finally {
    clearTimeout(timer);
  }
  reply.code(res.status);
  for (const name of RESPONSE_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) reply.header(name, value);
  }
  reply.header(FORWARDED_TO_HEADER, leader.id);
  await reply.send(payload);
}

function encodeBody(body: unknown): string | Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (Buffer.isBuffer(body)) return body;
  return JSON.stringify(body);
}
