// The name server of a user-defined network, docker's "embedded DNS" done from the host side: it
// listens on the network's gateway address (port 53/udp, on the bridge berth made), answers A
// queries for the names of the containers on that network (container name, network aliases,
// short ID, and the asking container's own --add-host/hostname entries), and forwards any other
// question to the upstream servers (the container's --dns, else the host's resolv.conf). Names
// are looked up when asked, so a container that joins later is found at once.
import { createSocket, type Socket } from 'node:dgram';
import { logger } from '../util/log.js';

const log = logger('dns');

const TYPE_A = 1;
const TYPE_ANY = 255;

export interface DnsAnswerSource {
  /** IPv4 addresses for `name` as seen by the client at `clientIp`, or undefined when unknown. */
  lookup(name: string, clientIp: string): string[] | undefined;
  /** Upstream servers for the client, "ip" or "ip:port" (empty: answer SERVFAIL). */
  upstreams(clientIp: string): string[];
}

interface Question {
  name: string;
  type: number;
  /** Byte offset just past the question. */
  end: number;
}

function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  while (off < msg.length) {
    const len = msg[off];
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString('latin1'));
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), end: off + 4 };
}

function reply(query: Buffer, q: Question, rcode: number, addrs: string[]): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  // QR, opcode 0, AA, RD copied from the query, RA.
  const rd = query[2] & 0x01;
  header[2] = 0x84 | rd;
  header[3] = 0x80 | rcode;
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addrs.length, 6);
  const question = query.subarray(12, q.end);
  const answers = addrs.map((ip) => {
    const a = Buffer.alloc(16);
    a.writeUInt16BE(0xc00c, 0);
    a.writeUInt16BE(TYPE_A, 2);
    a.writeUInt16BE(1, 4);
    a.writeUInt32BE(600, 6);
    a.writeUInt16BE(4, 10);
    ip.split('.').forEach((p, i) => (a[12 + i] = Number(p)));
    return a;
  });
  return Buffer.concat([header, question, ...answers]);
}

export class NetworkDnsServer {
  private socket?: Socket;

  constructor(
    readonly address: string,
    private readonly source: DnsAnswerSource,
    private readonly port = 53,
  ) {}

  async start(): Promise<void> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: this.address, port: this.port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => log.warn({ err, address: this.address }, 'dns socket error'));
    socket.on('message', (msg, rinfo) => this.onQuery(msg, rinfo.address, rinfo.port));
    this.socket = socket;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  private onQuery(msg: Buffer, clientIp: string, clientPort: number): void {
    const q = parseQuestion(msg);
    if (!q || (msg[2] & 0x78) !== 0) return;
    const send = (buf: Buffer) => this.socket?.send(buf, clientPort, clientIp);
    const addrs = this.source.lookup(q.name.replace(/\.$/, ''), clientIp);
    if (addrs) {
      // Known name: A records; for other types an empty answer (docker answers AAAA this way).
      send(reply(msg, q, 0, q.type === TYPE_A || q.type === TYPE_ANY ? addrs : []));
      return;
    }
    const upstreams = this.source.upstreams(clientIp);
    if (upstreams.length === 0) {
      send(reply(msg, q, 2, []));
      return;
    }
    this.forward(msg, upstreams, 0, send, q);
  }

  /** Relay the query to the upstreams in turn (2 s each); SERVFAIL when none answers. */
  private forward(msg: Buffer, upstreams: string[], i: number, send: (b: Buffer) => void, q: Question): void {
    if (i >= upstreams.length) {
      send(reply(msg, q, 2, []));
      return;
    }
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      this.forward(msg, upstreams, i + 1, send, q);
    }, 2000);
    sock.on('error', () => {
      clearTimeout(timer);
      sock.close();
      this.forward(msg, upstreams, i + 1, send, q);
    });
    sock.on('message', (answer) => {
      clearTimeout(timer);
      sock.close();
      send(answer);
    });
    const [host, port] = upstreams[i].split(':');
    sock.send(msg, port ? Number(port) : 53, host);
  }
}
