// Page sizes are bounded everywhere, with one clear error.
import { InvalidInput } from './errors.js';

export type Page<T> = { items: T[]; hasNextPage: boolean; endCursor: string | null };

export const MAX_PAGE_SIZE = 500;

export function checkPageSize(first: number | null | undefined, fallback = 50): number {
  const size = first ?? fallback;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new InvalidInput(`first must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${size}`);
  }
  return size;
}
