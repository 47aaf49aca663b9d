import type { Applet } from "../cli/applet.ts";
import { TempError } from "../cli/errors.ts";

export const applet: Applet = {
  name: "doctor",
  summary: "doctor (being built)",
  usage: "doctor",
  async run() {
    throw new TempError("not built yet");
  },
};
