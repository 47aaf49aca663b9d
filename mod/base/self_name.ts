/**
 * Whether a program name (a basename) is poppin itself rather than one of its applets:
 * "poppin", or the binary kept under a versioned or staged name ("poppin-0.1.0",
 * "poppin.new"). Dispatch, serve's and popup's chain checks, config and doctor all ask this.
 */
export function isPoppinName(name: string): boolean {
  return name === "poppin" || /^poppin[-.]/.test(name);
}

/**
 * How log lines name the program a chain runs (`why=... exit 111`): its first word as given,
 * with the applet after it when that word is poppin itself ("/usr/bin/poppin checkpassword",
 * not "/usr/bin/poppin"). Every host names a chain's program this way, whether it runs it or
 * serves it in its own process.
 */
export function programLabel(argv: readonly string[]): string {
  const first = argv[0] ?? "";
  const base = first.slice(first.lastIndexOf("/") + 1);
  return isPoppinName(base) && argv[1] !== undefined ? `${first} ${argv[1]}` : first;
}
