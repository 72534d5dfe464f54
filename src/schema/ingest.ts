// The shape every ingest mutation shares (ingestMutation), and what each answers: counts, and one
// error per rejected event.
import type { InputRef } from '@pothos/core';
import type { Core } from '../core/core.js';
import type { INGEST_ACKS, Rejection, IngestReport as Report } from '../core/ingest/rejections.js';
import { encodeCursor } from '../feed/cursor.js';
import { builder } from './builder.js';

export const IngestAck = builder.enumType('IngestAck', {
  description: 'When a mutation answers.',
  values: {
    STORED: {
      description:
        'At commit: the events are durable in the log; processing follows within milliseconds (see position).',
    },
    PROCESSED: {
      description:
        'Once every processor has passed the batch: queries reflect it. Answers PROCESSING_TIMEOUT (the batch stays stored) when processing is stuck longer than PROCESSED_ACK_TIMEOUT_MS.',
    },
  } satisfies Record<(typeof INGEST_ACKS)[number], unknown>,
});

export const IngestError = builder.objectRef<Rejection>('IngestError').implement({
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position of the rejected event in the batch.' }),
    eventId: t.exposeID('eventId', { nullable: true }),
    code: t.exposeString('code', { description: 'Machine-readable, e.g. INVALID_QUANTITY, MISSING_PRICE.' }),
    message: t.exposeString('message'),
  }),
});

export const IngestReport = builder.objectRef<Report>('IngestReport').implement({
  fields: (t) => ({
    accepted: t.exposeInt('accepted', { description: 'Stored (and, with ack PROCESSED, processed).' }),
    duplicates: t.exposeInt('duplicates', {
      description: 'Seen before (same eventId, same content); nothing changed.',
    }),
    errors: t.field({
      type: [IngestError],
      description:
        'Rejected (including EVENT_ID_CONFLICT: same eventId, other content); nothing of these was stored (they are kept as dead letters).',
      resolve: (report) => report.errors,
    }),
    position: t.string({
      nullable: true,
      description:
        'Log position of the batch: derived state has caught up with the batch once every processor has passed it. Null when no event was valid.',
      resolve: (report) => (report.position ? encodeCursor(report.position) : null),
    }),
  }),
});

/** The names of the ingest mutations (record*): the HTTP layer runs them compiled (compiled-ingest.ts). */
export const INGEST_MUTATIONS = new Set<string>();

/**
 * A record* mutation: a batch of `input` and `ack`, for the ingest scope, admitted by the
 * ingest rate limit first, answered with an IngestReport. `ingest` picks the core's function.
 */
export function ingestMutation<Input>(
  name: string,
  input: InputRef<Input>,
  description: string,
  ingest: (core: Core) => (events: Input[], ack: (typeof INGEST_ACKS)[number]) => Promise<Report>,
): void {
  INGEST_MUTATIONS.add(name);
  builder.mutationField(name, (t) =>
    t.field({
      type: IngestReport,
      description,
      args: {
        events: t.arg({ type: [input], required: true }),
        ack: t.arg({
          type: IngestAck,
          defaultValue: 'PROCESSED',
          description: 'When to answer: STORED (at commit) or PROCESSED (default).',
        }),
      },
      authScopes: { ingest: true },
      resolve: async (_root, { events, ack }, { core, admitIngest }) => {
        await admitIngest(events.length);
        return ingest(core)(events, ack ?? 'PROCESSED');
      },
    }),
  );
}
