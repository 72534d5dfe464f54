// The service as a user runs it: `tsx src/main.ts` in a child process, read through its logs.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export type ServiceProcess = {
  url: string;
  child: ChildProcess;
  exitCode: number | null;
  output(): string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/** Starts the service and waits for its "listening" log line (or, with expectExit, for its exit). */
export async function startProcess(
  env: Record<string, string>,
  options: { expectExit?: boolean; timeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const service: ServiceProcess = {
    url: '',
    child,
    exitCode: null,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (service.exitCode === null && child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
  void exited.then((code) => {
    service.exitCode = code;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service did not start within ${options.timeoutMs ?? 30_000} ms:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http:[^"]+)"/.exec(output);
      if (match && !options.expectExit) {
        service.url = match[1] as string;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      if (options.expectExit) resolve();
      else reject(new Error(`the service exited during start-up:\n${output}`));
    });
  });
  return service;
}
