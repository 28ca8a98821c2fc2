import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A tiny cookie jar for one simulated browser: keeps the cookies of Set-Cookie answers. */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(private readonly userAgent = 'test-browser/1.0') {}

  /** Sends a request to `base + path` with the jar's cookies; stores the cookies set by the answer. */
  async fetch(base: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: unknown; setCookies: string[] }> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(base + path, {
      method: init.method ?? 'GET',
      headers: { 'user-agent': this.userAgent, ...(cookie ? { cookie } : {}), ...init.headers },
    });
    const setCookies = res.headers.getSetCookie();
    for (const c of setCookies) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (!value || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, setCookies };
  }
}

/** Starts an http.Server-like listener on 127.0.0.1:0 and returns its base URL. */
export async function listening(server: Server): Promise<string> {
  if (!server.listening) await new Promise<void>((r) => server.once('listening', () => r()));
  const a = server.address() as AddressInfo;
  return `http://127.0.0.1:${a.port}`;
}
