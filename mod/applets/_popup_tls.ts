/**
 * What popup needs for TLS, in one module it loads only when TLS is in play (STLS
 * configured, key material passed by serve, or serve --tls in front): a plain-text
 * session, the classic chain's usual one, never loads mod/tls (start cost, see
 * tests/cli/start_cost.test.ts).
 */
export { runChainOverTls } from "./_run_chain_over_tls.ts";
export { channelBindingFromEnv } from "../tls/channel_binding.ts";
export { loadTlsContext } from "../tls/context.ts";
export { contextFromMaterial, materialFromEnv } from "../tls/key_material.ts";
export { upgradeStdio } from "../tls/stdio_tls.ts";
export { TlsChannel } from "../tls/tls_channel.ts";
