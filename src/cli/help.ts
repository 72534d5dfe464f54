// The shape every command shares: `--help` (or `-h`) prints what it does and its options and exits
// 0, touching nothing; otherwise it runs, and its failure is one line on stderr and exit code 1.
/** Prints `text` and exits 0 when the arguments ask for help. Call it before any other work. */
export function printHelpIfAsked(text: string, argv: readonly string[] = process.argv.slice(2)): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  process.stdout.write(`${text.trim()}\n`);
  process.exit(0);
}

/**
 * Runs a command: its help when asked, else `main` with the arguments, whose answer is the exit
 * code (0 when none). A failure prints "<name> failed[ on <target>]: <reason>" and exits 1.
 */
export function runCli(command: {
  /** The npm script, e.g. `keys`. */
  name: string;
  help: string;
  main(argv: string[]): Promise<number | undefined>;
  /** What it works on, named in a failure ("db:migrate failed on <target>: …"). */
  target?: string;
  /** A failure shows its stack, not only its message. */
  stack?: boolean;
}): void {
  const argv = process.argv.slice(2);
  printHelpIfAsked(command.help, argv);
  command.main(argv).then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (error: unknown) => {
      const reason = (command.stack ? (error as Error).stack : (error as Error).message) ?? String(error);
      console.error(`${command.name} failed${command.target ? ` on ${command.target}` : ''}: ${reason}`);
      process.exitCode = 1;
    },
  );
}
