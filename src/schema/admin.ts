// Admin history that is not a stream of its own: the dead-letter list.
import type { DeadLetter as DeadLetterShape } from '../core/ingest/dead-letters.js';
import { builder } from './builder.js';

const IngestStreamEnum = builder.enumType('IngestStream', { values: ['activity', 'inventory'] as const });

const DeadLetter = builder.objectRef<DeadLetterShape>('DeadLetter').implement({
  description: 'A rejected event, kept as it arrived, with the reason.',
  fields: (t) => ({
    id: t.exposeID('id'),
    stream: t.field({ type: IngestStreamEnum, resolve: (letter) => letter.stream }),
    eventId: t.exposeID('eventId', { nullable: true }),
    index: t.exposeInt('batchIndex', { description: 'Position of the event in its batch.' }),
    code: t.exposeString('code'),
    message: t.exposeString('message'),
    payload: t.string({ description: 'The event as received, as JSON.', resolve: (l) => JSON.stringify(l.payload) }),
    receivedAt: t.field({ type: 'DateTime', resolve: (letter) => letter.receivedAt }),
  }),
});

builder.queryField('deadLetters', (t) =>
  t.field({
    type: [DeadLetter],
    description: 'Rejected events, newest first. Page with `before`: the id of the last letter seen.',
    args: {
      stream: t.arg({ type: IngestStreamEnum }),
      first: t.arg.int({ description: '1 to 500, default 50.' }),
      before: t.arg.id(),
    },
    authScopes: { admin: true },
    resolve: (_root, { stream, first, before }, { core }) => core.deadLetters({ stream, first, before }),
  }),
);
