// Reading query plans, for the tests that hold list and search statements to bounded index
// ranges (test/users/search-plans, test/events/subject-plans).
import type SQLite from 'better-sqlite3';
import type pg from 'pg';

/** A node of PostgreSQL's `explain (analyze, format json)` plan, with the fields the tests read. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** The node and every node under it. */
export function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

/** Runs `statement` (with its bound `values`) under EXPLAIN ANALYZE and returns the executed plan. */
export async function executedPlan(client: pg.Client, statement: string, values: readonly unknown[] = []): Promise<PlanNode> {
  const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
    `explain (analyze, costs off, timing off, format json) ${statement}`,
    [...values],
  );
  return rows[0]!['QUERY PLAN'][0].Plan;
}

/** SQLite's plan lines for `statement`, e.g. `SEARCH users USING INDEX users_name_key_id ((name_key,id)>(?,?) AND name_key<?)`. */
export function sqlitePlan(connection: SQLite.Database, statement: string, values: readonly unknown[]): string[] {
  return (connection.prepare(`explain query plan ${statement}`).all(...values) as { detail: string }[]).map((r) => r.detail);
}
