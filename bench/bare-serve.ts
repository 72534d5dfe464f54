// What the bare baseline servers (bare-http.ts, bare-yoga.ts) share: listen on a free port of
// 127.0.0.1 and tell it to the parent over IPC; on SIGTERM close the server and the pool, then exit.
import type { Server } from 'node:http';
import type pg from 'pg';

export function serveBare(server: Server, pool: pg.Pool): void {
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    void pool.end().then(() => process.exit(0));
  });
}
