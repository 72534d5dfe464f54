// Admin views that are not a stream of their own: the dead-letter list and the processors' lag.
import type { DeadLetter as DeadLetterShape } from '../core/ingest/dead-letters.js';
import type { ProcessorLag as CoreProcessorLag } from '../core/processing/runner.js';
import { builder } from './builder.js';

const IngestStreamEnum = builder.enumType('IngestStream', {
  values: ['activity', 'inventory', 'catalogue', 'refunds'] as const,
});

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

const ProcessorLag = builder.objectRef<CoreProcessorLag>('ProcessorLag').implement({
  description: 'How far one processor is behind the head of one log it follows.',
  fields: (t) => ({
    processor: t.exposeString('processor', {
      description: 'inventory, sales, recommendations, activity-summaries or catalogue.',
    }),
    log: t.exposeString('log', { description: 'activity, inventory or catalogue.' }),
    events: t.exposeInt('events', {
      description: 'Events of the log it has not applied yet (counted up to 100,000).',
    }),
    seconds: t.exposeFloat('seconds', {
      description: 'Age of the oldest event it has not applied yet; 0 when caught up.',
    }),
  }),
});

builder.queryField('processors', (t) =>
  t.field({
    type: [ProcessorLag],
    description: 'Each processor and its lag behind the event log (also in /ready and /metrics).',
    authScopes: { staff: true },
    resolve: (_root, _args, { core }) => core.processorLag(),
  }),
);
