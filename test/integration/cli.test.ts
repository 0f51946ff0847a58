/**
 * `npm start` as a user runs it: the CLI process on a port it picks, answering HTTP, stopped by
 * SIGTERM; and its refusal of arguments it does not know.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const CLI = ['--import', 'tsx', 'local/cli.ts'];

describe('CLI: start', () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child!.once('exit', resolve));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs the stack on a free port with --port 0 and --data-dir (relative to where npm was run), and stops on SIGTERM', { timeout: 120_000 }, async () => {
    // Prepare: npm runs the script from the package root and says where the user was in INIT_CWD.
    dir = await mkdtemp(join(tmpdir(), 'streamfold-cli-'));
    const { PORT: _p, STREAMFOLD_DATA_DIR: _d, ...rest } = process.env;
    const env = { ...rest, INIT_CWD: dir };

    // Act
    child = spawn(process.execPath, [...CLI, 'start', '--port', '0', '--data-dir', 'state'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const deadline = Date.now() + 90_000;
    let url: string | undefined;
    while (url === undefined && Date.now() < deadline && child.exitCode === null) {
      url = /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (url === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // Assess
    expect(url, out).toBeDefined();
    expect(url).not.toBe('http://127.0.0.1:8787');
    expect(out).toContain(`state in ${join(dir, 'state')}`);
    const res = await fetch(`${url}/v1/metrics`);
    expect(res.status).toBe(401);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('SIGTERM: stopping');
  });

  it.each([
    [['--bogus'], {}, "error: Unknown option '--bogus'"],
    [['--port', '70000'], {}, 'error: --port must be a whole number 0..65535 (0 picks a free port), got "70000"'],
    [['--port=8O80'], {}, 'error: --port must be a whole number 0..65535 (0 picks a free port), got "8O80"'],
    [[], { PORT: 'abc' }, 'error: PORT must be a whole number 0..65535 (0 picks a free port), got "abc"'],
    [['--data-dir', ''], {}, 'error: --data-dir must name a directory'],
    [['extra'], {}, "error: Unexpected argument 'extra'"],
  ])('refuses %j (env %j) with a usage line, before starting anything', async (args, env, message) => {
    // Act
    const err = await promisify(execFile)(process.execPath, [...CLI, 'start', ...args], { cwd: ROOT, env: { ...process.env, ...env } }).catch(
      (e: unknown) => e as { code: number; stderr: string },
    );

    // Assess
    expect(err).toMatchObject({ code: 1 });
    const stderr = (err as { stderr: string }).stderr;
    expect(stderr).toContain(message);
    expect(stderr).toContain('usage: start [--port N] [--data-dir DIR]');
  });
});
