import type { Applet } from "../cli/applet.ts";
import { TempError } from "../cli/errors.ts";

export const applet: Applet = {
  name: "conf",
  summary: "conf (being built)",
  usage: "conf",
  async run() {
    throw new TempError("not built yet");
  },
};
