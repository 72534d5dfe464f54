// The one Pothos builder. It defines no types: each stream's module adds its own.
//
// Authorization is declared on each root field with `authScopes` (Pothos scope-auth), checked
// before the resolver runs and, for subscriptions, before subscribing. Every root field must
// declare its scopes (test/api/auth.test.ts walks them all). The scopes:
//   ingest  integration keys and admins: the ingest mutations
//   staff   staff and admins: every query and subscription
//   admin   admins: thresholds, dead letters
//   user    (userId) that shopper themself, or staff/admin: own activity and recommendations
//   shopper any signed-in shopper, staff or admin: what a storefront shows anyone (live stock levels)
import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import type { GraphQLContext } from './context.js';
import { forbiddenMessage } from './refusals.js';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  AuthScopes: { ingest: boolean; staff: boolean; admin: boolean; user: string; shopper: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    Money: { Input: string; Output: string };
    ID: { Input: string; Output: string };
  };
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: ({ viewer }) => ({
      ingest: viewer.role === 'integration' || viewer.role === 'admin',
      staff: viewer.role === 'staff' || viewer.role === 'admin',
      admin: viewer.role === 'admin',
      shopper: viewer.role === 'shopper' || viewer.role === 'staff' || viewer.role === 'admin',
      user: (userId) =>
        viewer.role === 'staff' || viewer.role === 'admin' || (viewer.role === 'shopper' && viewer.userId === userId),
    }),
    unauthorizedError: (_parent, { viewer }, info, result) =>
      viewer.role === 'anonymous'
        ? new GraphQLError(`${info.fieldName} needs a credential: send Authorization: Bearer <API key or JWT>`, {
            extensions: { code: 'UNAUTHENTICATED' },
          })
        : new GraphQLError(forbiddenMessage(viewer, info, result.failure), { extensions: { code: 'FORBIDDEN' } }),
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
