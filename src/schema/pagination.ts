// Connections with the contract's names (ActivityConnection, ActivityEdge, PageInfo).
import type { ObjectRef } from '@pothos/core';
import type { Page } from '../core/paging.js';
import { builder } from './builder.js';

export const PageInfo = builder.objectRef<Page<unknown>>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.string({
      nullable: true,
      description: 'Pass it as `after` for the next page, or to the subscription to go on live.',
      resolve: (page) => page.endCursor,
    }),
  }),
});

/** `<Name>Connection` and `<Name>Edge` over a Page of items that carry their own cursor. */
export function connectionOf<T extends { cursor: string }>(name: string, node: ObjectRef<Types, T>) {
  const Edge = builder.objectRef<T>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.string({ resolve: (item) => item.cursor }),
      node: t.field({ type: node, resolve: (item) => item as never }),
    }),
  });
  return builder.objectRef<Page<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({ type: [Edge], resolve: (page) => page.items }),
      pageInfo: t.field({ type: PageInfo, resolve: (page) => page }),
    }),
  });
}

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
