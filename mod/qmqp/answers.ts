/**
 * QMQP's answers: one netstring, K (accepted), Z (try again later) or D (refused), with
 * qmail-qmqpd's and qmail's texts where qmail has one.
 */
export const ANSWER = {
  badAddress: "Dsorry, I can't accept addresses like that (#5.1.3)",
  // qmail-smtpd's words for control/databytes.
  tooBig: "Dsorry, that message size exceeds my databytes limit (#5.3.4)",
  tooManyRecipients: "Dsorry, too many recipients (#5.5.3)",
  noMailbox: "Dsorry, no mailbox here by that name. (#5.1.1)",
  protocol: "Dsorry, that is not a valid QMQP request (#5.5.2)",
  localTrouble: "Zsorry, unable to write the message to a Maildir (#4.3.0)",
} as const;

/** qmail-qmqpd's acceptance: "Kok TIME qp PID". */
export function okAnswer(nowSeconds: number, qp: number): string {
  return `Kok ${nowSeconds} qp ${qp}`;
}

export function netstring(text: string): Uint8Array {
  const body = Buffer.from(text, "latin1");
  return Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(",")]);
}

/** qmail.c's qmail_close: qmail-queue's exit code as an answer ("" when accepted). */
export function queueExitAnswer(code: number | null, signal: string | null): string {
  if (code === null) return signal ? "Zqq crashed (#4.3.0)" : "Zqq waitpid surprise (#4.3.0)";
  switch (code) {
    case 0: return "";
    case 115:
    case 11: return "Denvelope address too long for qq (#5.1.3)";
    case 31: return "Dmail server permanently rejected message (#5.3.0)";
    case 51: return "Zqq out of memory (#4.3.0)";
    case 52: return "Zqq timeout (#4.3.0)";
    case 53: return "Zqq write error or disk full (#4.3.0)";
    case 54: return "Zqq read error (#4.3.0)";
    case 55: return "Zqq unable to read configuration (#4.3.0)";
    case 56: return "Zqq trouble making network connection (#4.3.0)";
    case 61: return "Zqq trouble in home directory (#4.3.0)";
    case 62: case 63: case 64: case 65: case 66: return "Zqq trouble creating files in queue (#4.3.0)";
    case 71: return "Zmail server temporarily rejected message (#4.3.0)";
    case 72: return "Zconnection to mail server timed out (#4.4.1)";
    case 73: return "Zconnection to mail server rejected (#4.4.1)";
    case 74: return "Zcommunication with mail server failed (#4.4.2)";
    case 81: case 91: return "Zqq internal bug (#4.3.0)";
    case 120: return "Zunable to exec qq (#4.3.0)";
    default: return code >= 11 && code <= 40 ? "Dqq permanent problem (#5.3.0)" : "Zqq temporary problem (#4.3.0)";
  }
}
