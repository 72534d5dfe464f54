// Authorization refusals in plain English: who may do it, and who is asking. Pothos reports the
// scopes that failed (scopes in builder.ts); each is named here as the people it admits.
import { type AuthFailure, AuthScopeFailureType } from '@pothos/plugin-scope-auth';
import type { GraphQLResolveInfo } from 'graphql';
import type { Viewer } from '../auth/viewer.js';

const WHO_MAY: Record<string, (parameter: unknown) => string> = {
  ingest: () => 'an integration key or an admin',
  staff: () => 'staff or an admin',
  admin: () => 'an admin',
  shopper: () => 'a signed-in shopper, staff or an admin',
  user: (userId) => `the shopper ${JSON.stringify(userId)} themself, staff or an admin`,
};

/** "Only an admin may use mutation setStockThreshold; you are signed in as staff ("s1")." */
export function forbiddenMessage(viewer: Viewer, info: GraphQLResolveInfo, failure: AuthFailure): string {
  const scopes = failedScopes(failure);
  const who = scopes.map(({ scope, parameter }) => WHO_MAY[scope]?.(parameter) ?? `the ${scope} scope`);
  const what = `${info.parentType.name.toLowerCase()} ${info.fieldName}`;
  const hint =
    viewer.role === 'shopper' && scopes.some((s) => s.scope === 'staff') && hasUserIdArgument(info)
      ? ` A shopper may ask for their own userId (${JSON.stringify(viewer.userId)}).`
      : '';
  const allowed = who.length > 0 ? who.join(', or ') : 'another role';
  return `Only ${allowed} may use ${what}${scopes.some((s) => s.scope === 'user') ? ' for that userId' : ''}; you are signed in as ${describe(viewer)}.${hint}`;
}

function failedScopes(failure: AuthFailure): Array<{ scope: string; parameter: unknown }> {
  switch (failure.kind) {
    case AuthScopeFailureType.AuthScope:
      return [{ scope: failure.scope, parameter: failure.parameter }];
    case AuthScopeFailureType.AnyAuthScopes:
    case AuthScopeFailureType.AllAuthScopes:
      return failure.failures.flatMap(failedScopes);
    default:
      return [];
  }
}

function hasUserIdArgument(info: GraphQLResolveInfo): boolean {
  return info.parentType.getFields()[info.fieldName]?.args.some((arg) => arg.name === 'userId') ?? false;
}

function describe(viewer: Viewer): string {
  switch (viewer.role) {
    case 'integration':
      return 'an integration key';
    case 'shopper':
      return `the shopper ${JSON.stringify(viewer.userId)}`;
    case 'staff':
      return `staff (${JSON.stringify(viewer.userId)})`;
    default:
      return `a ${viewer.role}`;
  }
}
