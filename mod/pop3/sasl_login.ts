/**
 * SASL LOGIN (draft-murchison-sasl-login), the clear-text mechanism some clients use instead
 * of PLAIN; offered only with `sasl-login` (Dovecot's `auth_mechanisms = plain login`) and
 * only where clear-text passwords are allowed. The server asks "Username:" and "Password:"
 * (base64, as Dovecot sends them); the client answers each with base64. An initial response
 * after `AUTH LOGIN` is the user name, as Dovecot takes it. The result is the same
 * "authenticate" action as PASS, with mechanism LOGIN.
 */
import type { SaslExchange, SaslStep } from "../sasl/mechanisms.ts";

/** The challenges' text, as every LOGIN server sends it. */
export const LOGIN_USERNAME_PROMPT = "Username:";
export const LOGIN_PASSWORD_PROMPT = "Password:";

const encoder = new TextEncoder();

export class LoginExchange implements SaslExchange {
  readonly mechanism = "LOGIN";
  #user: Uint8Array | undefined;

  step(response: Uint8Array): SaslStep {
    if (this.#user === undefined) {
      if (response.length === 0) return { kind: "malformed", why: "empty user name" };
      this.#user = response.slice();
      return { kind: "challenge", data: encoder.encode(LOGIN_PASSWORD_PROMPT) };
    }
    const user = this.#user;
    if (response.length === 0) return { kind: "malformed", why: "empty password" };
    return { kind: "done", user, password: response.slice() };
  }
}
