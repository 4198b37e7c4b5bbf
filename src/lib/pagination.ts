/**
 * Cursor pagination over id-ordered rows, newest first. Stores fetch `limit + 1` rows; the extra row only says that
 * another page exists, and the cursor is the last id shown (ids sort by creation time).
 */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function pageOf<T extends { id: string }>(rowsFetchedWithOneExtra: T[], limit: number): Page<T> {
  const items = rowsFetchedWithOneExtra.slice(0, limit);
  const hasMore = rowsFetchedWithOneExtra.length > limit;
  return { items, nextCursor: hasMore ? items[items.length - 1]!.id : null };
}

export interface PageRequest {
  beforeId?: string;
  limit: number;
}
