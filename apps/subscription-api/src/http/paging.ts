import { z } from 'zod';

/**
 * The two query parameters of every list: `limit` (1 to 100) and `cursor`, the
 * `next_cursor` of the page before, which the API alone makes.
 */
export const pageLimit = (byDefault = 20) =>
  z.coerce.number().int().min(1).max(100).default(byDefault);

export const NOT_A_CURSOR = 'must be a next_cursor from a previous page';

/** A cursor of the shape `pattern` (an id of the kind listed, say). */
export const pageCursor = (pattern: RegExp) => z.string().regex(pattern, NOT_A_CURSOR).optional();
