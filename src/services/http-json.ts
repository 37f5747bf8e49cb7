import http from 'node:http';
import https from 'node:https';

/** A response: its status, and its body parsed as JSON (null when it is not JSON). */
export interface JsonResponse {
  status: number;
  body: unknown;
}

/** The request got no complete answer within its time. */
export class RequestTimeoutError extends Error {
  override name = 'TimeoutError';
}

export interface JsonRequest {
  method: string;
  headers?: Record<string, string>;
  /** Sent as application/json. */
  body?: unknown;
  /** Longest wait for the whole answer, headers and body. */
  timeoutMs: number;
  /** Abandons the request (a reader that stops). */
  signal?: AbortSignal;
}

/**
 * JSON over HTTP on kept-alive connections, with node:http. fetch (undici)
 * costs several times the CPU per call: on an operator's transport action it
 * was a third of the API's own time (bench/README.md).
 */
export class JsonHttpClient {
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };

  async request(url: string, options: JsonRequest): Promise<JsonResponse> {
    try {
      return await this.once(url, options);
    } catch (err) {
      // The peer closed an idle kept-alive connection as this request went out: it never
      // saw the request, so sending it again cannot act twice (Node's documented remedy).
      if ((err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        return this.once(url, options);
      }
      throw err;
    }
  }

  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  private once(url: string, options: JsonRequest): Promise<JsonResponse> {
    const target = new URL(url);
    const lib = target.protocol === 'https:' ? https : http;
    const agent = this.agents[target.protocol as 'http:' | 'https:'];
    if (!agent) return Promise.reject(new Error(`unsupported protocol ${target.protocol}`));
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string | number> = { ...options.headers };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    return new Promise<JsonResponse>((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let settled = false;
      const finish = (error: unknown, response?: JsonResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(response as JsonResponse);
      };
      const req = lib.request(target, { method: options.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => finish(err));
        res.on('end', () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            // not JSON: the caller tells by the status
          }
          finish(null, { status: res.statusCode ?? 0, body });
        });
      });
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      const timer = setTimeout(
        () => req.destroy(new RequestTimeoutError(`no answer within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => finish(Object.assign(err, { reusedSocket: req.reusedSocket })));
      req.end(payload);
    });
  }
}
