// What every resolver gets: the core, nothing of Prisma or pg (Pothos' advice).
import type { Core } from '../core/core.js';

export type GraphQLContext = {
  core: Core;
};
