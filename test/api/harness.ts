/**
 * Starts the API on 127.0.0.1:0 over a FakeService, with one token per role,
 * and closes it in t.teardown. Requests go over real HTTP with fetch.
 */
import type { FastifyInstance } from 'fastify';
import { buildApiServer, type ApiServerOptions } from '../../src/api/server.js';
import { hashToken, TokenStore } from '../../src/auth/tokens.js';
import { FakeService } from './fake-service.js';

export const TOKENS = { viewer: 'view-token-1', operator: 'oper-token-2', admin: 'admin-token-3' } as const;

export const TOKEN_STORE = new TokenStore([
  { name: 'watcher', role: 'viewer', sha256: hashToken(TOKENS.viewer) },
  { name: 'oncall', role: 'operator', sha256: hashToken(TOKENS.operator) },
  { name: 'ops', role: 'admin', sha256: hashToken(TOKENS.admin) },
]);

export interface Harness {
  readonly app: FastifyInstance;
  readonly service: FakeService;
  readonly url: string;
  call(method: string, path: string, init?: CallInit): Promise<CallResult>;
}

export interface CallInit {
  /** A role's token, a literal token string, or null for none. Default admin. */
  readonly token?: keyof typeof TOKENS | { readonly raw: string } | null;
  readonly json?: unknown;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed JSON body when the response is JSON, else undefined. */
  readonly body: Record<string, unknown> | undefined;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function startApi(
  t: Teardown,
  options: Partial<ApiServerOptions> & { service?: FakeService } = {},
): Promise<Harness> {
  const service = options.service ?? new FakeService();
  const app = buildApiServer({ tokens: TOKEN_STORE, ...options, service });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const url = address;
  const call = async (method: string, path: string, init: CallInit = {}): Promise<CallResult> => {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? 'admin' : init.token;
    if (token !== null) headers['authorization'] = `Bearer ${typeof token === 'string' ? TOKENS[token] : token.raw}`;
    let body: string | Buffer | undefined = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${url}${path}`, { method, headers, body, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const isJson = (res.headers.get('content-type') ?? '').includes('json');
    return { status: res.status, headers: res.headers, text, body: isJson && text !== '' ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  return { app, service, url, call };
}
