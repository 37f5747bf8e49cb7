import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * AMCP as CasparCG Server 2.3/2.4 reads and writes it, for the AMCP peer:
 * the session (TCP, CR LF lines, `PING` → `PONG`, `REQ <id>` → `RES <id> …`),
 * its tokenizer, and the XML its INFO commands answer with (boost
 * property_tree: keys `a/b/c` as nested elements, digit-only segments renamed
 * `x_N`, repeated keys repeated, 3-space indentation, `\n` inside). What the
 * commands do is the simulated server's (amcp-peer.ts).
 */

/** Thrown by a command handler: the command is answered with `reply` (CR LF included). */
export class AmcpFailure extends Error {
  constructor(readonly reply: string) {
    super(reply);
  }
}

/** Runs one command (tokens without `REQ <id>`) and returns its reply, CR LF included. */
export type AmcpHandler = (tokens: string[], line: string) => string;

/**
 * The AMCP session side of a server on 127.0.0.1: each line is answered in
 * order on its connection; a failure scripted with failNext() answers the next
 * matching command instead of the handler; any other error is `500 FAILED`.
 */
export class AmcpListener {
  /** Connections accepted since construction. */
  connections = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private failures: { match: RegExp; reply: string }[] = [];
  private portNumber = 0;

  constructor(
    private readonly handle: AmcpHandler,
    /** Every command as received, `REQ <id>` stripped, before it is answered. */
    private readonly received: (line: string) => void,
  ) {}

  get port(): number {
    return this.portNumber;
  }

  /** Listens (on the same port again after close()). */
  async listen(): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNumber, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.portNumber = (server.address() as AddressInfo).port;
    return this.portNumber;
  }

  async close(): Promise<void> {
    this.dropConnections();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The network drops the connections (reset); the listener stays up. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** The next command matching `match` is answered `reply` (e.g. '404 PLAY FAILED') instead. */
  failNext(match: RegExp, reply: string): void {
    this.failures.push({ match, reply });
  }

  private accept(socket: Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let at: number;
      while ((at = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        if (!socket.destroyed) socket.write(this.answer(line));
      }
    });
    socket.on('end', () => socket.end());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  private answer(line: string): string {
    const tokens = tokenize(line);
    if (tokens[0]?.toUpperCase() === 'PING')
      return `PONG${tokens
        .slice(1)
        .map((t) => ` ${t}`)
        .join('')}\r\n`;
    let id: string | null = null;
    if (tokens[0]?.toUpperCase() === 'REQ') {
      tokens.shift();
      id = tokens.shift() ?? null;
      if (id === null) return '402  ERROR\r\n';
    }
    const res = (reply: string) => (id === null ? reply : `RES ${id} ${reply}`);
    const stripped = id === null ? line : line.replace(/^\s*REQ\s+\S+\s+/i, '');
    this.received(stripped);
    const failure = this.failures.findIndex((f) => f.match.test(stripped));
    if (failure >= 0) {
      const [f] = this.failures.splice(failure, 1);
      return res(`${f.reply}\r\n`);
    }
    try {
      return res(this.handle(tokens, line));
    } catch (err) {
      if (err instanceof AmcpFailure) return res(err.reply);
      return res('500 FAILED\r\n');
    }
  }
}

/** CasparCG's AMCP tokenizer: spaces split, quotes group, backslash escapes, parentheses group. */
export function tokenize(message: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inQuote = false;
  let inParams = 0;
  let escaped = false;
  for (const ch of message) {
    if (escaped) {
      current += ch === 'n' ? '\n' : ch === '\\' || ch === '"' ? ch : '';
      escaped = false;
      continue;
    }
    if (ch === '\\') {
      escaped = true;
      continue;
    }
    if (ch === ' ' && !inQuote && inParams === 0) {
      if (current) tokens.push(current);
      current = '';
      continue;
    }
    if (!inQuote && ch === '(') inParams++;
    else if (!inQuote && ch === ')') {
      inParams--;
      if (inParams === 0) {
        tokens.push(current + ch);
        current = '';
        continue;
      }
    } else if (ch === '"') {
      inQuote = !inQuote;
      if (inParams === 0) {
        if (!inQuote) {
          tokens.push(current);
          current = '';
        }
        continue;
      }
    }
    current += ch;
  }
  if (current) tokens.push(current);
  return tokens;
}

/** property_tree writes a float with 9 significant digits: what INFO shows for positions. */
export const ptreeFloat = (v: number) => String(parseFloat(Math.fround(v).toPrecision(9)));

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

interface XmlNode {
  name: string;
  value?: string;
  children: XmlNode[];
}

/** Keys `a/b/c` with their values → XML as CasparCG's INFO writes it (digit segments renamed x_N, 3-space indent). */
export function propertyTreeXml(root: string, state: [string, string[]][]): string {
  const top: XmlNode = { name: root, children: [] };
  for (const [key, values] of state) {
    const parts = key.split('/');
    // "avoid digit-only nodes in XML": stage.layer.10 → stage.layer.layer_10
    for (let i = 1; i < parts.length; i++) if (/^\d+$/.test(parts[i])) parts[i] = `${parts[i - 1]}_${parts[i]}`;
    let at = top;
    for (const part of parts.slice(0, -1)) {
      let next = at.children.find((c) => c.name === part && c.value === undefined);
      if (!next) at.children.push((next = { name: part, children: [] }));
      at = next;
    }
    for (const v of values) at.children.push({ name: parts[parts.length - 1], value: v, children: [] });
  }
  const write = (n: XmlNode, depth: number): string => {
    const pad = ' '.repeat(3 * depth);
    if (n.value !== undefined)
      return n.value === '' ? `${pad}<${n.name}/>\n` : `${pad}<${n.name}>${escapeXml(n.value)}</${n.name}>\n`;
    return `${pad}<${n.name}>\n${n.children.map((c) => write(c, depth + 1)).join('')}${pad}</${n.name}>\n`;
  };
  return `<?xml version="1.0" encoding="utf-8"?>\n${write(top, 0)}`;
}
