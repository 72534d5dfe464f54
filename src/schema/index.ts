// The schema: every module registers its types on the builder; this file only builds.
import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.js';
import './scalars.js';
import './ingest.js';
import './catalogue.js';
import './activity.js';
import './inventory.js';
import './admin.js';
import './sales.js';
import './sales-alerts.js';
import './summaries.js';
import './recommendations.js';
import './refunds.js';
import './webhooks.js';

export const schema = lexicographicSortSchema(builder.toSchema());
