// The push hub's socket writes (issue 14) on real loopback WebSockets: frames written while a
// backlog is offered wait corked until the tailer flushes, so a subscriber's items of several
// pages leave in one system call; a socket with FLUSH_BYTES waiting writes them at once; outside
// a deferral, a socket's first frame of a turn leaves at once and the rest when the turn ends.
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { coalesceFrames, deferWrites, FLUSH_BYTES } from '../../src/http/push-hub.js';
import { until } from '../helpers/webhooks.js';

let server: WebSocketServer;
let serverSide: WebSocket;
let client: WebSocket;
const received: string[] = [];

beforeAll(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const { port } = server.address() as { port: number };
  client = new WebSocket(`ws://127.0.0.1:${port}`);
  client.on('message', (data) => received.push(String(data)));
  await new Promise((resolve) => client.once('open', resolve));
  serverSide = await accepted;
});
afterAll(async () => {
  client?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const raw = () => (serverSide as unknown as { _socket: Socket })._socket;
const send = (text: string) => {
  coalesceFrames(serverSide);
  serverSide.send(text);
};

describe('deferred writes', () => {
  it('hold a socket’s frames across offers until flush, then deliver them in order', async () => {
    received.length = 0;
    const writes = deferWrites();
    writes.during(() => send('a'));
    writes.during(() => send('b'));
    // Across turns: still corked, both frames waiting in the socket's buffer.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(raw().writableCorked).toBe(1);
    expect(raw().writableLength).toBeGreaterThan(0);
    writes.flush();
    expect(raw().writableCorked).toBe(0);
    await until(async () => received.length === 2, 'both frames', 5000);
    expect(received).toEqual(['a', 'b']);
  });

  it('let a socket write once FLUSH_BYTES wait, and keep it corked for what follows', async () => {
    received.length = 0;
    const writes = deferWrites();
    const frame = 'x'.repeat(4096);
    const count = Math.ceil((2 * FLUSH_BYTES) / frame.length) + 1;
    writes.during(() => {
      for (let i = 0; i < count; i++) send(frame);
    });
    // Never more than one write's worth waits, and it is still corked for the flush.
    expect(raw().writableLength).toBeLessThan(FLUSH_BYTES + 2 * frame.length);
    expect(raw().writableCorked).toBe(1);
    writes.flush();
    await until(async () => received.length === count, `${count} frames`, 5000);
  });

  it('outside a deferral, send a socket’s first frame of a turn at once and the rest together when the turn ends', async () => {
    received.length = 0;
    await new Promise((resolve) => setImmediate(resolve)); // a fresh turn
    send('c');
    expect(raw().writableCorked).toBe(0); // gone to the kernel already
    send('d');
    send('e');
    expect(raw().writableCorked).toBe(1);
    expect(raw().writableLength).toBeGreaterThan(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(raw().writableCorked).toBe(0);
    await until(async () => received.length === 3, 'the frames', 5000);
    expect(received).toEqual(['c', 'd', 'e']);
  });
});
