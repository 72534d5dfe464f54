// A real webhook receiver: node:http on a free loopback port. It records every request and
// answers as the test says (a status, or 'hang': never answer, as a stuck receiver would).
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Received = { headers: IncomingHttpHeaders; body: string };
export type Answer = number | 'hang';

export type Receiver = {
  url: string;
  requests: Received[];
  /** How to answer the next requests; `n` counts from 1 over the receiver's life. */
  answer: (request: Received, n: number) => Answer;
  /** Resolves with the requests once `predicate` holds for them (checked on every request). */
  until(predicate: (requests: Received[]) => boolean): Promise<Received[]>;
  close(): Promise<void>;
};

export async function startReceiver(answer: Receiver['answer'] = () => 200): Promise<Receiver> {
  const hung: ServerResponse[] = [];
  const waiters: Array<() => void> = [];
  const receiver: Receiver = {
    url: '',
    requests: [],
    answer,
    until(predicate) {
      return new Promise((resolve) => {
        const check = () => {
          if (!predicate(receiver.requests)) return false;
          resolve(receiver.requests);
          return true;
        };
        if (check()) return;
        const waiter = () => {
          if (check()) waiters.splice(waiters.indexOf(waiter), 1);
        };
        waiters.push(waiter);
      });
    },
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      receiver.requests.push(request);
      const reply = receiver.answer(request, receiver.requests.length);
      if (reply === 'hang') hung.push(res);
      else res.writeHead(reply, { 'content-type': 'text/plain' }).end(reply >= 300 ? 'receiver says no' : 'ok');
      for (const waiter of [...waiters]) waiter();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}

/** Checks `condition` until it returns a value (not undefined/false): for state only the database shows. */
export async function until<T>(
  condition: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
