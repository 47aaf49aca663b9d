/** The log escaping helpers (mod/cli/log_value.ts), where the POP3 code has always imported them. */
export { logLine, logValue } from "../cli/log_value.ts";
