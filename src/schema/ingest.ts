// What every ingest mutation answers: counts, and one error per rejected event.
import type { Rejection, IngestReport as Report } from '../core/ingest/rejections.js';
import { builder } from './builder.js';

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
    accepted: t.exposeInt('accepted', { description: 'Stored and processed now.' }),
    duplicates: t.exposeInt('duplicates', { description: 'Seen before (same eventId); nothing changed.' }),
    errors: t.field({
      type: [IngestError],
      description: 'Rejected; nothing of these was stored (they are kept as dead letters).',
      resolve: (report) => report.errors,
    }),
  }),
});
