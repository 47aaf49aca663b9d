/**
 * Whether a program name (a basename) is poppin itself rather than one of its applets:
 * "poppin", or the binary kept under a versioned or staged name ("poppin-0.1.0",
 * "poppin.new"). Dispatch, serve's and popup's chain checks, config and doctor all ask this.
 */
export function isPoppinName(name: string): boolean {
  return name === "poppin" || /^poppin[-.]/.test(name);
}
