/**
 * The words djb's error_str prints for an errno, so our messages read as multilog's
 * ("unable to lock directory ./main: temporary failure"). The table is base/errno_text.ts.
 */
import { errnoText } from "../base/errno_text.ts";

export function djbErrorText(err: unknown): string {
  const code = (err as { code?: string } | null)?.code;
  const text = errnoText(code);
  if (text !== undefined) return text;
  return code ? "unknown error" : String((err as Error)?.message ?? err);
}
