// The baseline for fan-out: a bare `ws` server in its own process that broadcasts one payload,
// serialized once, to every socket. Parent messages (IPC): {broadcast: payload, count} sends
// `count` messages to all; replies {done} when all were handed to the sockets.
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('listening', () => {
  const address = wss.address();
  const port = typeof address === 'string' || address === null ? 0 : address.port;
  process.send?.({ port });
});
process.on('message', async (message: { broadcast?: string; count?: number; rss?: boolean }) => {
  if (message.rss) {
    global.gc?.();
    process.send?.({ rss: process.memoryUsage().rss, sockets: wss.clients.size });
    return;
  }
  if (message.broadcast === undefined) return;
  const count = message.count ?? 1;
  for (let i = 0; i < count; i++) {
    const text = message.broadcast.replace('__N__', String(i)).replace('__T__', String(Date.now()));
    for (const socket of wss.clients) socket.send(text);
    // Let the sockets drain between messages, as a server with a steady stream would.
    if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  process.send?.({ done: true });
});
process.on('SIGTERM', () => {
  for (const socket of wss.clients) socket.terminate();
  wss.close(() => process.exit(0));
});
