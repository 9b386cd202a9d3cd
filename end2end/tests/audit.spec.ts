import { test, expect } from '@playwright/test';
import { hydrated, signIn } from './helpers';

test('the security lead sees sign-ins in the audit trail and verifies the chain', async ({ page }) => {
  await signIn(page, 'engineer', 'wrong password for the record');
  await expect(page.getByRole('alert')).toBeVisible();
  await signIn(page, 'security');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit trail' }).click();
  await hydrated(page);
  const rows = page.getByRole('row');
  await expect(rows.nth(1)).toContainText('auth.login');
  await expect(rows.nth(1)).toContainText('security');
  await expect(page.getByRole('row', { name: /auth\.login_failed/ }).first()).toContainText('wrong_password');

  // Filter by action; the filter lands in the URL so the view can be shared.
  await page.getByLabel('Action').selectOption('auth.login_failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=auth\.login_failed/);
  await expect(page.getByRole('row', { name: /auth\.login\b(?!_)/ })).toHaveCount(0);

  await page.getByRole('button', { name: 'Verify chain' }).click();
  await expect(page.getByRole('status')).toHaveText(
    /^Chain intact: \d+ entries verified\. (No checkpoint signed yet|\d+ signed checkpoints hold; the latest vouches for entries 1 to \d+)\.$/,
  );
  // The key that signs checkpoints is shown, to compare with the one kept elsewhere.
  await expect(page.getByRole('region', { name: 'Signed checkpoints' })).toContainText(/Signing key: SHA256:/);
});
