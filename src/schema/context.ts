// What every resolver gets: the core, who is asking, and the ingest admission check. Nothing of
// Prisma or pg (Pothos' advice).
import type { Viewer } from '../auth/viewer.js';
import type { Core } from '../core/core.js';

export type GraphQLContext = {
  core: Core;
  viewer: Viewer;
  /** Charges `events` to the viewer's ingest rate; throws RATE_LIMITED with retryAfter when over. */
  /** Throws RATE_LIMITED when the credential's ingest rate is spent. */
  admitIngest(events: number): Promise<void>;
};
