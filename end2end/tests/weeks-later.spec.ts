import { test, expect, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { hydrated, signIn, signOut } from './helpers';

// Runs last (files run in name order): it moves Rekey's clock weeks ahead. The clock is the
// end-to-end harness's, not Rekey's: scripts/e2e-server preloads Debian's libfaketime, which
// reads its offset from this file; production builds have no such hook.
const clockFile = process.env.E2E_CLOCK_FILE!;
const SECRET = 'e2e-signing-secret-0123456789abcdef0123';
let offsetDays = 0;

async function moveClock(days: number) {
  offsetDays += days;
  writeFileSync(clockFile, `+${offsetDays}d\n`);
  // libfaketime reads the file at most once a second.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
}

test.afterAll(() => writeFileSync(clockFile, '+0\n'));

const nav = (page: Page, name: string) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();

/** Selects every notice of a queue page and acts on it, page after page, until none is left. */
async function actOnAll(page: Page, url: string, button: string, done: RegExp) {
  for (let round = 0; round < 20; round++) {
    await page.goto(url);
    await hydrated(page);
    if (await page.getByText('No notices match.').isVisible()) return;
    await page.getByLabel('Select every notice on this page').check();
    await page.getByRole('button', { name: button }).click();
    await expect(page.getByRole('status')).toContainText(done);
  }
  throw new Error(`notices were still left at ${url}`);
}

async function postEvent(page: Page, event: object) {
  const body = JSON.stringify(event);
  const t = Math.floor(Date.now() / 1000) + offsetDays * 86_400;
  const signature = createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex');
  const response = await page.request.post('/api/v1/events', {
    headers: { 'Rekey-Signature': `t=${t},v1=${signature}`, 'Content-Type': 'application/json' },
    data: body,
  });
  expect(response.status(), await response.text()).toBe(200);
}

test('weeks later, reminders reach only the consumers that have not migrated', async ({ page }) => {
  test.setTimeout(300_000);
  // The engineer plans a rotation with one reminder a week before the deadline, sent whenever
  // it is due (the campaign's own window is always open).
  await signIn(page, 'engineer');
  await nav(page, 'Campaigns');
  await page.getByRole('link', { name: 'Plan a rotation' }).click();
  await hydrated(page);
  await page.getByLabel('Campaign name').fill('Weeks later rotation');
  await page.getByLabel('Reminders (days before the deadline)').fill('7');
  await page.getByLabel('Escalations (days before the deadline)').fill('');
  await page.getByLabel(/Send window for this campaign/).fill('Mon-Sun 00:00-24:00');
  await page.getByRole('button', { name: 'Preview affected consumers' }).click();
  const preview = page.getByRole('region', { name: 'Preview' });
  await expect(preview).toContainText('Reminder, 7 days before the deadline');
  await expect(preview).toContainText('Every notice waits for Mon-Sun 00:00-24:00');
  await page.getByRole('button', { name: /Create campaign and draft the series for \d+ consumers/ }).click();

  // The campaign page: the calendar of what goes out when, and the burn-down.
  await expect(page.getByRole('img', { name: 'Burn-down' })).toBeVisible();
  const heading = page.getByRole('heading', { name: /^Migrated: 0 of \d+$/ });
  await expect(heading).toBeVisible();
  const total = Number((await heading.textContent())!.match(/of (\d+)/)![1]);
  const series = page.getByRole('region', { name: 'Series' });
  await expect(series.getByRole('table', { name: 'Calendar' })).toContainText('reminder');
  await expect(series).toContainText('Send window for every consumer: Mon-Sun 00:00-24:00');
  const campaignUrl = page.url();
  const campaign = campaignUrl.split('/').pop()!;
  await expect(page.getByRole('list', { name: 'Notices by state' }).getByRole('link', { name: /Drafted/ }))
    .toContainText(String(total * 5), { timeout: 30_000 });

  // The engineer submits the whole series; the approver approves it in bulk.
  await actOnAll(page, `/review?campaign=${campaign}&state=drafted`, 'Submit selected for review', /Submitted \d+ notices/);
  await signOut(page);
  await signIn(page, 'approver');
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Waiting for your approval' })).toContainText('Weeks later rotation');
  await actOnAll(page, `/review?campaign=${campaign}&state=in_review`, 'Approve selected', /Approved \d+ notices/);

  // The key-issuing system says half the consumers moved to their new keys.
  await page.goto(campaignUrl);
  const credentials = page.getByRole('region', { name: 'Revocation' }).getByRole('row');
  await expect(credentials).toHaveCount(total + 1);
  const rows = await credentials.allTextContents();
  const moved: string[] = [];
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  for (const [i, row] of rows.slice(1).entries()) {
    if (i % 2 === 1) continue;
    const credential = row.match(/^(\S+?)(Active|Rotating)/)![1];
    const consumer = row.match(/unsafe: (.+) still uses it/)![1];
    moved.push(consumer);
    await postEvent(page, {
      id: `evt-weeks-${i}-rotated`, type: 'key.rotated', occurred_at: now,
      data: { credential, replacement: `${credential}-next`, prefix: `sk_live_wk${i}` },
    });
    await postEvent(page, {
      id: `evt-weeks-${i}-used`, type: 'key.used', occurred_at: now,
      data: { uses: [{ credential: `${credential}-next`, used_at: now }] },
    });
  }
  await page.reload();
  await expect(page.getByRole('heading', { name: `Migrated: ${moved.length} of ${total}` })).toBeVisible();

  // Three weeks and three days later, a week before the deadline.
  await moveClock(24);
  // Every session signed in before the jump has expired by now: wait for this sign-in to land
  // before going anywhere, or the mailbox would answer with the sign-in page.
  await signIn(page, 'engineer');
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  await expect(async () => {
    await page.goto('/mailbox');
    await expect(page).toHaveURL(/\/mailbox/);
    const reminders = page.getByRole('link', { name: /^Reminder: 7 days left/ });
    await expect(reminders).toHaveCount(total - moved.length, { timeout: 1_000 });
  }).toPass({ timeout: 60_000 });
  // The migrated got their confirmation and no reminder.
  for (const name of moved) {
    await expect(page.getByRole('link', { name: `Thank you: ${name} has moved off the old` , exact: false })).toHaveCount(1);
  }
  // The burn-down has dropped, and the reminders that did not go say why.
  await page.goto(campaignUrl);
  await expect(page.getByRole('heading', { name: `Migrated: ${moved.length} of ${total}` })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Notices by state' }).getByRole('link', { name: /Not sent/ }))
    .not.toContainText(/^0/);
});
