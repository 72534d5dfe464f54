// graphql-ws's server (makeServer: the protocol, unchanged) on `ws` sockets, like graphql-ws's own
// useServer, with one difference: a message is handed to the socket without waiting for the
// previous one to reach the kernel, as long as the socket has less than SEND_HIGH_WATER_BYTES
// waiting. useServer awaits every write, so a subscriber got one message per event-loop turn and
// one system call per message; now a burst goes out in a few writes. Past the mark, sends wait
// again, so a client that stops reading stops the server pulling its stream: its feed queue fills
// and it is ended with RESYNC_REQUIRED (invariant 6), with at most the mark buffered here.
// Feed subscriptions bypass this path for their items: push-hub.ts writes their frames.
import type { IncomingMessage } from 'node:http';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../log.js';
import { coalesceFrames, SEND_HIGH_WATER_BYTES } from './push-hub.js';

export type Extra = { socket: WebSocket; request: IncomingMessage };

/** Pings every `keepAliveMs`; a socket that does not answer within the next one is dropped. */
export function serveGraphQLWs(
  options: ServerOptions<Record<string, unknown> | undefined, Extra>,
  wss: WebSocketServer,
  log: Logger,
  keepAliveMs = 12_000,
) {
  const server = makeServer(options);
  wss.options.handleProtocols = handleProtocols;
  wss.on('error', (error) => {
    log.error({ err: error }, 'websocket server error');
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, 'Internal server error');
  });

  wss.on('connection', (socket, request) => {
    socket.once('error', (error: Error & { code?: string }) => {
      // ws has already closed a socket whose frame was too large (1009) or malformed (1002).
      if (error.code?.startsWith('WS_ERR_')) return log.debug({ err: error }, 'websocket frame refused');
      log.warn({ err: error }, 'websocket error');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    let alive = true;
    socket.on('pong', () => {
      alive = true;
    });
    const ping = setInterval(() => {
      if (!alive) return socket.terminate();
      alive = false;
      if (socket.readyState === socket.OPEN) socket.ping();
    }, keepAliveMs);

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send(data) {
          if (socket.readyState !== socket.OPEN) return;
          coalesceFrames(socket);
          if (socket.bufferedAmount < SEND_HIGH_WATER_BYTES) {
            socket.send(data);
            return;
          }
          // Backpressure: resolve when this message has left for the kernel (or the socket ended).
          return new Promise<void>((resolve) => socket.send(data, () => resolve()));
        },
        close: (code, reason) => socket.close(code, closeReason(reason)),
        onMessage: (handle) =>
          socket.on('message', async (message) => {
            try {
              await handle(String(message));
            } catch (error) {
              log.error({ err: error }, 'graphql-ws message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      { socket, request },
    );

    socket.once('close', (code, reason) => {
      clearInterval(ping);
      void closed(code, String(reason));
    });
  });

  return {
    async dispose(): Promise<void> {
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/**
 * A close reason as sent: at most 123 bytes of UTF-8 (the protocol's limit; `ws` throws on a
 * longer one), cut on a character boundary. Reasons are fixed texts or messages written for the
 * client; internal errors close with 'Internal server error' and are logged here instead.
 */
export function closeReason(reason: string | undefined): string {
  const text = reason ?? '';
  if (Buffer.byteLength(text) <= MAX_CLOSE_REASON_BYTES) return text;
  let cut = '';
  for (const char of text) {
    if (Buffer.byteLength(cut + char) > MAX_CLOSE_REASON_BYTES - 3) break;
    cut += char;
  }
  return `${cut}...`;
}

const MAX_CLOSE_REASON_BYTES = 123;
