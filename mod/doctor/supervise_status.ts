/**
 * svstat for every supervisor that runs conf's directories: daemontools' supervise and runit's
 * runsv write supervise/status as svstat reads it; s6-supervise writes its own, which only
 * s6-svstat reads (svstat: "unable to open supervise/ok"). doctor asks svstat, then s6-svstat,
 * and reads either answer in svstat's words ("DIR: up (pid N) S seconds", "DIR: down S seconds").
 */
export type CommandRunner = (cmd: string[]) => { code: number; out: string };

/** s6-svstat's "down (exitcode 111) 0 seconds, normally up, want up, ready 0 seconds" as svstat says it. */
export function svstatWords(s6: string): string {
  return s6.replace(/^down \([^)]*\) /, "down ").replace(/, ready \d+ seconds?$/, "");
}

export function withS6Status(run: CommandRunner): CommandRunner {
  return (cmd) => {
    const r = run(cmd);
    if (cmd[0] !== "svstat" || cmd.length !== 2) return r;
    if (/: (up \(pid \d+\)|down \d+ seconds?)/.test(r.out)) return r;
    const s6 = run(["s6-svstat", cmd[1]!]);
    if (s6.code !== 0 || !/^(up|down) /.test(s6.out)) return r;
    return { code: 0, out: `${cmd[1]}: ${svstatWords(s6.out.trim())}\n` };
  };
}
