// `--help` (or `-h`) on any command: print what it does and its options, exit 0, touch nothing.
/** Prints `text` and exits 0 when the arguments ask for help. Call it before any other work. */
export function printHelpIfAsked(text: string, argv: readonly string[] = process.argv.slice(2)): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  process.stdout.write(`${text.trim()}\n`);
  process.exit(0);
}
