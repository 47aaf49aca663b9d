// Preloaded by bun test (bunfig.toml): hooks here apply to the whole run, not one file.
import { afterAll } from "bun:test";
import { removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);
