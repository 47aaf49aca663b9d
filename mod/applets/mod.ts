/**
 * applets — the hosts of the classic chain, one file per program (chosen by argv[0] or the
 * first argument through mod/cli's applet table): popup and pop3d run mod/session over fds 0
 * and 1, serve runs mod/serve's server; the rest are qmail's, daemontools' and ucspi-tcp's
 * tools. Files named _*.ts are this folder's own (popup's chain runner and one-process login).
 */
export { applet as pop3d } from "./pop3d.ts";
export { applet as popup } from "./popup.ts";
export { applet as serve } from "./serve.ts";
