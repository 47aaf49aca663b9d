/** doctor's checklist: one result per check, printed as ✓/✗ lines or as JSON. */
export interface CheckResult {
  /** Stable name for scripts: "listener", "rules-allow", "maildir" ... */
  id: string;
  ok: boolean;
  /** What was found, in one sentence. */
  detail: string;
  /** How to fix it, in one sentence (failures only). */
  fix?: string;
}

export function formatText(results: readonly CheckResult[]): string {
  return results.map((r) => `${r.ok ? "✓" : "✗"} ${r.id}: ${r.detail}${r.ok || !r.fix ? "" : ` Fix: ${r.fix}`}\n`).join("");
}

export function formatJson(results: readonly CheckResult[]): string {
  return `${JSON.stringify({ ok: results.every((r) => r.ok), checks: results }, null, 2)}\n`;
}

export function pass(id: string, detail: string): CheckResult {
  return { id, ok: true, detail };
}

export function failure(id: string, detail: string, fix: string): CheckResult {
  return { id, ok: false, detail, fix };
}
