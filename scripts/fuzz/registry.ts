/** Every fuzz target, in the order the campaign and the CI slice run them. */
import type { FuzzTarget } from "./target.ts";
import { pop3Command, pop3Encoder, pop3Framer, pop3Session } from "./targets/pop3.ts";
import { pop3dEngine } from "./targets/pop3d_engine.ts";
import { proxyHeader } from "./targets/proxy.ts";
import { cdbReader, rulesParse } from "./targets/rules_cdb.ts";
import { fd3Request, multilogScript } from "./targets/text_formats.ts";
import { policyConfig, qmqpNetstrings, saslPlain } from "./targets/later_formats.ts";
import { oauthBearerMessages, scramMessages } from "./targets/sasl.ts";
import { journalHeader, scanCache } from "./targets/mbox_files.ts";
import { logEscaping, uidlMapping } from "./targets/session_values.ts";

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  pop3Command, pop3Framer, pop3Session, pop3Encoder, pop3dEngine, rulesParse, cdbReader, proxyHeader, multilogScript, fd3Request,
  saslPlain, qmqpNetstrings, policyConfig, journalHeader, scanCache, uidlMapping, logEscaping, scramMessages, oauthBearerMessages,
];
