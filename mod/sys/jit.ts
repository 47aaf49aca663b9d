/**
 * The binary starts with JavaScriptCore's tier-up thresholds scaled up (`--compile-jit-policy`
 * in package.json's build): a process started for one connection (popup with its one-process
 * login, pop3d, qmqpd) or for one command runs its start-up code and a short session in the
 * interpreter instead of paying the JIT to compile code it runs only a few hundred times
 * (about 1.5 ms of CPU per classic-chain session). Hot code of a long session still reaches the
 * JIT, later. Long-running hosts (serve in both modes, --inline's mail workers, log) call
 * longRunning() once started, so their hot paths are compiled at the normal thresholds.
 */
export function longRunning(): void {
  Bun.unsafe.setJITPolicy(1);
}
