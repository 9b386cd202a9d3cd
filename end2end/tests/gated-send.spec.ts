import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hydrated, signIn, signOut } from './helpers';

const nav = (page: Page, name: string) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();

test('a rotation becomes notices that an engineer edits and an approver approves into the mailbox', async ({ page }) => {
  test.setTimeout(120_000);
  // The engineer plans a rotation of production keys older than 90 days.
  await signIn(page, 'engineer');
  await nav(page, 'Campaigns');
  await page.getByRole('link', { name: 'Plan a rotation' }).click();
  await hydrated(page);
  await page.getByLabel('Campaign name').fill('Playwright rotation');
  await page.getByRole('button', { name: 'Preview affected consumers' }).click();
  const preview = page.getByRole('region', { name: 'Preview' });
  await expect(preview.getByRole('heading', { name: /consumers affected/ })).toBeVisible();
  await expect(preview.getByRole('row')).not.toHaveCount(0);
  // Each consumer gets a series: the announcement, reminders, escalations and the closing notices.
  await expect(preview).toContainText('Reminder, 14 days before the deadline');
  await page.getByRole('button', { name: /Create campaign and draft the series for \d+ consumers/ }).click();

  // The campaign page draws the timeline (server-rendered SVG) and counts the drafts.
  await expect(page.getByRole('img', { name: 'Rotation timeline' })).toBeVisible();
  // Nobody has migrated yet: the burn-down is drawn and every consumer is listed as not moved.
  await expect(page.getByRole('img', { name: 'Burn-down' })).toBeVisible();
  await expect(page.getByRole('heading', { name: /^Migrated: 0 of \d+$/ })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Not migrated yet' }).getByRole('link')).not.toHaveCount(0);
  // The calendar says what goes out when; in a consumer's zone on request.
  const series = page.getByRole('region', { name: 'Series' });
  await expect(series.getByRole('table', { name: 'Calendar' })).toContainText('announcement');
  await expect(series).toContainText('confirmations go as each consumer migrates');
  const drafted = page.getByRole('list', { name: 'Notices by state' }).getByRole('link', { name: /Drafted/ });
  await expect(drafted).not.toContainText(/^0/, { timeout: 20_000 });
  await drafted.click();

  // Edit the first draft.
  await page.getByRole('link', { name: /^#\d+ v1$/ }).first().click();
  await hydrated(page);
  const body = page.getByLabel('Body (markdown)');
  const edited = (await body.inputValue()).replace(/^Hello /, 'Dear ') + '\nWe can help with the switch: just reply.\n';
  await body.fill(edited);
  await expect(page.getByRole('region', { name: 'Preview' })).toContainText('We can help with the switch');
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page.getByText('Version 2', { exact: true })).toBeVisible();
  await page.getByRole('button', { name: 'Submit for review' }).click();
  await expect(page.getByText('Waiting for an approver.')).toBeVisible();
  // The engineer who wrote it cannot approve it: there is no approval for them to give.
  await expect(page.getByRole('button', { name: /Approve/ })).toHaveCount(0);
  const noticeUrl = page.url();
  const recipient = (await page.getByText(/^To /).locator('span').textContent())!;
  await expect(page.getByText('Announcement', { exact: true }).first()).toBeVisible();

  // This consumer's people read mail at any hour: the engineer opens its send window, so the
  // announcement goes as soon as it is approved rather than at its next office morning.
  await page.getByRole('link', { name: (await page.getByRole('heading', { level: 1 }).textContent())!.replace(/^Notice #\d+ to /, ''), exact: true }).click();
  await hydrated(page);
  const windowForm = page.getByRole('form', { name: 'Send window' });
  await windowForm.getByLabel('Notices go out (its time)').fill('Mon-Fri 17:00-09:00');
  await windowForm.getByRole('button', { name: 'Save window' }).click();
  await expect(page.getByText('the window is empty')).toBeVisible();
  await windowForm.getByLabel('Notices go out (its time)').fill('Mon-Sun 00:00-24:00');
  await windowForm.getByRole('button', { name: 'Save window' }).click();
  await expect(page.getByText('Mon-Sun 00:00-24:00', { exact: true })).toBeVisible();

  // A pasted live key blocks approval, and the check says where.
  await page.goto('/review');
  await page.getByRole('link', { name: /^#\d+ v1$/ }).nth(1).click();
  await hydrated(page);
  const secretBody = page.getByLabel('Body (markdown)');
  const key = 'sk_live_' + Array.from({ length: 24 }, () => 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789'[Math.floor(Math.random() * 57)]).join('');
  await secretBody.fill((await secretBody.inputValue()) + `\nYour new key: ${key}\n`);
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  const checks = page.getByRole('region', { name: 'Checks' });
  await expect(checks).toContainText('✗ No secrets');
  await expect(checks).toContainText(/line \d+, column 15: looks like a Stripe secret key/);
  await expect(checks).not.toContainText(key.slice(8));
  await page.getByRole('button', { name: 'Submit for review' }).click();
  await expect(page.getByText('Waiting for an approver.')).toBeVisible();
  const secretUrl = page.url();
  const line = (url: string) => new RegExp(`^#${url.split('/').pop()} to `);

  // The engineer's home page lists the notice that fails its checks.
  await page.goto('/');
  const failing = page.getByRole('region', { name: 'Failing their checks' });
  await expect(failing.getByRole('link', { name: line(secretUrl) })).toBeVisible();
  await expect(failing.getByRole('link', { name: line(noticeUrl) })).toHaveCount(0);
  await signOut(page);

  // The approver approves the edited notice; the one with the key cannot be approved.
  await signIn(page, 'approver');
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  // Their home page lists both notices waiting for them, the one with the key marked.
  const waiting = page.getByRole('region', { name: 'Waiting for your approval' });
  await expect(waiting.getByRole('link', { name: line(noticeUrl) })).toBeVisible();
  const secretLine = waiting.getByRole('listitem').filter({ has: page.getByRole('link', { name: line(secretUrl) }) });
  await expect(secretLine).toContainText('checks fail');
  await page.goto(secretUrl);
  await hydrated(page);
  await expect(page.getByText('This version fails its checks, so it cannot be approved.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Approve version 2' })).toBeDisabled();

  await page.goto(noticeUrl);
  await hydrated(page);
  await page.getByRole('button', { name: 'Approve version 2' }).click();
  await expect(page.getByRole('region', { name: 'Decisions and delivery' })).toContainText('Approved v2 by approver');
  await expect(async () => {
    await page.reload();
    await expect(page.getByText('Sent', { exact: true }).first()).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 20_000 });

  // The mailbox shows exactly the approved text for that recipient.
  await nav(page, 'Mailbox');
  await page.getByLabel('Recipient').fill(recipient);
  await page.getByRole('button', { name: 'Show' }).click();
  await page.getByRole('link', { name: /Action required/ }).first().click();
  await expect(page.getByTestId('text-part')).toHaveText(edited, { useInnerText: false });
  await expect(page.frameLocator('iframe[title="HTML part"]').getByText('We can help with the switch: just reply.')).toBeVisible();
});

test('the security lead filters the audit trail, downloads the campaign evidence and verifies it offline', async ({ page }) => {
  // Runs after the rotation above: its approval and delivery are in the trail.
  await signIn(page, 'security');
  await nav(page, 'Audit trail');
  await hydrated(page);
  await page.getByLabel('Action').selectOption('notice.approved');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=notice\.approved/);
  await expect(page.getByRole('row', { name: /notice\.approved/ }).first()).toContainText('approver');
  // One entry on its own: its hashes recompute and it links to the entry before.
  await page.getByRole('row', { name: /notice\.approved/ }).first().getByRole('link').first().click();
  await expect(page.getByRole('heading', { name: /^Audit entry \d+$/ })).toBeVisible();
  const checks = page.getByRole('region', { name: 'Checks' });
  await expect(checks).toContainText('hash recomputes');
  await expect(checks).toContainText('links to the entry before');
  await page.goBack();

  await nav(page, 'Campaigns');
  await page.getByRole('link', { name: 'Playwright rotation' }).first().click();
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download evidence' }).click();
  const file = await (await download).path();
  expect(file).toBeTruthy();

  // The verifier shipped inside the export, run as an auditor would: without Rekey.
  const dir = mkdtempSync(join(tmpdir(), 'rekey-evidence-'));
  execFileSync('tar', ['xf', file!, '-C', dir]);
  const verdict = execFileSync('/usr/bin/python3', [join(dir, 'verify.py'), dir]).toString();
  expect(verdict).toMatch(/^OK: 5 files, \d+ checkpoints, \d+ audit entries, \d+ notices verified$/m);
  expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('Playwright rotation');
});
