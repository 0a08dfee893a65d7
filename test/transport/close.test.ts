import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers.js';

t.test('close() leaves no open handles: the process exits by itself', async (t) => {
  const fixture = fileURLToPath(new URL('./fixtures/close-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exitCode: number | null = null;
  let exited = false;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (code) => {
    exitCode = code;
    exited = true;
  });
  t.teardown(() => {
    if (!exited) child.kill('SIGKILL');
  });
  await waitFor(() => stdout.includes('closed'), `the child to close its transports (stderr: ${stderr})`, 30_000);
  // Once closed, the child has nothing left to wait for; a leak would keep it alive for the 5 s back-off or forever.
  await waitFor(() => exited, `the child to exit after close (${stdout.trim()})`, 2_000);
  t.equal(exitCode, 0, stderr);
  t.notMatch(stdout, /TCP|Timeout/, 'no socket, server or timer was active after close()');
});
