/**
 * The HTTP client the CLI uses: one method per API route, errors as typed
 * exceptions carrying the API's `{ code, message }`.
 */
import { describeFetchError } from '../api/fetch-error.js';
import type {
  AuditList,
  BackupInfo,
  BackupList,
  ConfigView,
  JoinRequest,
  MaintenanceResult,
  MembershipResult,
  NodeInfo,
  NotesView,
  PolicyView,
  RestoreResult,
  StatusView,
  SwitchoverRequest,
  SwitchoverResult,
} from '../api/schemas.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:7480';

/** The API answered with an error. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

/** The API could not be reached (refused, timed out, DNS...). */
export class ApiUnreachableError extends Error {
  override name = 'ApiUnreachableError';
}

export interface ClientOptions {
  readonly baseUrl: string;
  readonly token: string | null;
  readonly timeoutMs: number;
}

interface RequestOptions {
  readonly json?: unknown;
  readonly bytes?: Uint8Array;
  readonly headers?: Record<string, string>;
  /** No timeout (event streams). */
  readonly stream?: boolean;
  readonly signal?: AbortSignal;
}

/** `10.0.0.11:7480` -> `http://10.0.0.11:7480`; no trailing slash. */
export function normalizeBaseUrl(api: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(api) ? api : `http://${api}`;
  const url = new URL(withScheme);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported scheme ${url.protocol}`);
  return withScheme.replace(/\/+$/, '');
}

export class ApiClient {
  readonly baseUrl: string;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
  }

  status(linearizable = false): Promise<StatusView> {
    return this.json('GET', `/v1/status${linearizable ? '?linearizable=true' : ''}`);
  }

  /** GET /v1/node: the node at this URL itself (never forwarded). */
  nodeInfo(): Promise<NodeInfo> {
    return this.json('GET', '/v1/node');
  }

  /** A client for another node's API (`host:port` as members report it), same scheme, token and timeout. */
  forNode(api: string): ApiClient {
    const scheme = new URL(this.baseUrl).protocol;
    return new ApiClient({ ...this.options, baseUrl: /^[a-z][a-z0-9+.-]*:\/\//i.test(api) ? api : `${scheme}//${api}` });
  }

  getConfig(linearizable = false): Promise<ConfigView> {
    return this.json('GET', `/v1/config${linearizable ? '?linearizable=true' : ''}`);
  }

  putConfig(settings: unknown, ifMatch: number | null): Promise<ConfigView> {
    return this.json('PUT', '/v1/config', { json: settings, headers: ifMatchHeader(ifMatch) });
  }

  getPolicy(linearizable = false): Promise<PolicyView> {
    return this.json('GET', `/v1/policy${linearizable ? '?linearizable=true' : ''}`);
  }

  putPolicy(policy: unknown, ifMatch: number | null): Promise<PolicyView> {
    return this.json('PUT', '/v1/policy', { json: policy, headers: ifMatchHeader(ifMatch) });
  }

  switchover(request: SwitchoverRequest): Promise<SwitchoverResult> {
    return this.json('POST', '/v1/switchover', { json: request });
  }

  setMaintenance(id: string, on: boolean): Promise<MaintenanceResult> {
    return this.json('PUT', `/v1/members/${encodeURIComponent(id)}/maintenance`, { json: { on } });
  }

  join(request: JoinRequest): Promise<MembershipResult> {
    return this.json('POST', '/v1/members', { json: request });
  }

  leave(id: string): Promise<MembershipResult> {
    return this.json('DELETE', `/v1/members/${encodeURIComponent(id)}`);
  }

  async listBackups(): Promise<BackupInfo[]> {
    return (await this.json<BackupList>('GET', '/v1/backups')).backups;
  }

  createBackup(comment: string): Promise<BackupInfo> {
    return this.json('POST', '/v1/backups', { json: comment === '' ? {} : { comment } });
  }

  async exportBackup(id: string): Promise<{ fileName: string; data: Buffer }> {
    const res = await this.request('GET', `/v1/backups/${encodeURIComponent(id)}/export`);
    const disposition = res.headers.get('content-disposition') ?? '';
    const fileName = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `${id}.hapair-backup`;
    return { fileName, data: Buffer.from(await res.arrayBuffer()) };
  }

  importBackup(data: Uint8Array): Promise<BackupInfo> {
    return this.json('POST', '/v1/backups/import', { bytes: data });
  }

  restoreBackup(id: string): Promise<RestoreResult> {
    return this.json('POST', `/v1/backups/${encodeURIComponent(id)}/restore`);
  }

  clearFlapDamping(): Promise<{ cleared: boolean }> {
    return this.json('POST', '/v1/flap-damping/clear');
  }

  addNote(text: string): Promise<NotesView> {
    return this.json('POST', '/v1/notes', { json: { text } });
  }

  async audit(limit: number): Promise<AuditList> {
    return this.json('GET', `/v1/audit?limit=${limit}`);
  }

  /** Calls `onEvent` for each server-sent event until the server ends the stream or `signal` aborts. */
  async events(onEvent: (type: string, data: string) => void, signal: AbortSignal): Promise<void> {
    const res = await this.request('GET', '/v1/events', { stream: true, signal });
    if (res.body === null) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (type !== undefined && data !== undefined) onEvent(type, data);
        }
      }
    } catch (error) {
      if (!signal.aborted) throw new ApiUnreachableError(`the event stream from ${this.baseUrl} broke: ${describeFetchError(error)}`);
    }
  }

  private async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, options);
    return (await res.json()) as T;
  }

  private async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.options.token !== null) headers['authorization'] = `Bearer ${this.options.token}`;
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      body = options.bytes;
    }
    const signal = options.stream ? options.signal : AbortSignal.timeout(this.options.timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, { method, headers, body, signal });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new ApiUnreachableError(`cannot reach the hapair API at ${this.baseUrl}: ${describeFetchError(error)}`, {
        cause: error,
      });
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let parsed: { code?: unknown; message?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // not JSON: reported by status below
    }
    if (typeof parsed.code === 'string' && typeof parsed.message === 'string') {
      throw new ApiError(parsed.code, parsed.message, res.status);
    }
    const firstLine = text.split('\n')[0]?.slice(0, 200) ?? '';
    throw new ApiError(`HTTP_${res.status}`, `${method} ${path}: HTTP ${res.status} ${firstLine}`.trim(), res.status);
  }
}

function ifMatchHeader(ifMatch: number | null): Record<string, string> {
  return ifMatch === null ? {} : { 'if-match': `"${ifMatch}"` };
}
