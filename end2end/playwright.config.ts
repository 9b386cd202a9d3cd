import { defineConfig } from '@playwright/test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Debian's Chromium, never a downloaded browser. The server is the real `rekey demo` binary
// on a fresh SQLite database in a temporary folder (see scripts/e2e-server).
const port = Number(process.env.E2E_PORT ?? 3901);
// The file the end-to-end server's clock offset is read from (see scripts/e2e-server); the
// suite's weeks-later spec writes it.
process.env.E2E_CLOCK_FILE ??= join(tmpdir(), `rekey-e2e-clock-${port}`);

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: {
    command: `bash ../scripts/e2e-server ${port}`,
    url: `http://127.0.0.1:${port}/login`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
