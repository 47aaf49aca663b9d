/**
 * mbox status headers as Maildir flags (maildir(5) info "2,FLAGS", flags in ASCII order):
 * `Status: R` (read) -> S; `X-Status:` A (answered) -> R, F (flagged) -> F, D (deleted) -> T.
 * A message with neither R nor O in Status: was never seen by a mail reader: it goes to
 * new/; every other one to cur/.
 */
export interface MaildirPlacement {
  sub: "new" | "cur";
  /** The info to append to the name (":2,FS"), empty for new/. */
  info: string;
}

export function placementFor(status: string, xStatus: string): MaildirPlacement {
  const flags = new Set<string>();
  if (status.includes("R")) flags.add("S");
  if (xStatus.includes("A")) flags.add("R");
  if (xStatus.includes("F")) flags.add("F");
  if (xStatus.includes("D")) flags.add("T");
  const seen = status.includes("R") || status.includes("O");
  if (!seen && flags.size === 0) return { sub: "new", info: "" };
  return { sub: "cur", info: `:2,${[...flags].sort().join("")}` };
}
