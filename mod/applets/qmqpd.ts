import type { Applet } from "../cli/applet.ts";
import { TempError } from "../cli/errors.ts";

export const applet: Applet = {
  name: "qmqpd",
  summary: "qmqpd (being built)",
  usage: "qmqpd",
  async run() {
    throw new TempError("not built yet");
  },
};
